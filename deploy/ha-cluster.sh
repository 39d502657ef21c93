#!/usr/bin/env bash
# A PostgreSQL primary with a synchronous standby on 127.0.0.1, run by pg_auto_failover from
# Debian's packages (postgresql-15-auto-failover, pg-auto-failover-cli): a monitor and two
# nodes. The engine does every failover; this script only creates, starts and stops its
# processes (decision 0036, deploy/README.md section 4).
#
#   deploy/ha-cluster.sh start    [DIR]  create (first time) or start the monitor and both nodes
#   deploy/ha-cluster.sh stop     [DIR]  stop them (the data stays; `start` brings them back)
#   deploy/ha-cluster.sh status   [DIR]  the monitor's view: each node's state
#   deploy/ha-cluster.sh uri      [DIR]  the DATABASE_URL for the app (both nodes, read-write)
#   deploy/ha-cluster.sh failover [DIR]  a switchover by the monitor: the standby becomes primary
#   deploy/ha-cluster.sh stop-standby [DIR]  stop the standby's node: the primary goes on alone,
#                                        asynchronous once the monitor has noticed; `start` again
#
# DIR (default var/ha in the checkout, or HA_DIR) holds the data, the logs and pg_autoctl's
# own files. Ports: HA_PORT (default 25430) for the monitor, the next two for the nodes; keep
# them below the kernel's ephemeral range (32768+), where any client's connection may hold one.
#
# Run it as root: the engine then runs as a system user of its own, HA_USER (default
# pgautofailover, created on first use), who owns DIR. PostgreSQL refuses to run as root, and
# the user must be one that runs nothing else: pg_autoctl 2.0 sends SIGHUP to every process
# of its user (kill(-1, SIGHUP)) while it starts PostgreSQL, which ends that user's psql
# sessions, shells and test runs. Run as another user, the engine runs as that user.
set -euo pipefail

CHECKOUT="$(cd "$(dirname "$0")/.." && pwd)"
COMMAND="${1:-}"
DIR="${2:-${HA_DIR:-$CHECKOUT/var/ha}}"
PORT="${HA_PORT:-25430}"
DBNAME="${HA_DBNAME:-ticketing}"
NODES=(node1 node2)
declare -A NODE_PORT=([node1]=$((PORT + 1)) [node2]=$((PORT + 2)))

die() { echo "ha-cluster: $*" >&2; exit 1; }
say() { echo "ha-cluster: $*"; }

case "$COMMAND" in
    start|stop|status|uri|failover|stop-standby) ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

command -v pg_autoctl >/dev/null \
    || die "pg_autoctl not found: apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli"
# The PostgreSQL whose lib/ has the monitor's extension (Debian installs it per major version).
PGBIN=""
for lib in /usr/lib/postgresql/*/lib/pgautofailover.so; do
    [ -e "$lib" ] && PGBIN="$(dirname "$(dirname "$lib")")/bin"
done
[ -n "$PGBIN" ] || die "no pgautofailover extension in /usr/lib/postgresql: apt-get install -y postgresql-15-auto-failover"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [ "$(id -u)" -eq 0 ]; then
    RUN_AS="${HA_USER:-pgautofailover}"
    if ! id "$RUN_AS" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            --comment "pg_auto_failover nodes of deploy/ha-cluster.sh" "$RUN_AS"
    fi
    chown "$RUN_AS" "$DIR"
else
    RUN_AS="$(id -un)"
    trap '' HUP  # the engine's stray SIGHUP (above) must not end this script
fi
SUPERUSER="$RUN_AS"  # initdb makes the operating-system user the database superuser
MONITOR_URI="postgres://autoctl_node@127.0.0.1:$PORT/pg_auto_failover?sslmode=disable"
CLEAN_ENV=(env -i "PATH=$PGBIN:/usr/bin:/bin" "LANG=C.UTF-8")

# A command as the engine's user, with SIGHUP ignored so that the engine's stray one cannot
# end it (pg_autoctl and postgres install their own SIGHUP handlers, so reloads still work).
# pg_autoctl keeps its configuration, state and pid files under the XDG directories, and
# PGHOST is where the nodes' sockets are: all inside DIR, so that several clusters (a test's,
# a benchmark's) never share anything.
run() {
    local command=("${CLEAN_ENV[@]}" "HOME=$DIR" "XDG_CONFIG_HOME=$DIR/config" "XDG_DATA_HOME=$DIR/share"
                   "XDG_RUNTIME_DIR=$DIR/run" "PGHOST=$DIR/run" sh -c 'trap "" HUP; exec "$@"' sh "$@")
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$RUN_AS" -- "${command[@]}"
    else
        "${command[@]}"
    fi
}

run mkdir -p "$DIR/run"  # without it, pg_autoctl falls back to /tmp for its pid files

# In the background, in a session of its own, its output in DIR/NAME.log: it outlives this
# script, no process of ours waits for it, and it never holds the caller's terminal or pipes.
run_detached() {  # run_detached NAME SHELL-SCRIPT [ARGS...]: ARGS are the script's $1...
    local name="$1"; shift
    run sh -c 'log="$1"; shift; setsid sh -c "$@" >>"$log" 2>&1 </dev/null &' sh "$DIR/$name.log" "$1" sh "${@:2}"
}

run_logged() {  # run_logged NAME COMMAND...: in the foreground, its output in DIR/NAME.log
    local name="$1"; shift
    run sh -c 'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null' sh "$DIR/$name.log" "$@"
}

sql() {  # sql PORT DATABASE STATEMENT: as the database superuser, over 127.0.0.1 (trust)
    "${CLEAN_ENV[@]}" psql -X -q -At -h 127.0.0.1 -p "$1" -U "$SUPERUSER" -d "$2" -c "$3"
}

configured() { [ -f "$DIR/config/pg_autoctl$DIR/$1/pg_autoctl.cfg" ]; }
running() {  # is the pg_autoctl service of this data directory alive?
    local pidfile="$DIR/run/pg_autoctl$DIR/$1/pg_autoctl.pid"
    [ -f "$pidfile" ] && kill -0 "$(head -n1 "$pidfile")" 2>/dev/null
}
stopped() { ! running "$1"; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
    local seconds="$1" what="$2"; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${seconds}s waiting for $what (logs in $DIR/*.log)"
        sleep 0.3
    done
}

node_state() {  # the state a node last reported to the monitor
    sql "$PORT" pg_auto_failover "SELECT reportedstate FROM pgautofailover.node WHERE nodename = '$1'"
}
node_is() { local state; state="$(node_state "$1")"; shift; [[ " $* " == *" $state "* ]]; }
pair_ready() {  # one primary the monitor wants primary, and its secondary
    [ "$(sql "$PORT" pg_auto_failover "SELECT string_agg(reportedstate || '/' || goalstate, ' '
        ORDER BY reportedstate) FROM pgautofailover.node")" = "primary/primary secondary/secondary" ]
}

# The monitor's timings, for nodes on one host, where there is no network to flap: a dead
# primary is declared unhealthy after ~2 s (1 s checks, 3 s without a report from its
# keeper) and the standby promoted once the 5 s demote timeout has passed. Each keeper gives
# up on a primary it cannot confirm (no monitor, no standby) after 3 s, before those 5 s, so
# an isolated old primary has stopped before the standby is promoted. The engine's defaults
# (5 s checks, 20 s, 30 s and 20 s) suit nodes on separate hosts: deploy/README.md.
MONITOR_SETTINGS=(
    "pgautofailover.health_check_period = 1000"
    "pgautofailover.health_check_timeout = 1000"
    "pgautofailover.health_check_max_retries = 1"
    "pgautofailover.health_check_retry_delay = 500"
    "pgautofailover.node_considered_unhealthy_timeout = 3000"
    "pgautofailover.primary_demote_timeout = 5000"
)
NETWORK_PARTITION_TIMEOUT_S=3

# A data directory of our own initdb, which pg_autoctl then adopts: sockets in DIR/run
# (Debian's /var/run/postgresql belongs to the postgres user) and TCP on 127.0.0.1 only. A
# standby cloned from it inherits both.
initdb_local() {  # initdb_local NAME
    run_logged "$1" initdb -D "$DIR/$1" -U "$SUPERUSER" --auth=trust --encoding=UTF8
    printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$DIR/run" >>"$DIR/$1/postgresql.conf"
}

start_monitor() {
    if ! configured monitor; then
        say "creating the monitor on 127.0.0.1:$PORT"
        [ -f "$DIR/monitor/PG_VERSION" ] || initdb_local monitor
        run_logged monitor pg_autoctl create monitor --pgdata "$DIR/monitor" --pgport "$PORT" \
            --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl
    fi
    running monitor || run_detached monitor 'exec pg_autoctl run --pgdata "$1"' "$DIR/monitor"
    wait_for 60 "the monitor" sql "$PORT" pg_auto_failover "SELECT 1"
    local setting changed=""
    for setting in "${MONITOR_SETTINGS[@]}"; do
        if [ "$(sql "$PORT" pg_auto_failover "SHOW ${setting%% =*}")" != "${setting##*= }" ]; then
            sql "$PORT" pg_auto_failover "ALTER SYSTEM SET $setting"
            changed=1
        fi
    done
    [ -z "$changed" ] || sql "$PORT" pg_auto_failover "SELECT pg_reload_conf()" >/dev/null
}

start_node() {  # start_node NAME
    local name="$1" port="${NODE_PORT[$1]}"
    running "$name" && return
    if configured "$name"; then
        say "starting $name on 127.0.0.1:$port"
        run_detached "$name" 'exec pg_autoctl run --pgdata "$1"' "$DIR/$name"
        return
    fi
    say "creating $name on 127.0.0.1:$port"
    # node1 starts from our initdb and registers as the primary; node2 registers as its
    # standby, and pg_autoctl clones it with pg_basebackup. synchronous_commit = on is the
    # engine's setting; it keeps synchronous_standby_names at "ANY 1 (<healthy standbys>)",
    # or '' while no standby is healthy (decision 0036). The keeper's timeout is set before
    # its first run, with no keeper rewriting the file meanwhile.
    [ "$name" != node1 ] || [ -f "$DIR/$name/PG_VERSION" ] || initdb_local "$name"
    run_detached "$name" 'pgdata="$1"; shift
        pg_autoctl create postgres --pgdata "$pgdata" "$@" &&
        pg_autoctl config set --pgdata "$pgdata" timeout.network_partition_timeout '"$NETWORK_PARTITION_TIMEOUT_S"' &&
        exec pg_autoctl run --pgdata "$pgdata"' \
        "$DIR/$name" --pgport "$port" --listen 127.0.0.1 --hostname 127.0.0.1 --name "$name" \
        --dbname "$DBNAME" --auth trust --no-ssl --monitor "$MONITOR_URI"
}

# A new standby's pg_basebackup waits for a *spread* checkpoint on the primary (minutes on an
# idle server); a CHECKPOINT makes the one in progress finish at once.
hurry_base_backup() {  # hurry_base_backup STANDBY PRIMARY
    local deadline=$((SECONDS + 120))
    until node_is "$1" secondary; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $1 to become a standby (logs in $DIR/$1.log)"
        sql "${NODE_PORT[$2]}" postgres "CHECKPOINT" >/dev/null 2>&1 || true
        sleep 1
    done
}

case "$COMMAND" in
    start)
        start_monitor
        fresh=""; [ -f "$DIR/node2/PG_VERSION" ] || fresh=1
        start_node node1
        if [ -n "$fresh" ]; then
            wait_for 60 "node1 to accept writes" node_is node1 single wait_primary primary
        fi
        start_node node2
        [ -z "$fresh" ] || hurry_base_backup node2 node1
        # An old primary coming back rewinds itself and follows the new one (pg_rewind).
        wait_for 120 "a primary with its synchronous standby" pair_ready
        run pg_autoctl show state --monitor "$MONITOR_URI"
        ;;
    stop)
        # Both nodes at once, then the monitor: a node stopped alone would first make the
        # monitor switch its peer to asynchronous replication, or fail over to it.
        for name in "${NODES[@]}"; do
            if running "$name"; then run pg_autoctl stop --pgdata "$DIR/$name"; fi
        done
        for name in "${NODES[@]}"; do wait_for 60 "$name to stop" stopped "$name"; done
        if running monitor; then run pg_autoctl stop --pgdata "$DIR/monitor"; fi
        wait_for 60 "the monitor to stop" stopped monitor
        say "stopped (data kept in $DIR)"
        ;;
    status)
        run pg_autoctl show state --monitor "$MONITOR_URI"
        ;;
    uri)
        # libpq's multi-host form: the app connects to whichever node accepts writes.
        echo "postgresql://$SUPERUSER@127.0.0.1:${NODE_PORT[node1]},127.0.0.1:${NODE_PORT[node2]}/$DBNAME?target_session_attrs=read-write&connect_timeout=2&tcp_user_timeout=5000"
        ;;
    failover)
        run pg_autoctl perform failover --pgdata "$DIR/monitor" --wait 60
        run pg_autoctl show state --monitor "$MONITOR_URI"
        ;;
    stop-standby)
        for name in "${NODES[@]}"; do
            if node_is "$name" secondary && running "$name"; then
                run pg_autoctl stop --pgdata "$DIR/$name"
                wait_for 60 "$name to stop" stopped "$name"
                say "stopped the standby $name"
            fi
        done
        ;;
esac
