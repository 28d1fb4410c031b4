#!/usr/bin/env bash
# `make run`: set up everything (uv, PostgreSQL, Kafka, `make migrate`, demo data), start the whole system under
# supervisor (deploy/supervisord.conf: a service that dies is restarted), stop it all on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
export PATH="$HOME/.local/bin:$PATH"
make --no-print-directory setup   # ensure-uv, infra up, migrate (scripts/migrate.py), seed (scripts/setup_data.py)

export GATEWAY_PORT=${GATEWAY_PORT:-8000} INTAKE_PORT=${INTAKE_PORT:-8101} PROCESSING_PORT=${PROCESSING_PORT:-8102}
export CITIZEN_ID_PORT=${CITIZEN_ID_PORT:-8103} NOTIFY_PORT=${NOTIFY_PORT:-8104} NOTIFY_SMTP_PORT=${NOTIFY_SMTP_PORT:-8025}
export NOTIFY_PROVIDERS_PORT=${NOTIFY_PROVIDERS_PORT:-8105}
export NOTIFY_SMS_PROVIDER_URL=${NOTIFY_SMS_PROVIDER_URL:-http://127.0.0.1:${NOTIFY_PROVIDERS_PORT}/sms}
export NOTIFY_OTT_PROVIDER_URL=${NOTIFY_OTT_PROVIDER_URL:-http://127.0.0.1:${NOTIFY_PROVIDERS_PORT}/ott}
export NOTIFY_CALLBACK_BASE_URL=${NOTIFY_CALLBACK_BASE_URL:-http://127.0.0.1:${NOTIFY_PORT}}
mkdir -p .run/mail .run/logs

cleanup() {
  echo "==> Stopping PostgreSQL and Kafka"
  bash scripts/infra/down.sh || true
}
trap cleanup EXIT

gw=$GATEWAY_PORT
cat <<MSG

==> Một Cửa is starting (set-up took $(( $(date +%s) - started ))s). Where to look:
    API (gateway)        http://127.0.0.1:${gw}/api/v1/procedures
    API docs             http://127.0.0.1:${gw}/docs   (OpenAPI: http://127.0.0.1:${gw}/openapi.json)
    Health               http://127.0.0.1:${gw}/readyz
    Services             intake :${INTAKE_PORT}  processing :${PROCESSING_PORT}  citizen-id :${CITIZEN_ID_PORT}  notify :${NOTIFY_PORT}
    E-mails sent         .run/mail/   (local SMTP sink on 127.0.0.1:${NOTIFY_SMTP_PORT})
    SMS / OTT sent       http://127.0.0.1:${NOTIFY_PROVIDERS_PORT}/admin/stats   (provider simulators; docs/notifications.md)
    PostgreSQL           127.0.0.1:${MOTCUA_PG_PORT:-55432}   Kafka 127.0.0.1:${MOTCUA_KAFKA_PORT:-59092}
    Logs                 .run/logs/<service>.log   (tail -f .run/logs/*.log); a service that dies is restarted
    Processes            uv run supervisorctl -c deploy/supervisord.conf status   (restart intake, stop notify…)
    Try it               make demo   (one dossier end to end, in another terminal)
    Stop                 Ctrl-C

MSG
status=0
# In the foreground: Ctrl-C reaches supervisord, which stops every service (and its process group), then exits 0;
# the EXIT trap then stops PostgreSQL and Kafka.
uv run --frozen supervisord -n -c deploy/supervisord.conf || status=$?
# 130 = interrupted before supervisord could handle it; still how `make run` is meant to end
[[ $status -eq 130 ]] && status=0
exit $status
