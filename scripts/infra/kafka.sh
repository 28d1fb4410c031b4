#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller) from Maven Central jars, on the JDK.
#
#   scripts/infra/kafka.sh up                    fetch jars (first run), format storage (once), start broker
#   scripts/infra/kafka.sh down                  stop broker (SIGTERM, SIGKILL after 30 s)
#   scripts/infra/kafka.sh status                exit 0 if the broker is running and its port is open
#   scripts/infra/kafka.sh topics [NAME ...]     create the project topics (+ NAMEs, 6 partitions) if missing
#
# Broker on 127.0.0.1:$MOTCUA_KAFKA_PORT (default 59092), controller on 127.0.0.1:$MOTCUA_KAFKA_CONTROLLER_PORT
# (default 59093). Version pinned in scripts/infra/kafka/pom.xml. State in <repo>/.run/kafka:
# libs/ (jars), data/ (log.dirs), logs/server.log, logs/stdout.log, server.properties, kafka.pid.
# Java 17+ and mvn are needed. Idempotent: safe to run twice; recovers from a kill -9 / stale pid file.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
CONF_DIR="$REPO_ROOT/scripts/infra/kafka"
POM="$CONF_DIR/pom.xml"
LOG4J="$CONF_DIR/log4j2.properties"
K_RUN="$REPO_ROOT/.run/kafka"
LIBS="$K_RUN/libs"
STAMP="$K_RUN/libs.stamp"
DATA="$K_RUN/data"
LOGS="$K_RUN/logs"
PROPS="$K_RUN/server.properties"
PID_FILE="$K_RUN/kafka.pid"
FORMAT_STAMP="$K_RUN/format.info"

HOST=127.0.0.1
PORT="${MOTCUA_KAFKA_PORT:-59092}"
CTRL_PORT="${MOTCUA_KAFKA_CONTROLLER_PORT:-59093}"
START_TIMEOUT="${MOTCUA_KAFKA_START_TIMEOUT:-90}"
BOOTSTRAP="$HOST:$PORT"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Project topics: name:partitions.
DEFAULT_TOPICS=(motcua.dossier.events:6 motcua.dossier.events.dlq:1)
EXTRA_TOPIC_PARTITIONS=6

log() { printf '[kafka] %s\n' "$*"; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM"; }

is_our_broker() {   # PID -> true if it is the kafka.Kafka JVM started with our properties file
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *" kafka.Kafka $PROPS"* ]]
}

# PID of the running broker: from the pid file if valid, else by scanning java processes
# (covers a deleted pid file). Prints nothing and fails if no broker of ours is alive.
broker_pid() {
  local pid
  if [[ -f "$PID_FILE" ]]; then
    pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && is_our_broker "$pid"; then
      echo "$pid"
      return 0
    fi
  fi
  for pid in $(pgrep -x java 2>/dev/null || true); do
    if is_our_broker "$pid"; then
      echo "$pid" >"$PID_FILE"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# Install a Debian package when its command is missing (root + apt-get), as postgres.sh does for PostgreSQL.
apt_install_for() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null && return 0
  if command -v apt-get >/dev/null && [[ "$(id -u)" -eq 0 ]]; then
    log "$cmd not found: apt-get install -y $pkg"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  fi
}

check_java() {
  [[ -n "${JAVA_HOME:-}" ]] || apt_install_for java openjdk-17-jre-headless
  command -v "$JAVA" >/dev/null || die "java not found (Java 17+ is required)"
  local v
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  [[ -n "$v" && "$v" -ge 17 ]] || die "Java 17+ is required for Kafka 4.x (found: ${v:-unknown})"
}

# Short-lived admin JVMs (StorageTool, TopicCommand): small heap, C1 only, quick start; logs to tools.log.
run_tool() {
  "$JAVA" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$LOGS" -Dmotcua.kafka.log.file=tools.log \
    -cp "$LIBS/*" "$@"
}

# ---------------------------------------------------------------- up steps
ensure_libs() {
  local want have=""
  want="$(pom_hash)"
  [[ -f "$STAMP" ]] && have="$(cat "$STAMP")"
  if [[ -d "$LIBS" && "$have" == "$want" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  apt_install_for mvn maven
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
  if [[ -d "$LIBS" ]]; then
    log "pom.xml changed: refreshing the Kafka jars"
  else
    log "Downloading Kafka jars (first run only)… Kafka $(kafka_version) via mvn, cached in ~/.m2"
  fi
  local t0=$SECONDS tmp="$LIBS.tmp"
  rm -rf "$tmp"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$K_RUN/mvn.log" 2>&1; then
    tail -n 30 "$K_RUN/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (full log: $K_RUN/mvn.log)"
  fi
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  echo "$want" >"$STAMP"
  log "$(find "$LIBS" -name '*.jar' | wc -l) jars in ${LIBS#"$REPO_ROOT"/} ($((SECONDS - t0)) s)"
}

write_props() {
  local tmp="$PROPS.tmp"
  cat >"$tmp" <<EOF
# Generated by scripts/infra/kafka.sh on every 'up': edit the script, not this file.
# Single node, KRaft combined mode (broker + controller), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CTRL_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

# Topics are created explicitly (kafka.sh topics) with the partition counts we choose.
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1

# One broker: every internal topic has a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests start consumer groups often: do not wait for more members to join.
group.initial.rebalance.delay.ms=0

# After a kill -9 the restarted broker cannot re-register until the old registration's session
# expires (default 9 s): a shorter session makes crash-recovery tests ~5 s faster. Loopback only.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF
  mv "$tmp" "$PROPS"
}

format_storage() {
  local ports="controller=$HOST:$CTRL_PORT"
  if [[ -f "$DATA/meta.properties" ]]; then
    if [[ -f "$FORMAT_STAMP" ]] && ! grep -qxF "$ports" "$FORMAT_STAMP"; then
      log "WARNING: storage was formatted with $(grep '^controller=' "$FORMAT_STAMP" || echo '?')," \
        "now $ports; if the broker fails to start, run 'kafka.sh down' and delete ${DATA#"$REPO_ROOT"/}"
    fi
    return 0
  fi
  local id
  id="$(run_tool kafka.tools.StorageTool random-uuid 2>>"$LOGS/tools.log" | tail -n 1)"
  [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid returned '$id' (see $LOGS/tools.log)"
  log "formatting storage ${DATA#"$REPO_ROOT"/} (cluster id $id)"
  run_tool kafka.tools.StorageTool format --standalone -t "$id" -c "$PROPS" >>"$LOGS/tools.log" 2>&1 \
    || { tail -n 20 "$LOGS/tools.log" >&2; die "storage format failed"; }
  printf 'cluster.id=%s\n%s\n' "$id" "$ports" >"$FORMAT_STAMP"
}

started_since() {   # BYTE_OFFSET -> true once server.log shows the ready line after that offset
  local f="$LOGS/server.log" size
  [[ -f "$f" ]] || return 1
  size="$(stat -c %s "$f")"
  (( size < $1 )) && set -- 0   # the log rolled over meanwhile
  tail -c "+$(($1 + 1))" "$f" | grep -q 'Kafka Server started'
}

show_failure_logs() {
  echo "---- last lines of ${LOGS#"$REPO_ROOT"/}/stdout.log ----" >&2
  tail -n 20 "$LOGS/stdout.log" >&2 2>/dev/null || true
  echo "---- last ERROR lines of ${LOGS#"$REPO_ROOT"/}/server.log ----" >&2
  grep -E ' (ERROR|FATAL) ' "$LOGS/server.log" 2>/dev/null | tail -n 10 >&2 || true
}

start_broker() {
  local offset=0 pid i
  [[ -f "$LOGS/server.log" ]] && offset="$(stat -c %s "$LOGS/server.log")"
  log "starting Kafka $(kafka_version): broker $BOOTSTRAP, controller $HOST:$CTRL_PORT"
  {
    echo "==== $(date -Is) starting kafka.Kafka $PROPS"
  } >>"$LOGS/stdout.log"
  # setsid + nohup: the broker outlives this shell and its terminal; fd 9 (our lock) is not inherited.
  setsid nohup "$JAVA" -Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$LOGS" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" >>"$LOGS/stdout.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  printf '[kafka] waiting for the broker (up to %s s) ' "$START_TIMEOUT"
  for ((i = 0; i < START_TIMEOUT; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo
      rm -f "$PID_FILE"
      show_failure_logs
      die "the broker exited during start-up"
    fi
    if started_since "$offset" && port_open "$PORT"; then
      echo " ready"
      log "running (pid $pid) after $i s"
      return 0
    fi
    printf '.'
    sleep 1
  done
  echo
  show_failure_logs
  die "the broker did not become ready within $START_TIMEOUT s (pid $pid still running; 'kafka.sh down' stops it)"
}

# ---------------------------------------------------------------- commands
take_lock() {
  mkdir -p "$K_RUN"
  exec 9>>"$K_RUN/.lock"
  flock -w 180 9 || die "another kafka.sh up/down is still running"
}

cmd_up() {
  take_lock
  mkdir -p "$DATA" "$LOGS"
  log "ports: broker $BOOTSTRAP (MOTCUA_KAFKA_PORT), controller $HOST:$CTRL_PORT (MOTCUA_KAFKA_CONTROLLER_PORT)"
  local pid i
  if pid="$(broker_pid)"; then
    # Alive: it may still be starting (e.g. right after another 'up'); give it the usual time.
    for ((i = 0; i < START_TIMEOUT; i++)); do
      port_open "$PORT" && break
      sleep 1
    done
    port_open "$PORT" || die "broker pid $pid is alive but port $PORT is closed; try 'kafka.sh down' then 'up'"
    log "already running (pid $pid) on $BOOTSTRAP: nothing to start"
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" ]] \
      || log "note: pom.xml changed since the jars were fetched; 'kafka.sh down && kafka.sh up' to apply"
    return 0
  fi
  if [[ -f "$PID_FILE" ]]; then
    log "removing stale pid file (pid $(head -n 1 "$PID_FILE" 2>/dev/null) is not running)"
    rm -f "$PID_FILE"
  fi
  for i in "$PORT" "$CTRL_PORT"; do
    port_open "$i" && die "port $i on $HOST is already in use by another process (set MOTCUA_KAFKA_PORT / MOTCUA_KAFKA_CONTROLLER_PORT)"
  done
  check_java
  ensure_libs
  write_props
  format_storage
  start_broker
}

cmd_down() {
  take_lock
  local pid i
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid, SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)" && port_open "$PORT"; then
    log "running (pid $pid) on $BOOTSTRAP, Kafka $(kafka_version)"
    return 0
  fi
  log "not running (port $PORT)"
  return 1
}

cmd_topics() {
  if ! broker_pid >/dev/null || ! port_open "$PORT"; then
    die "broker not running on $BOOTSTRAP: run 'kafka.sh up' first"
  fi
  local wanted=("${DEFAULT_TOPICS[@]}") name
  for name in "$@"; do
    [[ "$name" =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "invalid topic name '$name'"
    wanted+=("$name:$EXTRA_TOPIC_PARTITIONS")
  done
  # One JVM to learn what exists (and with how many partitions), then one per missing topic.
  local described
  described="$(run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe \
    --exclude-internal 2>>"$LOGS/tools.log")" || die "cannot describe topics on $BOOTSTRAP (see $LOGS/tools.log)"
  local entry parts have
  for entry in "${wanted[@]}"; do
    name="${entry%:*}"
    parts="${entry##*:}"
    have="$(awk -v t="$name" -F'\t' '$1 == "Topic: " t { for (i = 1; i <= NF; i++) if ($i ~ /^PartitionCount: /) { sub(/^PartitionCount: /, "", $i); print $i } }' <<<"$described")"
    if [[ -n "$have" ]]; then
      if [[ "$have" != "$parts" ]]; then
        log "topic $name exists with $have partitions (wanted $parts): left as is"
      else
        log "topic $name exists (partitions: $have)"
      fi
      continue
    fi
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
      --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null 2>>"$LOGS/tools.log" \
      || die "creating topic $name failed (see $LOGS/tools.log)"
    log "topic $name created (partitions: $parts)"
  done
}

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  topics) shift; cmd_topics "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
