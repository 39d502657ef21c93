"""``make bench-growth``: does every page stay flat as a season's data piles up?

One run, one dedicated database (created, migrated and dropped like ``make bench``'s):

1. through the API, as staff would: a 10,000-seat stadium and one published template match;
2. the season, in set-based SQL that keeps every invariant (bench/results/growth.md): copies
   of the template match with 30 % of their seats sold in orders of one or two seats to a pool
   of fans whose wallets equal their ledgers, and the tallies the app keeps (decision 0038);
3. at each size S, M and L (the database grows from one to the next), the operations of
   issue 29 and the buying path are timed through the production path: ``pserve
   production.ini`` processes behind the deployed nginx (bench/rush.py's Cluster);
4. the invariants are checked, the results written to ``bench/results/growth.json``,
   ``docs/perf/growth.svg`` and the growth section of ``docs/performance.md``.

It fails (exit 1) when an operation at L takes more than 3x its time at S, or more than
200 ms (the section delete and the match cancellation: 1 s); the admin seat map page, which
draws the stadium (not the season), when it weighs over 200 KB. Times are medians of repeated
requests; the 3x rule allows 5 ms of slack, below which a ratio of two tiny medians is noise.

    python -m bench.growth            # S, M, L (L is 2M match seats: see the build times)
    python -m bench.growth --smoke    # tiny sizes: checks the harness in a minute
"""
import argparse
import http.cookiejar
import json
import os
import re
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from bench import environment, prepare, svg
from bench.environment import log
from bench.rush import Cluster

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
CHART = ROOT / "docs" / "perf" / "growth.svg"

#: size -> (matches, fans). Every match is a copy of a 10,000-seat one, 30 % sold.
SIZES = {"S": (15, 2_000), "M": (60, 15_000), "L": (200, 60_000)}
SMOKE_SIZES = {"S": (5, 200), "M": (10, 400), "L": (15, 600)}
SECTIONS, ROWS, SEATS_PER_ROW = 10, 40, 25  # 10,000 seats
SOLD_ROWS = 3  # of every 10 rows of a section: 30 % of the seats
LIMIT_MS, SLOW_LIMIT_MS, RATIO, SLACK_MS = 200, 1000, 3, 5
SLOW = ("delete an unused 500-seat section", "cancel a match with 3,000 sold tickets")
REPEATS = 15
#: Matches cancelled at each size (the first one warms up, the median of the others counts).
CANCELLATIONS = 4
#: The admin seat map page is judged by its weight (issue 29: under 200 KB at 12,000 seats);
#: its time is reported. It draws every seat of the stadium, so it grows with the stadium,
#: never with the season.
WEIGHED = {"admin seat map page (10,000 seats)": 200_000}


# --- the season, in set-based SQL ------------------------------------------------------------

# One copy of the template match: the match, its categories, plan and inventory, 30 % of the
# seats sold in orders of up to two adjacent seats (a hold checked out, an order, its tickets,
# the payment in the ledger and off the wallet), and the tallies the app keeps. One transaction.
_CLONE = """
CREATE TEMP TABLE new_match ON COMMIT DROP AS
WITH m AS (
    INSERT INTO matches (stadium_id, home_team, away_team, starts_at, sales_open_at, sales_close_at,
                         refund_cutoff_at, hold_seconds, max_tickets_per_fan, status, published_at)
    SELECT stadium_id, 'Season ' || %(n)s, away_team, starts_at + make_interval(hours => %(n)s),
           sales_open_at, sales_close_at + make_interval(hours => %(n)s),
           refund_cutoff_at + make_interval(hours => %(n)s), hold_seconds, max_tickets_per_fan, 'on_sale', now()
    FROM matches WHERE id = %(t)s RETURNING id)
SELECT id FROM m;

INSERT INTO price_categories (match_id, name, price, currency)
SELECT (SELECT id FROM new_match), name, price, currency FROM price_categories WHERE match_id = %(t)s;

CREATE TEMP TABLE category_map ON COMMIT DROP AS
SELECT o.id AS old_id, n.id AS new_id FROM price_categories o
JOIN price_categories n ON n.match_id = (SELECT id FROM new_match) AND n.name = o.name
WHERE o.match_id = %(t)s;

INSERT INTO seat_assignments (match_id, seat_id, category_id, blocked_reason)
SELECT (SELECT id FROM new_match), a.seat_id, c.new_id, a.blocked_reason
FROM seat_assignments a LEFT JOIN category_map c ON c.old_id = a.category_id WHERE a.match_id = %(t)s;

CREATE TEMP TABLE sale ON COMMIT DROP AS
SELECT ms.seat_id, ms.section_id, ms.row_index, ms.number, c.new_id AS category_id, ms.price,
       dense_rank() OVER (ORDER BY ms.section_id, ms.row_index, (ms.number + 1) / 2) AS k
FROM match_seats ms JOIN category_map c ON c.old_id = ms.category_id
WHERE ms.match_id = %(t)s AND ms.status <> 'blocked' AND ms.row_index %% 10 < %(sold_rows)s;

CREATE TEMP TABLE sale_orders ON COMMIT DROP AS
SELECT k, nextval('holds_id_seq') AS hold_id, nextval('orders_id_seq') AS order_id,
       (SELECT user_id FROM bench_fans WHERE ord = 1 + (k * 7919 + %(n)s * 104729) %% %(fans)s) AS user_id,
       array_agg(seat_id ORDER BY seat_id) AS seat_ids, sum(price) AS total
FROM sale GROUP BY k;

INSERT INTO holds (id, match_id, user_id, seat_ids, total, currency, status, expires_at)
SELECT hold_id, (SELECT id FROM new_match), user_id, seat_ids, total, 'EUR', 'checked_out', now()
FROM sale_orders;

INSERT INTO orders (id, user_id, match_id, hold_id, status, total, currency, created_at)
SELECT order_id, user_id, (SELECT id FROM new_match), hold_id, 'paid', total, 'EUR',
       now() - make_interval(days => %(age)s, mins => ((k * 37) %% 1440)::int)
FROM sale_orders;

INSERT INTO match_seats (match_id, seat_id, section_id, row_index, number, category_id, price, status,
                         blocked_reason, order_id)
SELECT (SELECT id FROM new_match), ms.seat_id, ms.section_id, ms.row_index, ms.number, c.new_id, ms.price,
       -- the template's own sales (the buying path's timings) are not copied: only the plan
       CASE WHEN s.seat_id IS NOT NULL THEN 'sold' WHEN ms.status = 'blocked' THEN 'blocked' ELSE 'available' END,
       ms.blocked_reason, so.order_id
FROM match_seats ms LEFT JOIN category_map c ON c.old_id = ms.category_id
LEFT JOIN sale s ON s.seat_id = ms.seat_id LEFT JOIN sale_orders so ON so.k = s.k
WHERE ms.match_id = %(t)s;

INSERT INTO tickets (order_id, user_id, match_id, seat_id, category_id, price, status)
SELECT so.order_id, so.user_id, (SELECT id FROM new_match), s.seat_id, s.category_id, s.price, 'valid'
FROM sale s JOIN sale_orders so ON so.k = s.k;

CREATE TEMP TABLE paid ON COMMIT DROP AS
WITH per_fan AS (SELECT user_id, sum(total) AS amount FROM sale_orders GROUP BY user_id)
, debited AS (
    UPDATE wallets w SET balance = w.balance - p.amount FROM per_fan p WHERE w.user_id = p.user_id
    RETURNING w.user_id, w.balance)
SELECT * FROM debited;

-- One payment row per order; balance_after runs down in order-id order to the new balance.
INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id, created_at)
SELECT so.user_id, 'payment', so.total,
       p.balance + sum(so.total) OVER (PARTITION BY so.user_id ORDER BY so.order_id DESC) - so.total,
       'EUR', so.order_id, now()
FROM sale_orders so JOIN paid p ON p.user_id = so.user_id ORDER BY so.user_id, so.order_id;

INSERT INTO match_seat_versions (match_id, shard, version, seats, sold, blocked, paid_orders, revenue)
SELECT (SELECT id FROM new_match), shard, 0,
       CASE shard WHEN 0 THEN (SELECT count(*) FROM match_seats WHERE match_id = %(t)s) ELSE 0 END,
       CASE shard WHEN 0 THEN (SELECT count(*) FROM sale) ELSE 0 END,
       CASE shard WHEN 0 THEN (SELECT count(*) FROM match_seats WHERE match_id = %(t)s AND status = 'blocked')
            ELSE 0 END,
       CASE shard WHEN 0 THEN (SELECT count(*) FROM sale_orders) ELSE 0 END,
       CASE shard WHEN 0 THEN (SELECT coalesce(sum(total), 0) FROM sale_orders) ELSE 0 END
FROM generate_series(0, 15) AS shard;
"""


def add_fans(url, count):
    """``count`` more fans with funded wallets (prepare.create_users: a top-up row each), and
    their place in ``bench_fans`` (ord 1..n), the pool the copies sell to."""
    ids = prepare.create_users(url, count, "customer", prepare.WALLET_BALANCE)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_fans (ord bigint PRIMARY KEY, user_id bigint NOT NULL)")
        cur.execute("INSERT INTO bench_fans (ord, user_id) SELECT coalesce((SELECT max(ord) FROM bench_fans), 0) + "
                    "row_number() OVER (ORDER BY id), id FROM unnest(%s::bigint[]) AS id", (ids,))
        cur.execute("SELECT count(*) FROM bench_fans")
        total = cur.fetchone()[0]
    conn.close()
    return total


def grow(url, template_id, first, last, fans):
    """Copies number ``first`` .. ``last - 1`` of the template match, one transaction each."""
    conn = psycopg2.connect(url)
    started = time.monotonic()
    try:
        # One copy is one day of the season, its orders placed over that day; the newest copy
        # is today. What was sold before is moved back by the days added, so the last 30 days
        # (the dashboard's chart) hold about the same sales at every size, as in a real season.
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE orders SET created_at = created_at - make_interval(days => %(d)s), "
                        "cancelled_at = cancelled_at - make_interval(days => %(d)s)", {"d": last - first})
        for n in range(first, last):
            with conn, conn.cursor() as cur:
                cur.execute(_CLONE, {"t": template_id, "n": n, "fans": fans, "sold_rows": SOLD_ROWS,
                                     "age": last - 1 - n})
            if (n - first + 1) % 20 == 0:
                log(f"  {n - first + 1}/{last - first} matches copied ({time.monotonic() - started:.0f} s)")
    finally:
        conn.close()
    environment.vacuum(url)
    return round(time.monotonic() - started, 1)


def shape(url):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("""SELECT (SELECT count(*) FROM matches), (SELECT count(*) FROM match_seats),
                              (SELECT count(*) FROM orders), (SELECT count(*) FROM users),
                              (SELECT count(*) FROM tickets), pg_database_size(current_database())""")
        matches, seats, orders, users, tickets, size = cur.fetchone()
    conn.close()
    return {"matches": matches, "match_seats": seats, "orders": orders, "users": users, "tickets": tickets,
            "db_mb": round(size / 2**20)}


def invariants(url):
    """The product's invariants (tests/invariants.py) over the whole season."""
    from tests.invariants import CHECKS

    conn = psycopg2.connect(url)
    broken = {}
    with conn.cursor() as cur:
        for name, sql in CHECKS.items():
            cur.execute(sql)
            rows = cur.fetchmany(3)
            if rows:
                broken[name] = [list(map(str, row)) for row in rows]
    conn.close()
    return broken


# --- timing through nginx --------------------------------------------------------------------

class _LoopbackPolicy(http.cookiejar.DefaultCookiePolicy):
    """Production cookies are ``Secure``; like a browser, which treats http://127.0.0.1 as a
    secure context, send them to the loopback address the bench runs on."""

    def return_ok_secure(self, cookie, request):
        return True


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to time, not to follow (a form's 303)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """urllib with a cookie jar: the admin pages' session, the API's bearer token."""

    def __init__(self, base, token=None):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(_NoRedirects(), urllib.request.HTTPCookieProcessor(
            http.cookiejar.CookieJar(_LoopbackPolicy())))

    def request(self, method, path, body=None, headers=None, form=None):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=120) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            payload, status = error.read(), error.code
        return status, payload, (time.perf_counter() - started) * 1000

    def login(self, email, password):
        _, page, _ = self.request("GET", "/admin/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        status, _, _ = self.request("POST", "/admin/login", form={"csrf_token": token, "email": email,
                                                                   "password": password, "next": ""})
        assert status in (200, 303), status


def timed(call, repeats=REPEATS, expect=(200,)):
    """Median and p95 (ms) of ``repeats`` calls after one warm-up; the last body's size."""
    call()
    times, size = [], 0
    for _ in range(repeats):
        status, payload, ms = call()
        if status not in expect:
            raise RuntimeError(f"unexpected status {status}: {payload[:300]!r}")
        times.append(ms)
        size = len(payload)
    times.sort()
    return {"median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1), "bytes": size}


def once(call, expect):
    status, payload, ms = call()
    if status not in expect:
        raise RuntimeError(f"unexpected status {status}: {payload[:300]!r}")
    return {"median_ms": round(ms, 1), "p95_ms": round(ms, 1), "bytes": len(payload)}


def measure(base, url, ctx, size):
    """Every operation at this size, sequentially, through nginx."""
    staff, admin, anonymous = ctx["staff"], ctx["admin"], Client(base)
    template, stadium = ctx["template"], ctx["stadium"]
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT u.email, u.full_name FROM orders o JOIN users u ON u.id = o.user_id "
                    "ORDER BY o.id DESC LIMIT 1")
        email, name = cur.fetchone()
        cur.execute("SELECT id FROM matches WHERE status = 'on_sale' AND home_team LIKE 'Season %%' "
                    "ORDER BY id DESC LIMIT %s", (CANCELLATIONS,))
        victims = iter([row[0] for row in cur.fetchall()])
    conn.close()
    # "-" and the start of the md5 in the address (bench-customer-<n>-<md5>): one user, and
    # never all digits (which the search would take for an order number).
    part = "-" + email.split("@")[0].split("-")[-1][:7]
    ops = {}
    log(f"{size}: timing the operations through nginx ({REPEATS} requests each)")
    ops["GET /matches?limit=100"] = timed(lambda: anonymous.request("GET", "/api/v1/matches?limit=100"))
    ops["GET /matches (page of 20)"] = timed(lambda: anonymous.request("GET", "/api/v1/matches?limit=20"))
    ops["admin dashboard"] = timed(lambda: admin.request("GET", "/admin/"))
    ops["admin orders list"] = timed(lambda: admin.request("GET", "/admin/orders"))
    ops["admin orders by e-mail"] = timed(
        lambda: admin.request("GET", "/admin/orders?q=" + urllib.parse.quote(email)))
    ops["API orders by e-mail"] = timed(
        lambda: staff.request("GET", "/api/v1/orders?email=" + urllib.parse.quote(email)))
    ops["admin orders by part of e-mail"] = timed(lambda: admin.request("GET", "/admin/orders?q=" + part))
    ops["admin user search"] = timed(lambda: admin.request("GET", "/admin/users?q=" + part))
    ops["admin audit log, action prefix"] = timed(lambda: admin.request("GET", "/admin/audit?action=match."))
    seats_path = f"/api/v1/matches/{template}/seats"
    ops["seat map (200, nginx's 1 s cache)"] = timed(lambda: anonymous.request("GET", seats_path, headers={"Cache-Control": "no-cache"}))
    # nginx may still hold (and serve, while it refreshes) a body from before this size's
    # writes: let it refresh, then take the ETag from the app itself.
    time.sleep(1.5)
    anonymous.request("GET", seats_path)
    time.sleep(1.5)
    etag = ctx["etag"](seats_path)
    ops["seat map (304)"] = timed(lambda: anonymous.request("GET", seats_path, headers={"If-None-Match": etag}),
                                  expect=(304,))
    ops["admin seat map page (10,000 seats)"] = timed(
        lambda: admin.request("GET", f"/admin/matches/{template}/seats"), repeats=5)
    # The buying path: a fresh fan each time holds two seats and pays.
    fans = iter(ctx["buyers"].pop(size))

    def hold():
        fan = Client(base, next(fans)[1])
        status, payload, ms = fan.request("POST", f"/api/v1/matches/{template}/holds", {"quantity": 2})
        ctx["held"].append((fan, json.loads(payload)["id"] if status == 201 else None))
        return status, payload, ms

    ops["hold two seats"] = timed(hold, expect=(201,))

    def checkout():
        fan, hold_id = ctx["held"].pop()
        return fan.request("POST", f"/api/v1/holds/{hold_id}/checkout")

    ops["checkout"] = timed(checkout, repeats=min(REPEATS, len(ctx["held"]) - 1), expect=(201,))
    ctx["held"].clear()
    # The one-shot operations: a fresh 500-seat section deleted, a sold match cancelled.
    section = prepare.api(base, "POST", f"/stadiums/{stadium}/sections",
                          {"name": f"Spare {size}", "rows": [{"label": str(r + 1), "seats": 25} for r in range(20)]},
                          ctx["staff_token"])
    ops[SLOW[0]] = once(lambda: staff.request("DELETE", f"/api/v1/stadiums/{stadium}/sections/{section['id']}"),
                        expect=(204,))
    ops[SLOW[1]] = timed(lambda: staff.request("POST", f"/api/v1/matches/{next(victims)}/cancel"),
                         repeats=CANCELLATIONS - 1, expect=(200,))
    for name, result in ops.items():
        log(f"  {name}: median {result['median_ms']} ms, p95 {result['p95_ms']} ms, {result['bytes']} bytes")
    return ops


# --- verdict, chart, document ----------------------------------------------------------------

def verdicts(results):
    s, l = results["sizes"]["S"]["ops"], results["sizes"]["L"]["ops"]
    failures = []
    for name, at_l in l.items():
        if name in WEIGHED:
            if at_l["bytes"] > WEIGHED[name]:
                failures.append(f"{name}: {at_l['bytes']} bytes at L, over {WEIGHED[name]}")
            continue
        limit = SLOW_LIMIT_MS if name in SLOW else LIMIT_MS
        small = s[name]["median_ms"]
        if at_l["median_ms"] > limit:
            failures.append(f"{name}: {at_l['median_ms']} ms at L, over {limit} ms")
        if at_l["median_ms"] > RATIO * small + SLACK_MS:
            failures.append(f"{name}: {at_l['median_ms']} ms at L, over {RATIO}x its {small} ms at S")
    return failures


def chart(results):
    names = list(results["sizes"]["S"]["ops"])
    sizes = list(results["sizes"])
    values = [[results["sizes"][size]["ops"][name]["median_ms"] for name in names] for size in sizes]
    short = [re.sub(r"\s*\(.*\)|admin |GET ", "", name)[:14] for name in names]
    # bench/svg.py's width is made for a handful of groups: wider for every operation.
    width, svg.WIDTH = svg.WIDTH, max(svg.WIDTH, 75 * len(names) + 100)
    try:
        body = svg.grouped_bars("Median time per operation as the season grows (ms, through nginx)", short,
                                [f"{size}: {results['sizes'][size]['shape']['match_seats']:,} match seats"
                                 for size in sizes], values, "ms", lines=[("200 ms limit", LIMIT_MS, "#b8323a")],
                                value_format="{:.0f}")
    finally:
        svg.WIDTH = width
    CHART.parent.mkdir(parents=True, exist_ok=True)
    CHART.write_text(body)


def section(results):
    """The growth section of docs/performance.md (bench/report.py includes it too)."""
    out = ["## A season's worth of data (`make bench-growth`)", "",
           "<!-- Rendered by `python -m bench.growth` from bench/results/growth.json. -->", "",
           "```sh", "make bench-growth   # S, M, L in a dedicated database; about 12 minutes and 1 GB of disk", "```",
           "", "Needs Debian's `nginx` and a PostgreSQL, as `make bench`. How the season is built, the runs and "
           "what was changed between them: [`bench/results/growth.md`](../bench/results/growth.md).", "",
           f"Run {results['finished_at']} on {results['machine'].get('cores', '?')} cores. One database grows "
           "from S to M to L (copies of a 10,000-seat match, 30 % sold, built in set-based SQL that keeps every "
           "invariant); at each size every operation is timed through nginx in front of 2 `pserve "
           "production.ini` processes, sequentially, the median of "
           f"{REPEATS} requests after a warm-up (one request for the section delete; {CANCELLATIONS - 1} matches "
           "cancelled after a first one for the cancellation). The admin seat map page is judged by its weight "
           "(under 200 KB), its time shown. "
           f"It fails when an operation at L is over {RATIO}x its S time (+{SLACK_MS} ms of slack) or over "
           f"{LIMIT_MS} ms ({SLOW_LIMIT_MS} ms for the section delete and the cancellation).", "",
           "| size | matches | match_seats | orders | users | tickets | DB size | built in | invariants |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, data in results["sizes"].items():
        shape_ = data["shape"]
        out.append(f"| {size} | {shape_['matches']:,} | {shape_['match_seats']:,} | {shape_['orders']:,} | "
                   f"{shape_['users']:,} | {shape_['tickets']:,} | {shape_['db_mb']} MB | {data['build_s']} s | "
                   f"{'all hold' if not data['invariants'] else 'BROKEN: ' + ', '.join(data['invariants'])} |")
    loads = [data.get("load_average") for data in results["sizes"].values()]
    out += ["", "The machine's other work moves these medians: " + (
        "load average (1, 5, 15 min) after each size: " + "; ".join(
            f"{size} {load}" for size, load in zip(results["sizes"], loads)) + ". " if all(loads) else
        "this run shared its 2 cores with other sessions (load average 7-9 by `uptime`). ")
        + "Between runs the same operation moved by up to 2x either way; the first run and what "
        "it found are in the lab notes."]
    sizes = list(results["sizes"])
    out += ["", "| operation (median ms, p95 in brackets) | " + " | ".join(sizes) + " | L / S | verdict |",
            "| --- | " + " | ".join("---" for _ in sizes) + " | --- | --- |"]
    for name in results["sizes"]["S"]["ops"]:
        cells = [f"{results['sizes'][size]['ops'][name]['median_ms']} ({results['sizes'][size]['ops'][name]['p95_ms']})"
                 for size in sizes]
        s, l = (results["sizes"][size]["ops"][name]["median_ms"] for size in ("S", "L"))
        failed = any(failure.startswith(name + ":") for failure in results["failures"])
        out.append(f"| {name} | " + " | ".join(cells) + f" | {l / s if s else 0:.1f}x | "
                   f"{'FAILED' if failed else 'ok'} |")
    weight = results["sizes"]["L"]["ops"].get("admin seat map page (10,000 seats)", {}).get("bytes")
    out += ["", f"The admin seat map page of the 10,000-seat match weighs {weight:,} bytes of HTML." if weight else "",
            "", "![Median time per operation at S, M and L](perf/growth.svg)", "",
            "Verdict: " + ("every operation stays flat." if not results["failures"]
                           else "FAILED: " + "; ".join(results["failures"])), ""]
    return out


def write_doc(results):
    """Replace (or add, before the lab notes) the growth section of docs/performance.md."""
    text = DOC.read_text()
    block = "\n".join(["<!-- growth:start -->"] + section(results) + ["<!-- growth:end -->"])
    if "<!-- growth:start -->" in text:
        text = re.sub(r"<!-- growth:start -->.*?<!-- growth:end -->", lambda _: block, text, flags=re.S)
    else:
        text = text.replace("## Lab notes", block + "\n\n## Lab notes", 1)
    DOC.write_text(text)


# --- the run ---------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness")
    parser.add_argument("--no-report", action="store_true", help="keep docs/ untouched")
    parser.add_argument("--render", action="store_true", help="only render docs/ from bench/results/growth.json")
    args = parser.parse_args(argv)
    if args.render:
        render_only()
        return 0
    sizes = SMOKE_SIZES if args.smoke else SIZES
    run_secrets = environment.generated_secrets()
    results = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "smoke": args.smoke,
               "machine": environment.machine(), "sizes": {}}
    with environment.fresh_database(run_secrets) as url:
        staff_id, admin_id = (prepare.create_users(url, 1, role, 0)[0] for role in ("staff", "admin"))
        admin_password = "bench-growth-" + run_secrets["TICKETING_SESSION_SECRET"][:12]
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            from ticketing.services import passwords
            cur.execute("UPDATE users SET password_hash = %s WHERE id = %s RETURNING email",
                        (passwords.hash_password(admin_password, rounds=4), admin_id))
            admin_email = cur.fetchone()[0]
        conn.close()
        token_settings = prepare.token_settings(environment.INI, run_secrets)
        staff_token = prepare.issue_tokens(token_settings, [staff_id], "staff")[0][1]
        cluster = Cluster(url, run_secrets, 2, "growth")
        try:
            base = cluster.base
            stadium = prepare.api(base, "POST", "/stadiums", {"name": "Season Arena", "city": "Maribor"}, staff_token)
            sections = [prepare.api(base, "POST", f"/stadiums/{stadium['id']}/sections",
                                    {"name": f"Section {i + 1:02d}",
                                     "rows": [{"label": str(r + 1), "seats": SEATS_PER_ROW} for r in range(ROWS)]},
                                    staff_token) for i in range(SECTIONS)]
            template = _template_match(base, staff_token, stadium, sections)
            admin = Client(base)
            admin.login(admin_email, admin_password)
            ctx = {"staff": Client(base, staff_token), "admin": admin, "template": template,
                   "stadium": stadium["id"], "staff_token": staff_token, "held": [],
                   "etag": lambda path: _etag(cluster.apps[0].base + path)}
            ctx["buyers"] = {size: prepare.issue_tokens(token_settings, prepare.create_users(
                url, REPEATS + 2, "customer", prepare.WALLET_BALANCE)) for size in sizes}
            copied = fans = 0
            for size, (matches, fan_count) in sizes.items():
                log(f"{size}: growing to {matches} matches and {fan_count} fans")
                started = time.monotonic()
                fans = add_fans(url, fan_count - fans)
                build_s = grow(url, template, copied, matches, fans)
                build_s = round(time.monotonic() - started, 1)
                copied = matches
                shape_ = shape(url)
                log(f"{size}: built in {build_s} s: {shape_}")
                ops = measure(base, url, ctx, size)
                broken = invariants(url)
                results["sizes"][size] = {"shape": shape_, "build_s": build_s, "ops": ops,
                                          "invariants": list(broken),
                                          "load_average": [round(x, 1) for x in os.getloadavg()]}
                if broken:
                    log(f"{size}: INVARIANTS BROKEN: {broken}")
        finally:
            cluster.stop()
    results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["failures"] = verdicts(results) + [f"invariants broken at {size}" for size, data in
                                               results["sizes"].items() if data["invariants"]]
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "growth-smoke.json" if args.smoke else "growth.json"
    (RESULTS / name).write_text(json.dumps(results, indent=1) + "\n")
    if not args.no_report and not args.smoke:
        chart(results)
        write_doc(results)
    for failure in results["failures"]:
        log("FAILED: " + failure)
    return 1 if results["failures"] else 0


def render_only():
    """Render the chart and the section again from bench/results/growth.json (no run)."""
    results = json.loads((RESULTS / "growth.json").read_text())
    chart(results)
    write_doc(results)


def _template_match(base, staff_token, stadium, sections):
    """The published 10,000-seat match every copy is made from, built through the API."""
    starts = datetime.now(timezone.utc).replace(microsecond=0)
    match = prepare.api(base, "POST", "/matches", {
        "stadium_id": stadium["id"], "home_team": "Season Template", "away_team": "Block Volley",
        "starts_at": (starts.replace(year=starts.year + 1)).isoformat().replace("+00:00", "Z")}, staff_token)
    assignments = []
    for name, price, section_range in (("Courtside", 6000, range(0, 2)), ("Long side", 3500, range(2, 6)),
                                       ("Ends", 2000, range(6, SECTIONS))):
        category = prepare.api(base, "POST", f"/matches/{match['id']}/categories",
                               {"name": name, "price": price}, staff_token)
        assignments += [{"section_id": sections[i]["id"], "category_id": category["id"]} for i in section_range]
    prepare.api(base, "PUT", f"/matches/{match['id']}/seating", {"assignments": assignments}, staff_token)
    prepare.api(base, "POST", f"/matches/{match['id']}/publish", None, staff_token)
    return match["id"]


def _etag(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["ETag"]


if __name__ == "__main__":
    sys.exit(main())
