#!/usr/bin/env bash
# Local PostgreSQL 15 for development and tests (no Docker needed).
#
#   scripts/infra/postgres.sh up [EXTRA_DB ...]   install if missing, init, start, create databases
#   scripts/infra/postgres.sh down                stop (fast shutdown)
#   scripts/infra/postgres.sh status              exit 0 if running and accepting connections
#
# Data lives in <repo>/.run/pg (data/, sock/, postgres.log), owned by the `postgres` user; MOTCUA_RUN_DIR moves
# <repo>/.run elsewhere (`make chaos` runs a private copy that way).
# Listens on 127.0.0.1 only, port $MOTCUA_PG_PORT (default 55432), user postgres, trust auth:
#   psql -h 127.0.0.1 -p 55432 -U postgres motcua_intake
# fsync and synchronous_commit stay on: crash tests rely on them. Idempotent: safe to run twice.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
PG_PORT="${MOTCUA_PG_PORT:-55432}"
PG_HOST=127.0.0.1
RUN_DIR="${MOTCUA_RUN_DIR:-$REPO_ROOT/.run}"
PG_RUN="$RUN_DIR/pg"
PG_DATA="$PG_RUN/data"
PG_SOCK="$PG_RUN/sock"
PG_LOG="$PG_RUN/postgres.log"
PG_OS_USER=postgres
DEFAULT_DBS=(motcua_intake motcua_processing motcua_citizen_id motcua_notify motcua_gateway)

log() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- binaries
PG_BIN=""
find_pg_bin() {
  local p
  if p="$(command -v pg_ctl 2>/dev/null)" && [[ -x "$(dirname "$(readlink -f "$p")")/initdb" ]]; then
    PG_BIN="$(dirname "$(readlink -f "$p")")"
    return 0
  fi
  # Debian keeps the server binaries out of PATH; take the newest version installed.
  p="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  if [[ -n "$p" && -x "$p/pg_ctl" && -x "$p/initdb" ]]; then
    PG_BIN="$p"
    return 0
  fi
  return 1
}

ensure_installed() {
  find_pg_bin && return 0
  [[ $EUID -eq 0 ]] || die "pg_ctl/initdb not found and not root: install the 'postgresql' package"
  log "pg_ctl/initdb not found: installing the Debian 'postgresql' package"
  log "apt-get update"
  apt-get update
  log "apt-get install -y postgresql"
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  find_pg_bin || die "postgresql installed but pg_ctl/initdb still not found"
}

# Run a shell command line as the postgres OS user (the server refuses to run as root).
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    su "$PG_OS_USER" -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}
q() { printf '%q' "$1"; }   # quote one word for as_pg command lines

# ---------------------------------------------------------------- state
# PID of our postmaster, if one is alive. Reads postmaster.pid and checks that the PID really is a
# postgres process working in our data dir (after a kill -9 the PID may have been reused).
postmaster_pid() {
  local pid
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cwd" || $EUID -eq 0 ]]; then
    [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" == "$PG_DATA" ]] || return 1
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == */postgres ]] || return 1
  fi
  echo "$pid"
}

is_ready() { "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -t 2 >/dev/null 2>&1; }

# Remove lock files left behind by a postmaster that no longer exists (kill -9, power loss).
# pg_ctl copes with a dead PID by itself, but not with one reused by another postgres-owned process.
clear_stale_locks() {
  local f
  if [[ -f "$PG_DATA/postmaster.pid" ]] && ! postmaster_pid >/dev/null; then
    log "removing stale $PG_DATA/postmaster.pid (server not running)"
    rm -f "$PG_DATA/postmaster.pid"
  fi
  for f in "$PG_SOCK"/.s.PGSQL.*.lock; do
    [[ -e "$f" ]] || continue
    local pid
    pid="$(head -n 1 "$f" 2>/dev/null || true)"
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null \
       || [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" != */postgres ]]; then
      rm -f "$f" "${f%.lock}"
    fi
  done
}

# Backends of a postmaster killed with -9 linger for a moment and keep its shared memory in use,
# which makes a new postmaster refuse to start: wait for them to exit.
wait_orphans_gone() {
  local i pid found
  for ((i = 0; i < 30; i++)); do
    found=""
    for pid in $(pgrep -u "$PG_OS_USER" -x postgres 2>/dev/null || true); do
      [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" == "$PG_DATA" ]] && found+=" $pid"
    done
    [[ -z "$found" ]] && return 0
    (( i == 0 )) && log "waiting for leftover backends of a killed server to exit:$found"
    sleep 0.5
  done
  die "leftover postgres processes ($found) still use $PG_DATA; stop them and retry"
}

wait_ready() {
  local i
  for ((i = 0; i < ${1:-60}; i++)); do
    is_ready && return 0
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- directories
# The postgres user must be able to traverse every parent of .run/pg. If the repo lives under a
# directory it cannot enter (e.g. a 0700 home), grant o+x (traverse only, no listing) where missing.
ensure_traversable() {
  [[ $EUID -eq 0 ]] || return 0
  local d="$PG_RUN" chain=()
  while [[ "$d" != "/" ]]; do
    d="$(dirname "$d")"
    chain=("$d" "${chain[@]}")
  done
  for d in "${chain[@]}"; do
    if ! su "$PG_OS_USER" -s /bin/sh -c "test -x $(q "$d")" 2>/dev/null; then
      log "granting o+x on $d so the '$PG_OS_USER' user can reach $PG_RUN"
      chmod o+x "$d"
    fi
  done
  su "$PG_OS_USER" -s /bin/sh -c "test -x $(q "$PG_RUN")" \
    || die "user '$PG_OS_USER' still cannot reach $PG_RUN; check its parent directories' permissions"
}

prepare_dirs() {
  mkdir -p "$RUN_DIR" "$PG_RUN" "$PG_DATA" "$PG_SOCK"
  touch "$PG_LOG"
  if [[ $EUID -eq 0 ]]; then
    chown "$PG_OS_USER:" "$PG_RUN" "$PG_DATA" "$PG_SOCK" "$PG_LOG"
    ensure_traversable
  fi
  chmod 0755 "$PG_RUN" "$PG_SOCK"
  chmod 0700 "$PG_DATA"
}

init_cluster() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  if [[ -n "$(ls -A "$PG_DATA")" ]]; then
    local aside
    aside="$PG_DATA.broken.$(date +%Y%m%d%H%M%S)"
    log "WARNING: $PG_DATA is not empty but has no PG_VERSION (interrupted initdb?); moving it to $aside"
    mv "$PG_DATA" "$aside"
    prepare_dirs
  fi
  local locale=C
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
  log "initdb (locale $locale) in $PG_DATA"
  as_pg "$(q "$PG_BIN/initdb") -D $(q "$PG_DATA") -U postgres -A trust -E UTF8 --locale=$locale" \
    >"$PG_RUN/initdb.log" 2>&1 || { cat "$PG_RUN/initdb.log" >&2; die "initdb failed"; }
}

start_server() {
  # Unix socket paths are limited to ~107 bytes; with a very deep checkout fall back to TCP only.
  local sockdir="$PG_SOCK"
  if (( ${#PG_SOCK} + 20 > 100 )); then
    log "WARNING: socket path too long, Unix socket disabled (TCP $PG_HOST:$PG_PORT only)"
    sockdir=""
  fi
  local opts="-p $PG_PORT -k '$sockdir' -c listen_addresses=$PG_HOST -c max_connections=300"
  opts+=" -c fsync=on -c synchronous_commit=on"
  log "starting on $PG_HOST:$PG_PORT (log: ${PG_LOG#"$REPO_ROOT"/})"
  if ! as_pg "$(q "$PG_BIN/pg_ctl") -D $(q "$PG_DATA") -l $(q "$PG_LOG") -w -t 60 -o $(q "$opts") start" >/dev/null; then
    echo "---- last lines of $PG_LOG ----" >&2
    tail -n 20 "$PG_LOG" >&2 || true
    die "pg_ctl start failed (is port $PG_PORT in use? set MOTCUA_PG_PORT)"
  fi
}

create_databases() {
  local db names=()
  for db in "${DEFAULT_DBS[@]}" "$@"; do
    [[ "$db" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "invalid database name '$db' (use [a-z0-9_])"
    names+=("'$db'")
  done
  local list
  list="$(IFS=,; echo "${names[*]}")"
  # One psql round trip: \gexec runs a CREATE DATABASE for each name not there yet.
  local out
  out="$(PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -At <<SQL
SELECT format('CREATE DATABASE %I', d) FROM unnest(ARRAY[$list]) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database WHERE datname = ANY(ARRAY[$list]);
SQL
)" || die "creating databases failed"
  log "databases: $out"
}

# ---------------------------------------------------------------- commands
cmd_up() {
  ensure_installed
  log "binaries: $PG_BIN; data: ${PG_DATA#"$REPO_ROOT"/}; port: $PG_PORT (MOTCUA_PG_PORT)"
  prepare_dirs
  local pid
  if pid="$(postmaster_pid)"; then
    if wait_ready 60; then
      log "already running (pid $pid) on $PG_HOST:$PG_PORT: nothing to start"
    else
      die "postmaster $pid is alive but not accepting connections on $PG_HOST:$PG_PORT (see $PG_LOG)"
    fi
  else
    clear_stale_locks
    wait_orphans_gone
    init_cluster
    start_server
    wait_ready 30 || die "server started but pg_isready fails on $PG_HOST:$PG_PORT"
    log "running (pid $(postmaster_pid || echo '?'))"
  fi
  create_databases "$@"
}

cmd_down() {
  find_pg_bin || { log "postgresql not installed: nothing to stop"; return 0; }
  local pid
  if pid="$(postmaster_pid)"; then
    log "stopping (pid $pid, fast shutdown)"
    as_pg "$(q "$PG_BIN/pg_ctl") -D $(q "$PG_DATA") -m fast -w -t 60 stop" >/dev/null
    log "stopped"
  else
    clear_stale_locks 2>/dev/null || true
    log "not running"
  fi
}

cmd_status() {
  find_pg_bin || { log "not installed"; return 1; }
  local pid
  if pid="$(postmaster_pid)" && is_ready; then
    log "running (pid $pid) on $PG_HOST:$PG_PORT"
    return 0
  fi
  log "not running (port $PG_PORT)"
  return 1
}

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
