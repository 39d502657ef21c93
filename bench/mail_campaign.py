"""Lab run: one notice to the 12,000 ticket holders of a cancelled match, through the real
sender into a local SMTP server (aiosmtpd), timed. ``python -m bench.mail_campaign [N]``.

Builds a fresh database (bench.environment), a match with N holders (one paid order each,
written in bulk SQL: the campaign reads orders and users only), starts the campaign as the
match cancellation does, then runs ``mail.drain`` as ``ticketing-mail-sender`` would, and
writes the timings to bench/results/mail-campaign.json. Bounded: it stops after 60 s, and
then says how far it got (a real run simply goes on: the campaign resumes where it stopped).
"""
import json
import socket
import sys
import time
from pathlib import Path

import transaction
from aiosmtpd.controller import Controller
from sqlalchemy import text

from ticketing.models import get_engine, get_session_factory, get_tm_session
from ticketing.services import mail, notices
from ticketing.settings import normalize_settings

from .environment import fresh_database, generated_secrets, log, machine

RESULTS = Path(__file__).resolve().parent / "results" / "mail-campaign.json"
BUDGET_SECONDS = 60


class Counter:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def holders(engine, count):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO stadiums (name, city) VALUES ('Bench Arena', 'Ljubljana')"))
        match_id = conn.execute(text("""
            INSERT INTO matches (stadium_id, home_team, away_team, starts_at, sales_open_at, sales_close_at,
                                 refund_cutoff_at, status)
            SELECT id, 'ACH Volley', 'Calcit', now() + interval '30 days', now(), now() + interval '29 days',
                   now() + interval '28 days', 'on_sale' FROM stadiums RETURNING id""")).scalar_one()
        conn.execute(text("""
            INSERT INTO users (email, full_name, password_hash, locale)
            SELECT 'holder-' || g || '@example.com', 'Holder ' || g, '!', CASE WHEN g % 3 = 0 THEN 'en' ELSE 'sl' END
            FROM generate_series(1, :n) AS g"""), {"n": count})
        conn.execute(text("""
            INSERT INTO holds (match_id, user_id, seat_ids, total, currency, status, expires_at)
            SELECT :m, id, ARRAY[id], 2500, 'EUR', 'checked_out', now() FROM users"""), {"m": match_id})
        conn.execute(text("""
            INSERT INTO orders (user_id, match_id, hold_id, total, currency)
            SELECT user_id, match_id, id, total, currency FROM holds"""))
    return match_id


def main(count=12_000):
    smtp = Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    run_secrets = generated_secrets()
    try:
        with fresh_database(run_secrets) as url:
            settings = normalize_settings({"sqlalchemy.url": url, "ticketing.environment": "test",
                                           "mail.host": "127.0.0.1", "mail.port": str(port)})
            engine = get_engine(settings)
            session_factory = get_session_factory(engine)
            match_id = holders(engine, count)

            started = time.perf_counter()
            manager = transaction.TransactionManager(explicit=True)
            with manager:
                session = get_tm_session(session_factory, manager)
                match = session.execute(text("SELECT * FROM matches WHERE id = :m"), {"m": match_id}).one()
                notices.match_cancelled(session, match)
            start_seconds = time.perf_counter() - started

            transport = mail.transport_from_settings(settings)
            expanded_at = None
            deadline = time.perf_counter() + BUDGET_SECONDS
            while time.perf_counter() < deadline:
                with session_factory() as session, session.begin():
                    more = mail.expand_campaign_batch(session)
                if not more and expanded_at is None:
                    expanded_at = time.perf_counter() - started
                report = mail.send_due(session_factory, transport, "bench@example.com", limit=500)
                if not more and report.sent == 0:
                    break
            total_seconds = time.perf_counter() - started
            with engine.connect() as conn:
                queued = conn.execute(text("SELECT enqueued FROM mail_campaigns")).scalar_one()
            engine.dispose()
    finally:
        controller.stop()
    result = {"holders": count,
              # The staff's cancel transaction: the campaign row and its count of holders.
              "campaign_start_s": round(start_seconds, 3),
              "queued": queued, "all_queued_after_s": round(expanded_at, 2) if expanded_at else None,
              "delivered": smtp.count, "finished": smtp.count == count,
              "ran_s": round(total_seconds, 2), "messages_per_s": round(smtp.count / total_seconds, 1),
              "machine": machine()}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    log(json.dumps(result))
    return 0 if smtp.count == count else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 12_000))
