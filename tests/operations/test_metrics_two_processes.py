"""Two app processes of one host, a purchase burst through both, and ``/metrics`` scraped from
each during and after it: the counters agree with the database (purchases counted = orders
stored, seats sold = tickets), whichever process is asked, because multiprocess mode sums the
host's processes (ticketing/metrics.py, decision 0050)."""
import threading
import time

import requests
from sqlalchemy import create_engine, text

from ..hardening.throwaway_cluster import free_port
from ..live_server import seed_sale, start_app
from .metrics_text import total

SEATS, BUYERS = 120, 12


def test_counters_of_two_processes_agree_with_the_database(database_url, clean_db, tmp_path, monkeypatch):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    apps = []
    engine = create_engine(database_url)
    try:
        for name in ("a", "b"):
            directory = tmp_path / name
            directory.mkdir()
            app, settings = start_app(database_url, directory, free_port())
            apps.append(app)
        match_id, fans = seed_sale(engine, settings, apps[0].url, SEATS, BUYERS, name="metrics",
                                     max_tickets_per_fan=50)
        acknowledged, lock, stop = [], threading.Lock(), threading.Event()

        def buyer(index, headers):
            app = apps[index % 2]  # half the fans on each process
            session = requests.Session()
            while not stop.is_set():
                hold = session.post(app.url(f"/api/v1/matches/{match_id}/holds"), json={"quantity": 1},
                                    headers=headers, timeout=10)
                if hold.status_code != 201:
                    if hold.status_code == 409:  # sold out, or this fan's limit reached
                        return
                    continue
                order = session.post(app.url(f"/api/v1/holds/{hold.json()['id']}/checkout"), headers=headers,
                                     timeout=10)
                if order.status_code == 201:
                    with lock:
                        acknowledged.append(order.json()["id"])

        threads = [threading.Thread(target=buyer, args=(i, fan)) for i, fan in enumerate(fans)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        during = requests.get(apps[1].url("/metrics"), timeout=10)  # a scrape mid-burst answers
        assert during.status_code == 200
        for thread in threads:
            thread.join(timeout=60)
        stop.set()
        assert acknowledged, "no purchase completed: the burst never ran"

        with engine.connect() as conn:
            orders = conn.execute(text("SELECT count(*) FROM orders WHERE match_id = :m"), {"m": match_id}).scalar_one()
            tickets = conn.execute(text("SELECT count(*) FROM tickets WHERE match_id = :m"), {"m": match_id}).scalar_one()
            holds = conn.execute(text("SELECT count(*) FROM holds WHERE match_id = :m"), {"m": match_id}).scalar_one()
        assert len(acknowledged) == orders
        assert total(during.text, "ticketing_purchases_total") <= orders
        scrapes = [requests.get(app.url("/metrics"), timeout=10).text for app in apps]
        # Seats are read from the database at most every 15 s per process: process a was not
        # scraped before, so its figures are fresh; b's may be those of the mid-burst scrape.
        assert total(scrapes[0], "ticketing_match_seats", match_id=str(match_id), status="sold") == tickets
        assert total(scrapes[1], "ticketing_match_seats", match_id=str(match_id), status="sold") <= tickets
        for body in scrapes:  # either process answers for the host
            assert total(body, "ticketing_purchases_total") == orders
            assert total(body, "ticketing_seats_sold_total") == tickets
            assert total(body, "ticketing_holds_created_total") == holds
            assert total(body, "ticketing_http_requests_total", route="api.hold.checkout", status="201") == orders
            assert total(body, "ticketing_http_request_duration_seconds_count", route="api.match.holds") >= holds
            assert total(body, "ticketing_http_requests_in_flight") == 1  # the scrape itself
            assert total(body, "ticketing_db_pool_size", pool="session") == 2 * 8
            assert total(body, "ticketing_db_pool_checked_out", pool="session") == 0  # all returned
        # Both processes served the burst: each wrote its own samples to the shared directory.
        assert len({path.name.rpartition("_")[2] for path in metrics_dir.glob("counter_*.db")}) == 2
    finally:
        for app in apps:
            app.stop()
        engine.dispose()
