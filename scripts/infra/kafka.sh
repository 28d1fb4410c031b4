#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller) from Maven Central jars, on the JDK.
#
#   scripts/infra/kafka.sh up                    fetch jars (first run), format storage (once), start broker
#   scripts/infra/kafka.sh down                  stop broker (SIGTERM, SIGKILL after 30 s)
#   scripts/infra/kafka.sh status                exit 0 if the broker is running and its port is open
#   scripts/infra/kafka.sh topics [NAME ...]     create the project topics (+ NAMEs, 6 partitions) if missing
#   scripts/infra/kafka.sh users                 (re)apply the SCRAM credentials of every user
#   scripts/infra/kafka.sh acls                  (re)apply the project's ACLs (idempotent)
#
# Broker on 127.0.0.1:$MOTCUA_KAFKA_PORT (default 59092), controller on 127.0.0.1:$MOTCUA_KAFKA_CONTROLLER_PORT
# (default 59093). Version pinned in scripts/infra/kafka/pom.xml. State in <repo>/.run/kafka
# (MOTCUA_RUN_DIR moves <repo>/.run elsewhere):
# libs/ (jars), data/ (log.dirs), logs/server.log, logs/stdout.log, server.properties, kafka.pid,
# admin.properties (client config of the admin user for Kafka's CLI tools).
# Security (docs/kafka-security.md): clients authenticate with SASL SCRAM-SHA-256 on the broker port, the
# controller port takes only the admin (SASL PLAIN), StandardAuthorizer with deny-by-default ACLs.
# Passwords: MOTCUA_KAFKA_PASSWORD_<USER> (e.g. MOTCUA_KAFKA_PASSWORD_PROVINCIAL_SYSTEM), default
# '<user>-kafka-secret'. 'up' also creates the topics, users and ACLs, and restarts a running broker whose
# configuration changed (e.g. after upgrading from the unauthenticated PLAINTEXT broker).
# Java 17+ and mvn are needed. Idempotent: safe to run twice; recovers from a kill -9 / stale pid file.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
CONF_DIR="$REPO_ROOT/scripts/infra/kafka"
POM="$CONF_DIR/pom.xml"
LOG4J="$CONF_DIR/log4j2.properties"
K_RUN="${MOTCUA_RUN_DIR:-$REPO_ROOT/.run}/kafka"
LIBS="$K_RUN/libs"
STAMP="$K_RUN/libs.stamp"
DATA="$K_RUN/data"
LOGS="$K_RUN/logs"
PROPS="$K_RUN/server.properties"
PID_FILE="$K_RUN/kafka.pid"
FORMAT_STAMP="$K_RUN/format.info"
ADMIN_PROPS="$K_RUN/admin.properties"            # admin over SCRAM on the broker port (topics, ACLs)
CTRL_ADMIN_PROPS="$K_RUN/controller-admin.properties"  # admin over PLAIN on the controller port
BOOT_ADMIN_PROPS="$K_RUN/bootstrap-admin.properties"   # admin over PLAIN on the broker port (credential bootstrap)
RUNNING_STAMP="$K_RUN/running.sha"               # hash of the server.properties the running broker started with
USERS_STAMP="$K_RUN/users.sha"                   # hash of the SCRAM credentials last applied
ACLS_STAMP="$K_RUN/acls.sha"                     # hash of acls.txt last applied
ACL_FILE="$CONF_DIR/acls.txt"

HOST=127.0.0.1
PORT="${MOTCUA_KAFKA_PORT:-59092}"
CTRL_PORT="${MOTCUA_KAFKA_CONTROLLER_PORT:-59093}"
START_TIMEOUT="${MOTCUA_KAFKA_START_TIMEOUT:-90}"
BOOTSTRAP="$HOST:$PORT"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Project topics: name:partitions:retention.ms[:cleanup.policy] (docs/kafka-security.md explains the retention
# periods). motcua.dossier.state is compacted: the latest state of every dossier, kept whatever its age.
# motcua.catalogue.events keeps every procedure version for ever (retention -1, not compacted: a code's older
# versions stay, dossiers still run on them).
DAY_MS=86400000
DEFAULT_TOPICS=(
  "motcua.dossier.events:6:$((30 * DAY_MS))"
  "motcua.dossier.events.dlq:1:$((30 * DAY_MS))"
  "motcua.personal.events:6:$((7 * DAY_MS))"
  "motcua.personal.events.dlq:1:$((7 * DAY_MS))"
  "motcua.dossier.state:6::compact"
  "motcua.catalogue.events:3:-1"
  "motcua.catalogue.events.dlq:1:$((30 * DAY_MS))"
  "motcua.portal.events:6:$((30 * DAY_MS))"
)
EXTRA_TOPIC_PARTITIONS=6

# SASL users: the admin (super user: the broker itself and these scripts), the services, the partners.
SASL_MECHANISM=SCRAM-SHA-256
USERS=(admin intake processing citizen-id notify provincial-system vietnam-post national-portal)
TEST_ACLS="${MOTCUA_KAFKA_TEST_ACLS:-1}"

log() { printf '[kafka] %s\n' "$*"; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
# PORT -> true if a socket is LISTENing on it. Read from /proc, not by connecting: our ports lie in Linux's
# ephemeral range, and a connect() probe to a port nobody listens on can pick that very port as its source and
# connect to itself, which both fakes a listener and keeps the port busy so the broker then fails to bind.
port_open() {
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Password of a user: $MOTCUA_KAFKA_PASSWORD_<USER> (upper case, '-' -> '_'), default '<user>-kafka-secret'.
password_of() {
  local var="MOTCUA_KAFKA_PASSWORD_$(tr 'a-z-' 'A-Z_' <<<"$1")" pw
  pw="${!var:-$1-kafka-secret}"
  # The password ends up in JAAS strings and StorageTool/ConfigCommand arguments: keep it to safe characters.
  [[ "$pw" =~ ^[A-Za-z0-9._~@%+-]{8,128}$ ]] || die "$var: 8..128 characters of [A-Za-z0-9._~@%+-] please"
  printf '%s' "$pw"
}

users_hash() {
  local u
  for u in "${USERS[@]}"; do printf '%s:%s\n' "$u" "$(password_of "$u")"; done | sha256sum | cut -d' ' -f1
}

acls_hash() { { cat "$ACL_FILE"; echo "test=$TEST_ACLS"; } | sha256sum | cut -d' ' -f1; }

stamp_is() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

cluster_id() { sed -n 's/^cluster.id=//p' "$FORMAT_STAMP" 2>/dev/null || true; }

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

# -> server.properties, admin.properties, controller-admin.properties, bootstrap-admin.properties (mode 600).
# 'bootstrap' mode: the broker port also accepts the admin over SASL PLAIN (password from this file), for the
# few seconds ensure_users needs to write SCRAM credentials into a metadata log that lacks them (storage
# formatted before SASL, or a changed admin password): SCRAM credentials cannot be written through the
# controller port (Kafka 4.1: "not yet supported when communicating directly with the controller quorum").
write_props() {   # [bootstrap]
  local admin_pw tmp="$PROPS.tmp" mechanisms="$SASL_MECHANISM" inter="$SASL_MECHANISM" plain_jaas=""
  admin_pw="$(password_of admin)"
  if [[ "${1:-}" == bootstrap ]]; then
    mechanisms="$SASL_MECHANISM,PLAIN" inter=PLAIN
    plain_jaas="listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$admin_pw\" user_admin=\"$admin_pw\";"
  fi
  (
    umask 077
    cat >"$tmp" <<EOF
# Generated by scripts/infra/kafka.sh on every 'up': edit the script, not this file.
# Single node, KRaft combined mode (broker + controller), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CTRL_PORT

# Clients (services, partners, tools) authenticate with SASL SCRAM-SHA-256 on the broker port; the broker talks
# to itself there as admin. The controller port accepts only the admin over SASL PLAIN (its password is in
# this file): a PLAINTEXT controller port would have to make User:ANONYMOUS a super user for the broker to
# register, and KRaft controllers cannot use SCRAM (the credentials live in the metadata log they serve).
# Loopback only, no TLS: see docs/kafka-security.md for what a real deployment needs (SASL_SSL).
listeners=SASL_PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
advertised.listeners=SASL_PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=$mechanisms
sasl.mechanism.inter.broker.protocol=$inter
listener.name.sasl_plaintext.sasl.enabled.mechanisms=$mechanisms
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
$plain_jaas
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_pw" user_admin="$admin_pw";

# Authorization: deny unless an ACL (scripts/infra/kafka/acls.txt) allows; admin may do everything.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false

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
    cat >"$ADMIN_PROPS.tmp" <<EOF
# Admin client config for Kafka's CLI tools (--command-config), generated by scripts/infra/kafka.sh.
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$SASL_MECHANISM
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
EOF
    cat >"$CTRL_ADMIN_PROPS.tmp" <<EOF
# Admin client config for the controller port (--bootstrap-controller), generated by scripts/infra/kafka.sh.
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_pw";
EOF
    # The same PLAIN login on the broker port, only accepted while the broker runs in 'bootstrap' mode.
    sed 's/controller port (--bootstrap-controller)/broker port in bootstrap mode/' "$CTRL_ADMIN_PROPS.tmp" \
      >"$BOOT_ADMIN_PROPS.tmp"
  )
  mv "$tmp" "$PROPS"
  mv "$ADMIN_PROPS.tmp" "$ADMIN_PROPS"
  mv "$CTRL_ADMIN_PROPS.tmp" "$CTRL_ADMIN_PROPS"
  mv "$BOOT_ADMIN_PROPS.tmp" "$BOOT_ADMIN_PROPS"
}

props_hash() { sha256sum "$PROPS" | cut -d' ' -f1; }

format_storage() {
  local ports="controller=$HOST:$CTRL_PORT"
  if [[ -f "$DATA/meta.properties" ]]; then
    if [[ -f "$FORMAT_STAMP" ]] && ! grep -qxF "$ports" "$FORMAT_STAMP"; then
      log "WARNING: storage was formatted with $(grep '^controller=' "$FORMAT_STAMP" || echo '?')," \
        "now $ports; if the broker fails to start, run 'kafka.sh down' and delete ${DATA#"$REPO_ROOT"/}"
    fi
    # Storage formatted by the old PLAINTEXT script has no SCRAM credentials: no re-format (its data is kept);
    # 'up' adds the credentials through the controller port right after the start (ensure_users).
    return 0
  fi
  local id u args=()
  id="$(run_tool kafka.tools.StorageTool random-uuid 2>>"$LOGS/tools.log" | tail -n 1)"
  [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid returned '$id' (see $LOGS/tools.log)"
  # Every user's SCRAM credential goes into the metadata log at format time, so the broker's own (admin)
  # login works from its first start.
  for u in "${USERS[@]}"; do
    args+=(--add-scram "$SASL_MECHANISM=[name=$u,password=$(password_of "$u")]")
  done
  log "formatting storage ${DATA#"$REPO_ROOT"/} (cluster id $id, SCRAM users: ${USERS[*]})"
  run_tool kafka.tools.StorageTool format --standalone -t "$id" -c "$PROPS" "${args[@]}" >>"$LOGS/tools.log" 2>&1 \
    || { tail -n 20 "$LOGS/tools.log" >&2; die "storage format failed"; }
  printf 'cluster.id=%s\n%s\n' "$id" "$ports" >"$FORMAT_STAMP"
  users_hash >"$USERS_STAMP"
  rm -f "$ACLS_STAMP"
}

started_since() {   # BYTE_OFFSET -> true once server.log shows the ready line after that offset
  local f="$LOGS/server.log" size
  [[ -f "$f" ]] || return 1
  size="$(stat -c %s "$f")"
  (( size < $1 )) && set -- 0   # the log rolled over meanwhile
  # Not `grep -q`: it exits at the first match while tail is still writing, tail dies of SIGPIPE and, under
  # pipefail, the pipeline fails: with a large log (many topics) the ready line was never seen.
  tail -c "+$(($1 + 1))" "$f" | grep -F 'Kafka Server started' >/dev/null
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

require_running() {
  if ! broker_pid >/dev/null || ! port_open "$PORT"; then
    die "broker not running on $BOOTSTRAP: run 'kafka.sh up' first"
  fi
  [[ -f "$ADMIN_PROPS" && -f "$CTRL_ADMIN_PROPS" ]] || write_props
}

stop_broker() {   # PID
  local pid="$1" i
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
  for ((i = 0; i < 20; i++)); do   # the listening sockets may outlive the pid by a moment
    port_open "$PORT" || port_open "$CTRL_PORT" || break
    sleep 0.5
  done
  rm -f "$PID_FILE" "$RUNNING_STAMP"
  log "stopped"
}

# SCRAM credentials of every user, written over the broker port by the admin's PLAIN login, which only a broker
# in 'bootstrap' mode accepts (see write_props). Used when the metadata log lacks our credentials or has others.
ensure_users() {
  local u
  for u in "${USERS[@]}"; do
    run_tool kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --command-config "$BOOT_ADMIN_PROPS" \
      --alter --entity-type users --entity-name "$u" \
      --add-config "$SASL_MECHANISM=[iterations=8192,password=$(password_of "$u")]" >/dev/null 2>>"$LOGS/tools.log" \
      || die "setting the SCRAM credential of $u failed (see $LOGS/tools.log)"
  done
  users_hash >"$USERS_STAMP"
  log "SCRAM credentials set: ${USERS[*]}"
}

ensure_topics() {   # [NAME ...]
  local wanted=("${DEFAULT_TOPICS[@]}") name
  for name in "$@"; do
    [[ "$name" =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "invalid topic name '$name'"
    wanted+=("$name:$EXTRA_TOPIC_PARTITIONS:")
  done
  # One JVM to learn what exists (partitions, configs), then one per missing topic or retention to fix.
  local described
  described="$(run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --command-config "$ADMIN_PROPS" --describe --exclude-internal 2>>"$LOGS/tools.log")" \
    || die "cannot describe topics on $BOOTSTRAP (see $LOGS/tools.log)"
  local entry parts retention policy have have_ret have_policy line config=()
  for entry in "${wanted[@]}"; do
    IFS=: read -r name parts retention policy <<<"$entry"
    line="$(awk -v t="$name" -F'\t' '$1 == "Topic: " t' <<<"$described")"
    config=()
    [[ -n "$retention" ]] && config=(--config "retention.ms=$retention")
    [[ -n "$policy" ]] && config+=(--config "cleanup.policy=$policy")
    if [[ -z "$line" ]]; then
      run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_PROPS" \
        --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 "${config[@]}" \
        >/dev/null 2>>"$LOGS/tools.log" || die "creating topic $name failed (see $LOGS/tools.log)"
      log "topic $name created (partitions: $parts${retention:+, retention.ms: $retention}${policy:+, cleanup.policy: $policy})"
      continue
    fi
    have="$(sed -n 's/.*\tPartitionCount: \([0-9]*\).*/\1/p' <<<"$line")"
    have_ret="$(sed -n 's/.*[\t,: ]retention\.ms=\([0-9-]*\).*/\1/p' <<<"$line")"
    if [[ "$have" != "$parts" ]]; then
      log "topic $name exists with $have partitions (wanted $parts): left as is"
    else
      log "topic $name exists (partitions: $have${have_ret:+, retention.ms: $have_ret})"
    fi
    if [[ -n "$retention" && "$have_ret" != "$retention" ]]; then
      run_tool kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_PROPS" \
        --alter --entity-type topics --entity-name "$name" --add-config "retention.ms=$retention" \
        >/dev/null 2>>"$LOGS/tools.log" || die "setting retention.ms of $name failed (see $LOGS/tools.log)"
      log "topic $name: retention.ms set to $retention (was ${have_ret:-the broker default})"
    fi
    have_policy="$(sed -n 's/.*[\t,: ]cleanup\.policy=\([a-z]*\).*/\1/p' <<<"$line")"
    if [[ -n "$policy" && "$have_policy" != "$policy" ]]; then
      run_tool kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_PROPS" \
        --alter --entity-type topics --entity-name "$name" --add-config "cleanup.policy=$policy" \
        >/dev/null 2>>"$LOGS/tools.log" || die "setting cleanup.policy of $name failed (see $LOGS/tools.log)"
      log "topic $name: cleanup.policy set to $policy (was ${have_policy:-the broker default})"
    fi
  done
}

# ACLs from scripts/infra/kafka/acls.txt (adding an ACL that exists is a no-op). Grants removed from the file
# are not revoked here: 'AclCommand --list' shows them, '--remove' deletes them (docs/kafka-security.md).
ensure_acls() {   # [force]
  local want
  want="$(acls_hash)"
  if [[ "${1:-}" != force ]] && stamp_is "$ACLS_STAMP" "$want"; then
    return 0
  fi
  local first principals operations rtype pattern names args p n count=0
  while read -r first principals operations rtype pattern names; do
    [[ -z "$first" || "$first" == \#* ]] && continue
    if [[ "$first" == @test ]]; then
      [[ "$TEST_ACLS" == 1 ]] || continue
    else   # not a @test line: shift the columns back by one
      names="$pattern" pattern="$rtype" rtype="$operations" operations="$principals" principals="$first"
    fi
    [[ -n "$names" ]] || die "acls.txt: incomplete line for '$principals'"
    args=(--add --resource-pattern-type "$pattern")
    for p in ${principals//,/ }; do args+=(--allow-principal "User:$p"); done
    for p in ${operations//,/ }; do args+=(--operation "$p"); done
    case "$rtype" in
      topic | group) for n in ${names//,/ }; do args+=("--$rtype" "$n"); done ;;
      cluster) args+=(--cluster) ;;
      *) die "acls.txt: unknown resource type '$rtype'" ;;
    esac
    run_tool org.apache.kafka.tools.AclCommand --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_PROPS" \
      "${args[@]}" >/dev/null 2>>"$LOGS/tools.log" \
      || die "AclCommand failed for '$principals $operations $rtype $pattern $names' (see $LOGS/tools.log)"
    count=$((count + 1))
  done <"$ACL_FILE"
  echo "$want" >"$ACLS_STAMP"
  log "ACLs applied ($count rules from ${ACL_FILE#"$REPO_ROOT"/}; test grants: $([[ "$TEST_ACLS" == 1 ]] && echo on || echo off))"
}

# Make the broker run with the current server.properties: nothing if it already does, else (re)start it.
run_broker() {
  local pid want i
  want="$(props_hash)"
  if pid="$(broker_pid)"; then
    # Alive: it may still be starting (e.g. right after another 'up'); give it the usual time.
    for ((i = 0; i < START_TIMEOUT; i++)); do
      port_open "$PORT" && break
      sleep 1
    done
    port_open "$PORT" || die "broker pid $pid is alive but port $PORT is closed; try 'kafka.sh down' then 'up'"
    if stamp_is "$RUNNING_STAMP" "$want"; then
      log "already running (pid $pid) on $BOOTSTRAP: nothing to start"
      [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" ]] \
        || log "note: pom.xml changed since the jars were fetched; 'kafka.sh down && kafka.sh up' to apply"
      return 0
    fi
    log "the running broker (pid $pid) was started with another configuration: restarting it"
    stop_broker "$pid"
  fi
  if [[ -f "$PID_FILE" ]]; then
    log "removing stale pid file (pid $(head -n 1 "$PID_FILE" 2>/dev/null) is not running)"
    rm -f "$PID_FILE"
  fi
  for i in "$PORT" "$CTRL_PORT"; do
    port_open "$i" && die "port $i on $HOST is already in use by another process (set MOTCUA_KAFKA_PORT / MOTCUA_KAFKA_CONTROLLER_PORT)"
  done
  ensure_libs
  start_broker
  echo "$want" >"$RUNNING_STAMP"
}

cmd_up() {
  take_lock
  mkdir -p "$DATA" "$LOGS"
  log "ports: broker $BOOTSTRAP (MOTCUA_KAFKA_PORT), controller $HOST:$CTRL_PORT (MOTCUA_KAFKA_CONTROLLER_PORT)"
  check_java
  write_props
  if [[ ! -f "$DATA/meta.properties" ]]; then
    ensure_libs
    format_storage   # a new store gets every SCRAM credential at format time
  fi
  if ! stamp_is "$USERS_STAMP" "$(users_hash)"; then
    # Storage from before SASL (no credentials at all) or changed MOTCUA_KAFKA_PASSWORD_*: its data is kept.
    log "SCRAM credentials missing or changed: applying them (broker briefly in bootstrap mode)"
    write_props bootstrap
    run_broker
    ensure_users
    write_props
  fi
  run_broker
  # Topics and ACLs once per configuration (stamps); 'kafka.sh topics' / 'kafka.sh acls' always check.
  local topics_want
  topics_want="$(printf '%s\n' "${DEFAULT_TOPICS[@]}" "$(cluster_id)" | sha256sum | cut -d' ' -f1)"
  if ! stamp_is "$K_RUN/topics.sha" "$topics_want"; then
    ensure_topics
    echo "$topics_want" >"$K_RUN/topics.sha"
  fi
  ensure_acls
}

cmd_down() {
  take_lock
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE" "$RUNNING_STAMP"
    log "not running"
    return 0
  fi
  stop_broker "$pid"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)" && port_open "$PORT"; then
    log "running (pid $pid) on $BOOTSTRAP, Kafka $(kafka_version), SASL $SASL_MECHANISM"
    return 0
  fi
  log "not running (port $PORT)"
  return 1
}

cmd_topics() {
  require_running
  ensure_topics "$@"
}

cmd_users() {   # forget what was applied: 'up' re-applies every credential (and starts the broker if needed)
  rm -f "$USERS_STAMP"
  cmd_up
}

cmd_acls() {
  take_lock
  require_running
  ensure_acls force
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  topics) shift; cmd_topics "$@" ;;
  users) cmd_users ;;
  acls) cmd_acls ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
