#!/usr/bin/env bash
# Backups of the local PostgreSQL cluster with pgBackRest (Debian's `pgbackrest`), WAL
# archived continuously, so the database can be restored to any moment (docs/operations.md,
# "Restoring after an operator's mistake"; decision 0052).
#
# Run as the cluster's owner (postgres), once, on the database host:
#   sudo -u postgres deploy/backup/pgbackrest-setup.sh
# It writes pgBackRest's configuration, turns WAL archiving on (ALTER SYSTEM), restarts the
# cluster, creates the stanza, checks that a WAL segment reaches the repository, and takes
# the first full backup. Then schedule (crontab -u postgres -e):
#   30 3 * * 0   pgbackrest --stanza=ticketing --type=full backup
#   30 * * * *   pgbackrest --stanza=ticketing --type=incr backup
#
# Defaults are Debian's cluster 15/main; the tests run this very script against a throwaway
# cluster by setting the variables below.
set -euo pipefail

STANZA="${STANZA:-ticketing}"
PGDATA="${PGDATA:-/var/lib/postgresql/15/main}"
PGPORT="${PGPORT:-5432}"
PGSOCKET="${PGSOCKET:-/var/run/postgresql}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
REPO="${REPO:-/var/lib/pgbackrest}"
CONFIG="${CONFIG:-/etc/pgbackrest/pgbackrest.conf}"
LOGDIR="${LOGDIR:-/var/log/pgbackrest}"
LOCKDIR="${LOCKDIR:-/tmp/pgbackrest}"
# Full backups kept (each with the incrementals and WAL since it): two weeks with a weekly full.
RETENTION_FULL="${RETENTION_FULL:-2}"
RESTART="${RESTART:-pg_ctlcluster 15 main restart}"

mkdir -p "$(dirname "$CONFIG")" "$REPO" "$LOGDIR" "$LOCKDIR"
chmod 0750 "$REPO"
cat > "$CONFIG" <<CONF
[global]
repo1-path=$REPO
repo1-retention-full=$RETENTION_FULL
log-path=$LOGDIR
lock-path=$LOCKDIR
log-level-console=warn
log-level-file=info
# Parallel compression of the backup; zst is fast and small.
compress-type=zst
process-max=2
# WAL is pushed asynchronously from a spool, so a slow repository never stalls commits.
archive-async=y
spool-path=$REPO/spool
start-fast=y

[$STANZA]
pg1-path=$PGDATA
pg1-port=$PGPORT
pg1-socket-path=$PGSOCKET
CONF

psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCKET" -p "$PGPORT" -U postgres -d postgres)
"${psql[@]}" -c "ALTER SYSTEM SET wal_level = 'replica'" \
             -c "ALTER SYSTEM SET archive_mode = 'on'" \
             -c "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$CONFIG --stanza=$STANZA archive-push %p'" \
             -c "ALTER SYSTEM SET archive_timeout = '60s'"
$RESTART

pgbackrest --config="$CONFIG" --stanza="$STANZA" stanza-create
pgbackrest --config="$CONFIG" --stanza="$STANZA" check
pgbackrest --config="$CONFIG" --stanza="$STANZA" --type=full backup
pgbackrest --config="$CONFIG" --stanza="$STANZA" info
