"""The untimed set-up: one stadium, published 5,000-seat matches, funded customers with tokens.

The catalogue goes through the public API as staff would build it (stadium, sections,
match, three price categories, seating plan, publish). Customers are created in bulk SQL,
like ``tests/concurrency/conftest.py`` does, with a funded wallet and its matching ledger
row (so invariant 4 holds from the start), and get access tokens signed with this run's
secret exactly as ``/auth/login`` would sign them.
"""
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import plaster
import psycopg2

from ticketing.services import passwords, tokens
from ticketing.settings import normalize_settings

SECTIONS = 10
ROWS_PER_SECTION = 20
SEATS_PER_ROW = 25  # 10 x 20 x 25 = 5,000 seats
SEATS = SECTIONS * ROWS_PER_SECTION * SEATS_PER_ROW
# (name, price in minor units, sections): three categories over the ten sections.
CATEGORIES = (("Courtside", 6000, range(0, 2)), ("Long side", 3500, range(2, 6)), ("Ends", 2000, range(6, 10)))
WALLET_BALANCE = 5_000_000


class ApiError(RuntimeError):
    pass


def api(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise ApiError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None


class _User:
    def __init__(self, user_id, role):
        self.id, self.role = user_id, role


def token_settings(ini, environ):
    """The app's own token settings: production.ini + this run's environment."""
    settings = plaster.get_loader(str(ini), protocols=["wsgi"]).get_settings("app:main")
    return tokens.TokenSettings(normalize_settings(settings, environ=environ))


def create_users(database_url, count, role, balance):
    """Insert ``count`` users (and funded wallets) in bulk; return their ids."""
    password_hash = passwords.hash_password("bench-not-a-login-" + role, rounds=4)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (email, full_name, password_hash, role) "
            "SELECT 'bench-' || %(role)s || '-' || g || '-' || md5(random()::text) || '@example.com', "
            "'Bench ' || g, %(hash)s, %(role)s FROM generate_series(1, %(n)s) AS g RETURNING id",
            {"role": role, "hash": password_hash, "n": count},
        )
        ids = [row[0] for row in cur.fetchall()]
        if balance:
            cur.execute(
                "INSERT INTO wallets (user_id, balance, currency) SELECT unnest(%(ids)s::bigint[]), %(b)s, 'EUR'",
                {"ids": ids, "b": balance},
            )
            cur.execute(
                "INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, reason) "
                "SELECT unnest(%(ids)s::bigint[]), 'top_up', %(b)s, %(b)s, 'EUR', 'benchmark funding'",
                {"ids": ids, "b": balance},
            )
    conn.close()
    return ids


#: The refresh-token family of the benchmark's tokens: none of its refresh tokens exist, so
#: no logout ever revokes it (every access token names a family, services/tokens.py).
BENCH_FAMILY = uuid.UUID("00000000-0000-4000-8000-00000000be4c")


def issue_tokens(settings, user_ids, role="customer"):
    return [(user_id, tokens.issue_access_token(settings, _User(user_id, role), BENCH_FAMILY)) for user_id in user_ids]


def create_stadium(base, staff_token):
    stadium = api(base, "POST", "/stadiums", {"name": "Bench Arena", "city": "Ljubljana"}, staff_token)
    sections = []
    for index in range(SECTIONS):
        rows = [{"label": str(r + 1), "seats": SEATS_PER_ROW} for r in range(ROWS_PER_SECTION)]
        sections.append(api(base, "POST", f"/stadiums/{stadium['id']}/sections",
                            {"name": f"Section {index + 1:02d}", "rows": rows}, staff_token))
    return stadium, sections


def create_match(base, staff_token, stadium, sections, label):
    starts = datetime.now(timezone.utc) + timedelta(days=30)
    match = api(base, "POST", "/matches", {
        "stadium_id": stadium["id"], "home_team": f"Bench {label}", "away_team": "Rush Volley",
        "starts_at": starts.isoformat().replace("+00:00", "Z"),
    }, staff_token)
    assignments = []
    for name, price, section_range in CATEGORIES:
        category = api(base, "POST", f"/matches/{match['id']}/categories", {"name": name, "price": price}, staff_token)
        assignments += [{"section_id": sections[i]["id"], "category_id": category["id"]} for i in section_range]
    seating = api(base, "PUT", f"/matches/{match['id']}/seating", {"assignments": assignments}, staff_token)
    assert seating["on_sale"] == SEATS, seating
    api(base, "POST", f"/matches/{match['id']}/publish", None, staff_token)
    return match["id"]


def open_sales_in(database_url, match_id, seconds):
    """Move a published match's sales opening ``seconds`` ahead (the queue scenario's crowd
    arrives around the opening). Set-up, untimed: staff would have scheduled it so."""
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE matches SET sales_open_at = now() + make_interval(secs => %s) WHERE id = %s "
                    "RETURNING sales_open_at", (seconds, match_id))
        opens = cur.fetchone()[0]
    conn.close()
    return opens
