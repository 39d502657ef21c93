"""``ticketing INI sweep-holds``: mark lapsed holds expired and free their seats.

Correctness never depends on it (every claim treats an expired hold as free in the same
statement); it keeps reports and the "held" counts tidy. Run it every minute from cron or a
systemd timer (README, "Operations").
"""
from ticketing.scripts.cli import command
from ticketing.services import holds, idempotency


@command("sweep-holds", "expire lapsed holds and purge idempotency keys older than 24 h")
def sweep_holds(env, args):
    request = env["request"]
    with request.tm:
        expired, seats = holds.sweep_expired(request.dbsession)
    purged = idempotency.purge(env["registry"]["db_autocommit_engine"])
    print(f"expired {expired} holds, freed {seats} seats, purged {purged} idempotency keys")
