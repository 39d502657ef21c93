#!/usr/bin/env bash
# Restore the cluster as it was at a moment, into a NEW data directory (never over the live
# one): docs/operations.md, "Restoring after an operator's mistake"; decision 0052.
#
#   sudo -u postgres deploy/backup/pitr-restore.sh '2026-12-07 10:04:59+00' /var/lib/postgresql/15/restored
#
# pgBackRest picks the newest backup before the target, copies it (full + incrementals),
# and PostgreSQL replays the archived WAL up to the target, then promotes. Start the restored
# cluster on a spare port with archiving off, check it, then either copy the lost rows back
# (pg_dump of the affected tables) or point the app at it (docs/operations.md).
#   $PGBIN/pg_ctl -D <new dir> -o "-p 5439 -c archive_mode=off" -w start
set -euo pipefail

TARGET="${1:?target time, e.g. '2026-12-07 10:04:59+00'}"
NEW_PGDATA="${2:?a new, empty data directory}"
STANZA="${STANZA:-ticketing}"
CONFIG="${CONFIG:-/etc/pgbackrest/pgbackrest.conf}"

if [ -e "$NEW_PGDATA" ] && [ -n "$(ls -A "$NEW_PGDATA")" ]; then
    echo "pitr-restore: $NEW_PGDATA is not empty; restore into a new directory" >&2
    exit 2
fi
mkdir -p "$NEW_PGDATA"
chmod 0700 "$NEW_PGDATA"
pgbackrest --config="$CONFIG" --stanza="$STANZA" --pg1-path="$NEW_PGDATA" \
    --type=time --target="$TARGET" --target-action=promote restore
