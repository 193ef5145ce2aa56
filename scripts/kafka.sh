#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, combined broker+controller) for tests
# and local production-mode runs.
#
#   scripts/kafka.sh {start|stop|status|restart}
#
# Kafka itself comes from Maven Central (deploy/kafka/pom.xml); the jars are
# copied to var/kafka/libs on first use (~/.m2 caches them).  All runtime state
# lives under var/kafka/ (git-ignored):
#   server.properties, log4j.properties  generated on every start
#   cluster.id                           KRaft cluster id, generated once
#   data/                                log.dirs (topics, committed offsets)
#   kafka.log                            broker log (previous run: kafka.log.1)
#   kafka.out                            JVM stdout/stderr (crashes, GC errors)
#   kafka.pid                            pid of the running broker
#
# Environment:
#   KAFKA_PORT             PLAINTEXT listener port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port   (default 9093)
#   KAFKA_HEAP_OPTS        JVM heap options        (default -Xmx512m -Xms256m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to be ready (120)
#   KAFKA_STATE_DIR        where this broker's state lives (default var/kafka);
#                          a second broker (e.g. one a test stops and restarts)
#                          needs its own, with its own ports
#   JAVA_HOME              optional; otherwise `java` from PATH
#
# `stop` keeps the data directory: a restart keeps topics and committed
# offsets.  To wipe everything: scripts/kafka.sh stop && rm -rf var/kafka/data var/kafka/cluster.id
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KDIR="${KAFKA_STATE_DIR:-$ROOT/var/kafka}"
LIBS="$ROOT/var/kafka/libs"
DATA="$KDIR/data"
PROPS="$KDIR/server.properties"
LOG4J="$KDIR/log4j.properties"
LOGFILE="$KDIR/kafka.log"
OUTFILE="$KDIR/kafka.out"
PIDFILE="$KDIR/kafka.pid"
CLUSTER_ID_FILE="$KDIR/cluster.id"
LOCKFILE="$KDIR/.lock"
POM="$ROOT/deploy/kafka/pom.xml"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT=30
if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    JAVA="$JAVA_HOME/bin/java"
else
    JAVA=java
fi

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# True when something accepts TCP connections on $HOST:$1.
port_open() {
    # shellcheck disable=SC2016  # expanded by the inner bash, not here
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# True when $1 is a live process running *this* repo's broker (guards against
# a stale pid file whose pid was reused by something else).
is_our_broker() {
    local pid="$1" cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *kafka.Kafka* && "$cmdline" == *"$PROPS"* ]]
}

# Prints the pid of our running broker (from the pid file, or by scanning
# /proc for a java process started with our exact server.properties path).
our_pid() {
    local pid p
    if [[ -f "$PIDFILE" ]]; then
        pid="$(head -n1 "$PIDFILE" 2>/dev/null || true)"
        if is_our_broker "$pid"; then
            printf '%s\n' "$pid"
            return 0
        fi
    fi
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        if is_our_broker "$pid"; then
            printf '%s\n' "$pid" >"$PIDFILE"
            printf '%s\n' "$pid"
            return 0
        fi
    done
    return 1
}

# Serialise concurrent invocations (parallel test sessions calling start).
# The fd is closed for the broker process so it does not hold the lock.
take_lock() {
    mkdir -p "$KDIR"
    exec 9>"$LOCKFILE"
    if ! flock -w 300 9; then
        die "another kafka.sh is still running (lock $LOCKFILE)"
    fi
}

pom_kafka_version() {
    sed -n 's:.*<kafka.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka.version>.*:\1:p' "$POM" | head -n1
}

# Java 17 and Maven from Debian's packages when the machine lacks them.
ensure_tools() {
    if command -v "$JAVA" >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "java and mvn are needed; install Java 17 and Maven"
    log "installing Java 17 and Maven from Debian's packages ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq openjdk-17-jre-headless maven >&2 \
        || die "apt-get could not install openjdk-17-jre-headless and maven"
}

ensure_libs() {
    local version tmp
    version="$(pom_kafka_version)"
    [[ -n "$version" ]] || version='*'
    # Refetch when libs is missing/empty or holds another Kafka version.
    if compgen -G "$LIBS/kafka_2.13-$version.jar" >/dev/null; then
        return 0
    fi
    [[ -f "$POM" ]] || die "missing $POM"
    log "fetching Kafka $version jars from Maven Central into var/kafka/libs ..."
    tmp="$KDIR/libs.tmp.$$"
    rm -rf "$tmp"
    # Output goes to var/kafka/mvn.log (Maven 3.8 -q still prints colour
    # escape codes); shown only on failure.
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KDIR/mvn.log" 2>&1; then
        tail -n 50 "$KDIR/mvn.log" >&2 || true
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed (see var/kafka/mvn.log)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "mvn did not produce kafka_2.13 jar"; }
    # Swap in atomically so an interrupted download never looks complete.
    rm -rf "$LIBS"
    mkdir -p "$(dirname "$LIBS")"
    mv "$tmp" "$LIBS"
}

write_configs() {
    cat >"$PROPS" <<EOF
# Generated by scripts/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA

num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true

offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
# After a SIGKILL the old registration blocks the restarted broker until its
# session expires (default 9 s); keep that short.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000

# Small footprint: 2-core test machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
# Kafka requires strictly more than 1 MiB per cleaner thread (1048576 is rejected).
log.cleaner.dedupe.buffer.size=2097152
log.retention.hours=168
log.segment.bytes=104857600
EOF

    cat >"$LOG4J" <<EOF
# Generated by scripts/kafka.sh on every start; edits are overwritten.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$LOGFILE
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n

# Chatty components: warnings only.
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.org.apache.kafka.common.metrics=WARN
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.authorizer.logger=WARN
EOF
}

storage_tool() {
    "$JAVA" -Xmx256m -Dlog4j.configuration="file:$LOG4J" \
        -cp "$LIBS/*" kafka.tools.StorageTool "$@"
}

ensure_formatted() {
    local cid
    if [[ -f "$DATA/meta.properties" ]]; then
        return 0
    fi
    if [[ -s "$CLUSTER_ID_FILE" ]]; then
        cid="$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")"
    else
        cid="$(storage_tool random-uuid 2>>"$OUTFILE" | tail -n1 | tr -d '[:space:]')"
        [[ -n "$cid" ]] || die "StorageTool random-uuid produced no cluster id (see $OUTFILE)"
        printf '%s\n' "$cid" >"$CLUSTER_ID_FILE"
    fi
    log "formatting storage var/kafka/data (cluster id $cid)"
    mkdir -p "$DATA"
    if ! storage_tool format -t "$cid" -c "$PROPS" >>"$OUTFILE" 2>&1; then
        tail -n 50 "$OUTFILE" >&2 || true
        die "StorageTool format failed"
    fi
}

broker_started_in_log() {
    [[ -f "$LOGFILE" ]] && grep -q 'Kafka Server started' "$LOGFILE"
}

dump_logs() {
    log "---- last 50 lines of var/kafka/kafka.log ----"
    tail -n 50 "$LOGFILE" >&2 2>/dev/null || true
    if [[ -s "$OUTFILE" ]]; then
        log "---- last 20 lines of var/kafka/kafka.out ----"
        tail -n 20 "$OUTFILE" >&2 || true
    fi
}

# Waits until broker $1 logged "Kafka Server started" and the port answers.
wait_ready() {
    local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            dump_logs
            rm -f "$PIDFILE"
            die "broker process $pid exited during startup"
        fi
        if broker_started_in_log && port_open "$PORT"; then
            return 0
        fi
        sleep 0.5
    done
    dump_logs
    return 1
}

do_start() {
    local pid t0=$SECONDS
    take_lock

    if pid="$(our_pid)"; then
        if broker_started_in_log && port_open "$PORT"; then
            log "already running (pid $pid) on $HOST:$PORT"
            return 0
        fi
        log "broker pid $pid is starting; waiting until ready ..."
        wait_ready "$pid" || die "broker pid $pid not ready after ${START_TIMEOUT}s"
        log "ready on $HOST:$PORT (pid $pid)"
        return 0
    fi
    if port_open "$PORT"; then
        log "something already answers on $HOST:$PORT; reusing it (not started by this script)"
        return 0
    fi
    if port_open "$CONTROLLER_PORT"; then
        die "controller port $HOST:$CONTROLLER_PORT is in use by another process (set KAFKA_CONTROLLER_PORT)"
    fi

    ensure_tools
    rm -f "$PIDFILE"
    ensure_libs
    write_configs
    # Start each run with a fresh log so readiness is judged on this run only.
    [[ -f "$LOGFILE" ]] && mv -f "$LOGFILE" "$LOGFILE.1"
    [[ -f "$OUTFILE" ]] && mv -f "$OUTFILE" "$OUTFILE.1"
    : >"$OUTFILE"
    ensure_formatted

    log "starting Kafka broker on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT) ..."
    # shellcheck disable=SC2086  # HEAP_OPTS is intentionally word-split
    (
        cd "$KDIR"
        # setsid: own session, survives the calling shell/terminal; the
        # background child is never a group leader, so setsid and nohup
        # exec in place and $! is the java pid.
        exec setsid nohup "$JAVA" $HEAP_OPTS \
            -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExitOnOutOfMemoryError \
            -Djava.awt.headless=true \
            -Dlog4j.configuration="file:$LOG4J" \
            -Dkafka.logs.dir="$KDIR" \
            -cp "$LIBS/*" kafka.Kafka "$PROPS"
    ) </dev/null >>"$OUTFILE" 2>&1 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"

    if ! wait_ready "$pid"; then
        log "broker not ready after ${START_TIMEOUT}s; killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        exit 1
    fi
    log "ready on $HOST:$PORT (pid $pid, $((SECONDS - t0))s)"
}

wait_port_free() {
    local p deadline=$((SECONDS + 30))
    for p in "$PORT" "$CONTROLLER_PORT"; do
        while port_open "$p"; do
            ((SECONDS < deadline)) || die "port $HOST:$p still in use after stop"
            sleep 0.3
        done
    done
}

do_stop() {
    local pid deadline
    take_lock
    if ! pid="$(our_pid)"; then
        rm -f "$PIDFILE"
        if port_open "$PORT"; then
            log "not running from this repo; $HOST:$PORT is served by another process (left alone)"
        else
            log "not running"
        fi
        return 0
    fi
    log "stopping broker pid $pid (SIGTERM, controlled shutdown) ..."
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.3
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    rm -f "$PIDFILE"
    wait_port_free
    log "stopped"
}

do_status() {
    local pid
    if pid="$(our_pid)"; then
        if broker_started_in_log && port_open "$PORT"; then
            log "running (pid $pid) on $HOST:$PORT"
            return 0
        fi
        log "starting (pid $pid), not ready yet"
        return 1
    fi
    if port_open "$PORT"; then
        log "something (not started by this script) answers on $HOST:$PORT"
        return 0
    fi
    log "not running"
    return 3
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    restart)
        do_stop
        exec 9>&-
        do_start
        ;;
    *)
        echo "usage: $0 {start|stop|status|restart}" >&2
        exit 2
        ;;
esac
