#!/usr/bin/env bash
# `make run`: set up everything, start the whole system, stop it all on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
export PATH="$HOME/.local/bin:$PATH"
bash scripts/ensure-uv.sh
bash scripts/infra/up.sh
echo "==> Migrations and demo data"
uv run --frozen python scripts/setup_data.py
mkdir -p .run/mail

cleanup() {
  echo "==> Stopping PostgreSQL and Kafka"
  bash scripts/infra/down.sh || true
}
trap cleanup EXIT

gw=${GATEWAY_PORT:-8000}
cat <<MSG

==> Một Cửa is starting (set-up took $(( $(date +%s) - started ))s). Where to look:
    API (gateway)        http://127.0.0.1:${gw}/api/v1/procedures
    API docs             http://127.0.0.1:${gw}/docs   (OpenAPI: http://127.0.0.1:${gw}/openapi.json)
    Health               http://127.0.0.1:${gw}/readyz
    Services             intake :${INTAKE_PORT:-8101}  processing :${PROCESSING_PORT:-8102}  citizen-id :${CITIZEN_ID_PORT:-8103}  notify :${NOTIFY_PORT:-8104}
    E-mails sent         .run/mail/   (local SMTP sink on 127.0.0.1:${NOTIFY_SMTP_PORT:-8025})
    PostgreSQL           127.0.0.1:${MOTCUA_PG_PORT:-55432}   Kafka 127.0.0.1:${MOTCUA_KAFKA_PORT:-59092}
    Try it               make demo   (one dossier end to end, in another terminal)
    Stop                 Ctrl-C

MSG
status=0
uv run --frozen honcho --no-colour -f deploy/Procfile -d . start || status=$?
# 130 = stopped with Ctrl-C, which is how `make run` is meant to end
[[ $status -eq 130 ]] && status=0
exit $status
