#!/usr/bin/env bash
# Start the local infrastructure (PostgreSQL + Kafka) and create the project's databases and topics.
#   bash scripts/infra/up.sh        idempotent: a second run only checks that everything is up
# Ports: MOTCUA_PG_PORT (55432), MOTCUA_KAFKA_PORT (59092), MOTCUA_KAFKA_CONTROLLER_PORT (59093).
# Stop with scripts/infra/down.sh. State lives in <repo>/.run (git-ignored).
set -euo pipefail

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
t0=$SECONDS

echo "==> [1/3] PostgreSQL"
bash "$INFRA/postgres.sh" up
echo "==> [2/3] Kafka broker"
bash "$INFRA/kafka.sh" up
echo "==> [3/3] Kafka topics"
bash "$INFRA/kafka.sh" topics

echo "==> infra up in $((SECONDS - t0)) s"
echo "    PostgreSQL: postgresql://postgres@127.0.0.1:${MOTCUA_PG_PORT:-55432}/<db>"
echo "    Kafka:      127.0.0.1:${MOTCUA_KAFKA_PORT:-59092}"
