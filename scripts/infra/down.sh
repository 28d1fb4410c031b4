#!/usr/bin/env bash
# Stop the local infrastructure started by scripts/infra/up.sh (Kafka first, then PostgreSQL).
#   bash scripts/infra/down.sh      data in <repo>/.run is kept; delete .run/ for a clean slate
set -euo pipefail

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
status=0

echo "==> [1/2] Kafka broker"
bash "$INFRA/kafka.sh" down || status=1
echo "==> [2/2] PostgreSQL"
bash "$INFRA/postgres.sh" down || status=1
exit "$status"
