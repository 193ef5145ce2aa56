#!/usr/bin/env bash
# Local PostgreSQL for tests and local production-mode runs.
#
#   scripts/postgres.sh {start|stop|status|restart}
#
# start: if a server already accepts connections on 127.0.0.1:$PGPORT, reuse it
#   and make sure the login role tourcrm/tourcrm (CREATEDB) exists.  Otherwise
#   create (once) and start our own cluster, installing Debian's `postgresql`
#   package first when no server binaries are found.
# stop:  stops our own cluster only (pg_ctl stop -m fast); never touches a
#   server this script did not start.
#
# Connection URL for the application and tests:
#   postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres
# The password is a fixed, well-known value on purpose: this is a throwaway
# local test cluster listening on 127.0.0.1 only.  Do not reuse it anywhere.
#
# Environment:
#   PGPORT      TCP port (default 5432)
#   PG_BINDIR   directory with initdb/pg_ctl/postgres (default: newest
#               /usr/lib/postgresql/*/bin, else the ones on PATH)
#   PG_STATE_DIR  another cluster of its own (with another PGPORT): its base
#               directory instead of var/pg (the fault tests stop such a
#               cluster, never the shared one)
#
# Cluster location: var/pg/data (git-ignored), owned by the `postgres` OS user
# because PostgreSQL refuses to run as root.  If the postgres user cannot reach
# var/pg (e.g. a parent directory of the checkout is not world-traversable),
# the cluster lives in /var/tmp/tourcrm-pg-<hash of repo path> instead and
# var/pg/data is a symlink to it.  Log: <cluster base>/postgres.log.
# To wipe: scripts/postgres.sh stop && rm -rf "$(readlink -f var/pg/data)" var/pg
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST=127.0.0.1
PORT="${PGPORT:-5432}"
APP_ROLE=tourcrm
APP_PASSWORD=tourcrm # fixed test-only password, see header
START_TIMEOUT=60
LOCKFILE="$ROOT/var/.postgres.lock"
DEFAULT_BASE="$ROOT/var/pg"
FALLBACK_BASE="/var/tmp/tourcrm-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
if [[ -n "${PG_STATE_DIR:-}" ]]; then
    mkdir -p "$PG_STATE_DIR"
    PG_STATE_DIR="$(cd "$PG_STATE_DIR" && pwd)"
    LOCKFILE="$PG_STATE_DIR.lock"
    DEFAULT_BASE="$PG_STATE_DIR"
    FALLBACK_BASE="/var/tmp/tourcrm-pg-$(printf '%s' "$PG_STATE_DIR" | sha256sum | cut -c1-12)"
fi

# Client settings from the caller's environment must not redirect our
# connections elsewhere (we always pass host/port/user/db explicitly).
unset PGHOST PGHOSTADDR PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
    PGSSLMODE PGOPTIONS PGDATA PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS || true

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# OS user that owns and runs our cluster.
if is_root; then
    PG_OS_USER=postgres
else
    PG_OS_USER="$(id -un)"
fi

PGBIN=""

# Runs a command as the cluster owner, from / (the owner may not be able to
# read the caller's working directory).  fd 9 (our lock) is not inherited.
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@") 9>&-
    else
        (cd / && "$@") 9>&-
    fi
}

take_lock() {
    mkdir -p "$ROOT/var"
    exec 9>"$LOCKFILE"
    flock -w 300 9 || die "another postgres.sh is still running (lock $LOCKFILE)"
}

# --- binaries ----------------------------------------------------------------

# Sets PGBIN to a directory with initdb, pg_ctl, postgres, pg_isready, psql.
# $1 (optional): wanted major version (for an existing data directory).
find_pgbin() {
    local want="${1:-}" d cand=()
    if [[ -n "${PG_BINDIR:-}" ]]; then
        cand+=("$PG_BINDIR")
    fi
    if [[ -n "$want" ]]; then
        cand+=("/usr/lib/postgresql/$want/bin")
    fi
    while IFS= read -r d; do
        cand+=("$d")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r)
    if command -v pg_config >/dev/null 2>&1; then
        cand+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    if command -v initdb >/dev/null 2>&1; then
        cand+=("$(dirname "$(command -v initdb)")")
    fi
    for d in "${cand[@]}"; do
        [[ -n "$d" ]] || continue
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" && -x "$d/pg_isready" && -x "$d/psql" ]]; then
            if [[ -n "$want" ]]; then
                local v
                v="$("$d/postgres" --version 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p' | head -n1)"
                [[ "$v" == "$want" ]] || continue
            fi
            PGBIN="$d"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    is_root || die "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries not found and apt-get is unavailable"
    log "PostgreSQL server binaries not found; installing Debian package 'postgresql' ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2 || die "apt-get update failed"
    apt-get install -y --no-install-recommends postgresql postgresql-client >&2 \
        || die "apt-get install postgresql failed"
    find_pgbin || die "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
}

ensure_os_user() {
    is_root || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    log "creating system user 'postgres'"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
        --shell /bin/bash postgres || die "useradd postgres failed"
}

# --- server probes -------------------------------------------------------------

port_open() {
    # shellcheck disable=SC2016  # expanded by the inner bash, not here
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$PORT" 2>/dev/null
}

# 0 = accepting, 1 = rejecting (starting/shutting down), 2 = no response.
isready() {
    local rc=0
    if [[ -n "$PGBIN" ]]; then
        "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 2 || rc=$?
        # 3 = bad parameters; treat like no answer
        [[ $rc -le 2 ]] || rc=2
        return "$rc"
    fi
    port_open && return 0
    return 2
}

# Waits until the server accepts connections.  "Rejecting" (starting up) is
# waited for up to START_TIMEOUT; "no response" for 10 s only (whatever holds
# the port is probably not PostgreSQL).
wait_accepting() {
    local rc deadline=$((SECONDS + START_TIMEOUT)) noresp_deadline=$((SECONDS + 10))
    while :; do
        rc=0
        isready || rc=$?
        [[ $rc -eq 0 ]] && return 0
        ((SECONDS < deadline)) || return 1
        if [[ $rc -eq 2 ]] && ((SECONDS >= noresp_deadline)); then
            return 1
        fi
        sleep 0.3
    done
}

# Can tourcrm log in over TCP with its password?
app_login_ok() {
    if [[ -n "$PGBIN" ]]; then
        PGPASSWORD="$APP_PASSWORD" PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -q -A -t \
            -h "$HOST" -p "$PORT" -U "$APP_ROLE" -d postgres -c 'select 1' >/dev/null 2>&1
        return
    fi
    # No local client binaries (server provided by someone else): try the
    # project's venv; else we can only say the port is open.
    if [[ -x "$ROOT/.venv/bin/python" ]] && "$ROOT/.venv/bin/python" -c 'import asyncpg' 2>/dev/null; then
        "$ROOT/.venv/bin/python" - "$HOST" "$PORT" "$APP_ROLE" "$APP_PASSWORD" <<'PY' >/dev/null 2>&1
import asyncio, sys
import asyncpg
host, port, user, pw = sys.argv[1:5]
async def main():
    c = await asyncpg.connect(host=host, port=int(port), user=user, password=pw,
                              database="postgres", timeout=5)
    await c.fetchval("select 1")
    await c.close()
asyncio.run(main())
PY
        return
    fi
    log "WARNING: no psql or asyncpg available to verify the login; port $PORT is open"
    port_open
}

ROLE_SQL="DO \$do\$
BEGIN
  BEGIN
    CREATE ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  EXCEPTION WHEN duplicate_object OR unique_violation THEN
    ALTER ROLE $APP_ROLE WITH LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END;
  -- bench/pg_cost.py: every session's statistics, and the statement statistics once the library is loaded
  GRANT pg_read_all_stats TO $APP_ROLE;
  -- tourcrm stack down --purge (DROP DATABASE … WITH (FORCE)): PostgreSQL 15 refuses to end an autovacuum worker
  -- busy in the database for a role without pg_signal_backend (must be a member of the role whose process is
  -- being terminated), so a purge failed whenever autovacuum happened to be working there
  GRANT pg_signal_backend TO $APP_ROLE;
  IF current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%' THEN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
  END IF;
END
\$do\$;"

# Runs ROLE_SQL as a superuser through the unix socket in directory $1.
ensure_role_via_socket() {
    local sockdir="$1" superuser
    [[ -n "$PGBIN" && -S "$sockdir/.s.PGSQL.$PORT" ]] || return 1
    if is_root; then
        superuser=postgres
        id -u postgres >/dev/null 2>&1 || return 1
    else
        superuser="$PG_OS_USER"
    fi
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$PORT" \
        -U "$superuser" -d postgres -c "$ROLE_SQL" >/dev/null 2>&1
}

# --- our cluster's location ------------------------------------------------------

BASE=""
DATA=""
SOCKDIR=""
PGLOG=""

set_paths() {
    BASE="$1"
    DATA="$BASE/data"
    PGLOG="$BASE/postgres.log"
    SOCKDIR="$BASE/run"
    # unix socket paths are limited to 107 bytes
    if (( ${#SOCKDIR} + ${#PORT} + 12 > 100 )); then
        SOCKDIR=/tmp
    fi
}

# Read-only: where our cluster is (or would be).
resolve_location() {
    if [[ -L "$DEFAULT_BASE/data" ]]; then
        set_paths "$(dirname "$(readlink -f "$DEFAULT_BASE/data")")"
    elif [[ -d "$FALLBACK_BASE/data" && ! -d "$DEFAULT_BASE/data" ]]; then
        set_paths "$FALLBACK_BASE"
    else
        set_paths "$DEFAULT_BASE"
    fi
}

# Creates the base directory, owned by the cluster owner, falling back to
# /var/tmp when the owner cannot traverse to var/pg in the checkout.
prepare_location() {
    resolve_location
    if [[ "$BASE" == "$DEFAULT_BASE" ]]; then
        mkdir -p "$DEFAULT_BASE"
        if is_root; then chown "$PG_OS_USER:" "$DEFAULT_BASE"; fi
        if ! as_pg test -w "$DEFAULT_BASE" -a -x "$DEFAULT_BASE"; then
            # The postgres user cannot reach the checkout (some parent of
            # $ROOT lacks o+x).  Keep the cluster in /var/tmp and leave a
            # symlink so humans (and later runs) find it.
            log "user $PG_OS_USER cannot access $DEFAULT_BASE; using $FALLBACK_BASE"
            set_paths "$FALLBACK_BASE"
            ln -sfn "$FALLBACK_BASE/data" "$DEFAULT_BASE/data"
        fi
    fi
    mkdir -p "$BASE"
    if is_root; then chown "$PG_OS_USER:" "$BASE"; fi
    chmod 0755 "$BASE"
    as_pg test -w "$BASE" || die "user $PG_OS_USER cannot write $BASE"
    as_pg mkdir -p "$SOCKDIR" 2>/dev/null || [[ "$SOCKDIR" == /tmp ]] || die "cannot create $SOCKDIR"
    if is_root && [[ -d "$DATA" ]] && [[ "$(stat -c %U "$DATA")" != "$PG_OS_USER" ]]; then
        log "fixing ownership of $DATA"
        chown -R "$PG_OS_USER:" "$DATA"
    fi
}

# Is our cluster running?  (pg_ctl status reads DATA/postmaster.pid.)
ours_running() {
    [[ -n "$PGBIN" && -f "$DATA/postmaster.pid" ]] || return 1
    as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

write_config() {
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
# Generated by scripts/postgres.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$SOCKDIR'
max_connections = 200
# Throwaway test cluster: durability traded for speed.  A machine crash can
# corrupt it; never use these settings for data you want to keep.
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
# Where the database time goes, per statement (bench/pg_cost.py reads it when loaded): a preloaded library is
# loaded when the server starts, so a running server takes this at its next start only.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
EOF
    if is_root; then
        install -o "$PG_OS_USER" -g "$(id -gn "$PG_OS_USER")" -m 0600 "$tmp" "$DATA/tourcrm.conf"
    else
        install -m 0600 "$tmp" "$DATA/tourcrm.conf"
    fi
    rm -f "$tmp"
    if ! grep -q "^include_if_exists = 'tourcrm.conf'" "$DATA/postgresql.conf"; then
        printf "\n# tourcrm test settings (scripts/postgres.sh)\ninclude_if_exists = 'tourcrm.conf'\n" \
            | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
    fi
}

init_cluster() {
    local locale_opt=(--no-locale)
    if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then
        locale_opt=(--locale=C.UTF-8)
    fi
    if [[ -d "$DATA" ]] && [[ -n "$(ls -A "$DATA" 2>/dev/null)" ]]; then
        local aside
        aside="$DATA.broken.$(date +%Y%m%d%H%M%S)"
        log "$DATA exists but is not a cluster (interrupted initdb?); moving it to $aside"
        mv "$DATA" "$aside"
    fi
    log "initialising cluster in $DATA (owner $PG_OS_USER)"
    if ! as_pg "$PGBIN/initdb" -D "$DATA" --encoding=UTF8 "${locale_opt[@]}" \
            --auth-local=trust --auth-host=scram-sha-256 >"$BASE/initdb.log" 2>&1; then
        tail -n 30 "$BASE/initdb.log" >&2 || true
        die "initdb failed (see $BASE/initdb.log)"
    fi
}

# --- commands ---------------------------------------------------------------------

reuse_existing() {
    local sockdirs=() d
    resolve_location
    if ours_running; then
        log "our cluster is already running ($DATA)"
    else
        log "a server already answers on $HOST:$PORT; reusing it"
    fi
    if ! wait_accepting; then
        die "the server on $HOST:$PORT does not accept connections (not PostgreSQL, or stuck starting up)"
    fi
    if [[ -f "$DATA/postmaster.pid" ]]; then
        # line 5 of postmaster.pid is the socket directory
        d="$(sed -n 5p "$DATA/postmaster.pid" 2>/dev/null || true)"
        if [[ -n "$d" ]]; then sockdirs+=("$d"); fi
    fi
    sockdirs+=("$SOCKDIR" /var/run/postgresql /tmp)
    for d in "${sockdirs[@]}"; do
        if ensure_role_via_socket "$d"; then
            log "role $APP_ROLE ensured via $d"
            break
        fi
    done
    if app_login_ok; then
        log "ready: postgresql://$APP_ROLE:$APP_PASSWORD@$HOST:$PORT/postgres"
        return 0
    fi
    die "cannot log in as $APP_ROLE on $HOST:$PORT and could not create the role (no superuser access)"
}

do_start() {
    local t0=$SECONDS ver
    take_lock
    find_pgbin || true

    if port_open; then
        reuse_existing
        return 0
    fi

    if [[ -z "$PGBIN" ]]; then
        install_postgres
        # Debian's package may have created and started its own cluster.
        if port_open; then
            reuse_existing
            return 0
        fi
    fi
    ensure_os_user
    prepare_location

    # An existing cluster must be run by binaries of its own major version.
    if [[ -f "$DATA/PG_VERSION" ]]; then
        ver="$(tr -d '[:space:]' <"$DATA/PG_VERSION")"
        find_pgbin "$ver" || die "cluster $DATA is PostgreSQL $ver but no $ver binaries are installed; remove it (scripts/postgres.sh stop && rm -rf $DATA) to recreate"
    else
        init_cluster
    fi
    write_config

    if ours_running; then
        log "our cluster is running but not on $HOST:$PORT (port changed?); restarting it"
        as_pg "$PGBIN/pg_ctl" -D "$DATA" stop -m fast -w -t 60 >&2 || die "pg_ctl stop failed"
    fi

    log "starting PostgreSQL ($PGBIN) on $HOST:$PORT, data $DATA"
    if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$PGLOG" -w -t "$START_TIMEOUT" -s start; then
        log "---- last 50 lines of $PGLOG ----"
        tail -n 50 "$PGLOG" >&2 || true
        die "pg_ctl start failed"
    fi
    if ! wait_accepting; then
        tail -n 50 "$PGLOG" >&2 || true
        die "server not accepting connections on $HOST:$PORT after ${START_TIMEOUT}s"
    fi
    ensure_role_via_socket "$SOCKDIR" || die "could not create role $APP_ROLE (socket $SOCKDIR)"
    app_login_ok || die "role $APP_ROLE cannot log in on $HOST:$PORT (check pg_hba.conf in $DATA)"
    log "ready in $((SECONDS - t0))s: postgresql://$APP_ROLE:$APP_PASSWORD@$HOST:$PORT/postgres"
}

do_stop() {
    take_lock
    find_pgbin || true
    resolve_location
    if [[ -f "$DATA/PG_VERSION" ]]; then
        find_pgbin "$(tr -d '[:space:]' <"$DATA/PG_VERSION")" || true
    fi
    if ours_running; then
        log "stopping our cluster ($DATA)"
        as_pg "$PGBIN/pg_ctl" -D "$DATA" stop -m fast -w -t 60 -s || die "pg_ctl stop failed"
        log "stopped"
        return 0
    fi
    if port_open; then
        log "our cluster is not running; $HOST:$PORT is served by another server (left alone)"
    else
        log "not running"
    fi
}

do_status() {
    find_pgbin || true
    resolve_location
    if ours_running; then
        if isready; then
            log "running (our cluster, $DATA) on $HOST:$PORT"
            return 0
        fi
        log "our cluster is running but not accepting on $HOST:$PORT"
        return 1
    fi
    if isready; then
        log "a server (not started by this script) accepts connections on $HOST:$PORT"
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
