#!/usr/bin/env bash
# How long a point-in-time restore of a 1 GB database takes with deploy/backup/ (issue 30):
# a throwaway cluster under a temp directory (never the shared server), pgbench's tables
# grown to ~1 GB, a full backup by deploy/backup/pgbackrest-setup.sh, a minute of changes,
# then deploy/backup/pitr-restore.sh to the moment before the last change and a start that
# replays the WAL. Prints the sizes and the seconds of each step; bench/results/pitr-restore.md
# keeps a run. Run as root (PostgreSQL runs as postgres) or as postgres:
#   bench/pitr_restore.sh            # SCALE=70 is ~1 GB
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
SCALE="${SCALE:-70}"
WORK="$(mktemp -d /tmp/ticketing-pitr-bench-XXXX)"
RUN=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK"; RUN=(runuser -u postgres --); fi
PORT=$((40000 + RANDOM % 20000)); PORT2=$((PORT + 1))
as_pg() { "${RUN[@]}" env "$@"; }
cleanup() {
    as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
    as_pg "$PGBIN/pg_ctl" -D "$WORK/restored" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
as_pg "$PGBIN/initdb" -D "$WORK/data" --auth=trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/log" -o "-p $PORT -k $WORK -c listen_addresses=''" -w start >/dev/null
psql() { as_pg "$PGBIN/psql" -X -q -h "$WORK" -p "$PORT" -U postgres "$@"; }
t0=$(now); as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$PORT" -U postgres postgres >/dev/null 2>&1; t1=$(now)
size=$(psql -Atc "SELECT pg_size_pretty(pg_database_size('postgres'))")
echo "data: $size (pgbench scale $SCALE) loaded in $(echo "$t1 - $t0" | bc) s"
export STANZA=bench PGDATA="$WORK/data" PGPORT="$PORT" PGSOCKET="$WORK" PGBIN REPO="$WORK/repo" \
       CONFIG="$WORK/pgbackrest.conf" LOGDIR="$WORK/pgbr-log" LOCKDIR="$WORK/pgbr-lock" \
       RESTART="$PGBIN/pg_ctl -D $WORK/data -l $WORK/log -w restart"
t0=$(now)
as_pg STANZA="$STANZA" PGDATA="$PGDATA" PGPORT="$PGPORT" PGSOCKET="$PGSOCKET" PGBIN="$PGBIN" REPO="$REPO" \
      CONFIG="$CONFIG" LOGDIR="$LOGDIR" LOCKDIR="$LOCKDIR" RESTART="$RESTART" \
      "$ROOT/deploy/backup/pgbackrest-setup.sh" >/dev/null
t1=$(now); echo "set-up with full backup: $(echo "$t1 - $t0" | bc) s; repository $(du -sh "$WORK/repo" | cut -f1)"
as_pg "$PGBIN/pgbench" -n -T 30 -c 2 -h "$WORK" -p "$PORT" -U postgres postgres >/dev/null 2>&1
target=$(psql -Atc "SELECT clock_timestamp()")
sleep 1
psql -c "DELETE FROM pgbench_branches"  # the mistake
as_pg "$(command -v pgbackrest)" --config="$CONFIG" --stanza=bench check >/dev/null
t0=$(now)
as_pg STANZA=bench CONFIG="$CONFIG" "$ROOT/deploy/backup/pitr-restore.sh" "$target" "$WORK/restored" >/dev/null
t1=$(now)
as_pg "$PGBIN/pg_ctl" -D "$WORK/restored" -l "$WORK/restored.log" \
      -o "-p $PORT2 -k $WORK -c listen_addresses='' -c archive_mode=off" -w start >/dev/null
until [ "$(as_pg "$PGBIN/psql" -X -Atq -h "$WORK" -p "$PORT2" -U postgres -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = "t" ]; do sleep 0.2; done
t2=$(now)
branches=$(as_pg "$PGBIN/psql" -X -Atq -h "$WORK" -p "$PORT2" -U postgres -c "SELECT count(*) FROM pgbench_branches")
echo "restore (copy): $(echo "$t1 - $t0" | bc) s; WAL replay to the target and promotion: $(echo "$t2 - $t1" | bc) s; total $(echo "$t2 - $t0" | bc) s"
echo "rows the mistake deleted, back after the restore: $branches (of $SCALE)"
