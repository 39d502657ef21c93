"""The multi-step scenarios on a lean asyncio client (bench/http_client.py: keep-alive connections).

Each virtual buyer is a coroutine that loops until the match is sold out, its deadline
passes or the scenario's request budget is spent, so every scenario stops by itself.
Latency is measured per request type from just before the request is sent to the last byte
of the response; every status (and every client-side error) is counted.

The buyers act like a shop client: ``POST /matches/{id}/holds`` without a key, then
``POST /holds/{id}/checkout`` with a fresh ``Idempotency-Key`` (as the README's journey
does). Each purchase uses the next customer of a shared pool, so the per-fan limit is
respected and many different wallets are charged, as in a real rush.
"""
import asyncio
import itertools
import json
import random
import time
import uuid

from bench.http_client import ClientError, Origin, api_request
from bench.stats import Recorder, percentile

try:  # the 'bench' extra installs it: a cheaper event loop is less of the machine spent on load
    import uvloop
except ImportError:  # pragma: no cover - the stdlib loop does the same work, a little slower
    uvloop = None


def _run_loop(main):
    if uvloop is not None:
        return uvloop.run(main)
    return asyncio.run(main)


class Scenario:
    """Shared state of one scenario: its client session, customers, budget and outcomes."""

    def __init__(self, base, match_id, customers, concurrency, deadline_s, max_requests):
        # Several app processes (scale-out): buyer i talks to process i mod n, as a
        # round-robin load balancer with keep-alive connections would spread them.
        self.bases = [url + "/api/v1" for url in ([base] if isinstance(base, str) else base)]
        self.origins = [Origin(url) for url in self.bases]
        self.match_id = match_id
        self.customers = customers
        self._next_customer = itertools.count()
        self.concurrency = concurrency
        self.deadline_s = deadline_s
        self.max_requests = max_requests
        self.recorder = Recorder()
        self.orders = []  # (order id, user id, seats): every 2xx checkout the client saw
        self.purchase_seconds = []  # hold sent -> checkout's last byte, for every paid purchase
        self.requests = 0
        self.stopped = asyncio.Event()
        self.stop_reason = None
        self.last_checkout_at = None
        self._sold_out_check = None

    def customer(self):
        return self.customers[next(self._next_customer) % len(self.customers)]

    def stop(self, reason):
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    def running(self):
        if self.stopped.is_set():
            return False
        if time.monotonic() >= self.deadline:
            self.stop("deadline")
            return False
        if self.requests >= self.max_requests:
            self.stop("request budget")
            return False
        return True

    async def call(self, kind, method, path, token=None, body=None, headers=None, parse=True, buyer=0):
        """One request; returns (status, json body or raw bytes, response headers with
        lower-case names)."""
        self.requests += 1
        data, send = api_request(token, body, headers)
        started = time.perf_counter()
        try:
            status, response_headers, raw = await self.origins[buyer % len(self.origins)].request(
                method, path, data, send)
        except ClientError as error:
            self.recorder.add(kind, f"error:{error.kind}", time.perf_counter() - started)
            return None, None, None
        self.recorder.add(kind, status, time.perf_counter() - started)
        if parse and raw and status != 304:
            try:
                return status, json.loads(raw), response_headers
            except ValueError:
                return status, None, response_headers
        return status, raw, response_headers

    async def sold_out(self):
        """Ask the summary (shared by every buyer: one request in flight at a time)."""
        if self._sold_out_check is None or self._sold_out_check.done() and \
                time.monotonic() - self._sold_out_checked_at > 0.05:
            self._sold_out_checked_at = time.monotonic()
            self._sold_out_check = asyncio.ensure_future(self._ask_summary())
        return await asyncio.shield(self._sold_out_check)

    async def _ask_summary(self):
        status, body, _ = await self.call("summary", "GET", f"/matches/{self.match_id}/summary")
        if status != 200:
            return False
        if body["available"] == 0:
            self.stop("sold out")
            return True
        return False

    async def purchase(self, hold_body, buyer=0):
        """hold -> checkout for the next customer; returns the hold's status (or None), its
        body, and a refused hold's ``Retry-After`` in seconds (or None)."""
        user_id, token = self.customer()
        started = time.perf_counter()
        status, hold, headers = await self.call("hold", "POST", f"/matches/{self.match_id}/holds", token,
                                                hold_body, buyer=buyer)
        if status != 201:
            return status, hold, _seconds((headers or {}).get("retry-after"))
        status, order, _ = await self.call(
            "checkout", "POST", f"/holds/{hold['id']}/checkout", token,
            headers={"Idempotency-Key": uuid.uuid4().hex}, buyer=buyer,
        )
        if status == 201:
            self.orders.append((order["id"], user_id, len(order["tickets"])))
            self.purchase_seconds.append(time.perf_counter() - started)
            self.last_checkout_at = time.monotonic()
        return 201, hold, None

    async def close(self):
        await asyncio.gather(*(origin.close() for origin in self.origins))

    async def run(self, buyer):
        try:
            self.started = time.monotonic()
            self.deadline = self.started + self.deadline_s
            await asyncio.gather(*(buyer(self, index) for index in range(self.concurrency)))
            self.finished = time.monotonic()
        finally:
            await self.close()
        if self.stop_reason is None:
            self.stop_reason = "done"

    def result(self):
        wall = self.finished - self.started
        seats = sum(n for _, _, n in self.orders)
        result = {
            "concurrency": self.concurrency,
            "stop_reason": self.stop_reason,
            "wall_seconds": round(wall, 3),
            "purchases": len(self.orders),
            "seats_sold_by_client": seats,
            "purchases_per_s": round(len(self.orders) / wall, 1),
            "seats_per_s": round(seats / wall, 1),
            "requests": self.requests,
            "requests_per_s": round(self.requests / wall, 1),
            "http_5xx": self.recorder.count("5"),
            "client_errors": self.recorder.count("error"),
            "by_type": self.recorder.summary(wall),
        }
        if self.purchase_seconds:
            paid = sorted(self.purchase_seconds)
            result["paid_purchase_ms"] = {f"p{round(q * 100)}": round(percentile(paid, q) * 1000, 1)
                                          for q in (0.5, 0.95, 0.99)} | {"max": round(paid[-1] * 1000, 1)}
        if self.last_checkout_at is not None:
            result["last_purchase_at_s"] = round(self.last_checkout_at - self.started, 3)
        return result


def _seconds(retry_after):
    """A ``Retry-After`` in seconds (the app sends whole seconds), or None."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        return None


# --- 1. sell-out, best available ----------------------------------------------------------

async def best_available_buyer(scenario, index):
    while scenario.running():
        status, body, retry_after = await scenario.purchase({"quantity": 2}, index)
        if status == 409:
            if (body or {}).get("available", 1) < 2 and await scenario.sold_out():
                return
        elif status is None or status >= 500:
            # As docs/api.md tells clients: a refusal's Retry-After (a shed 503 says 1-5 s);
            # a failure without one (connection reset) is tried again at once.
            await asyncio.sleep(retry_after or 0.01)


# --- 2. chosen seats from a map that goes stale ---------------------------------------------

class MapCache:
    """Parsed seat maps by ETag, shared by all buyers: each body is downloaded by its buyer,
    but parsed once, so the client's CPU goes into requests, not into json.loads."""

    def __init__(self):
        self.available = {}

    def get(self, etag, raw):
        seats = self.available.get(etag)
        if seats is None:
            body = json.loads(raw)
            status_at = body["columns"].index("status")
            seats = [seat[0] for seat in body["seats"] if seat[status_at] == "available"]
            if len(self.available) > 64:
                self.available.clear()
            self.available[etag] = seats
        return seats


async def chosen_seats_buyer(scenario, index):
    rng = random.Random(index)
    etag, seats, tried = None, [], set()
    while scenario.running():
        headers = {"If-None-Match": etag} if etag else None
        status, raw, response_headers = await scenario.call(
            "seat_map", "GET", f"/matches/{scenario.match_id}/seats", headers=headers, parse=False,
            buyer=index)
        if status == 200:
            etag = response_headers["etag"]
            seats, tried = scenario.map_cache.get(etag, raw), set()
        elif status != 304:
            await asyncio.sleep(0.01)
            continue
        free = [seat for seat in seats if seat not in tried]
        if not free:
            if await scenario.sold_out():
                return
            etag = None  # our map says full but the match is not: fetch it whole again
            continue
        # Pick two neighbours in layout order from a random place of the (stale) map, buy,
        # and keep picking from the same map until the server says the seats are taken.
        while scenario.running() and free:
            start = rng.randrange(len(free))
            wanted = free[start:start + 2] if start + 1 < len(free) else free[start - 1:start + 1] or free[-1:]
            tried.update(wanted)
            status, body, _ = await scenario.purchase({"seat_ids": wanted}, index)
            if status == 201:
                free = [seat for seat in free if seat not in tried]
                continue
            break  # 409 (a collision) or a failure: refresh the map


# --- 4. mixed: 90 % seat-map polls, 10 % purchases -------------------------------------------

async def mixed_buyer(scenario, index):
    rng = random.Random(1000 + index)
    etag = None
    while scenario.running():
        if rng.random() < 0.9:
            headers = {"If-None-Match": etag} if etag else None
            status, _, response_headers = await scenario.call(
                "seat_map", "GET", f"/matches/{scenario.match_id}/seats", headers=headers, parse=False,
            buyer=index)
            if status == 200:
                etag = response_headers["etag"]
        else:
            status, body, _ = await scenario.purchase({"quantity": 2}, index)
            if status == 409 and (body or {}).get("available", 1) < 2 and await scenario.sold_out():
                return


BUYERS = {"best_available": best_available_buyer, "chosen_seats": chosen_seats_buyer, "mixed": mixed_buyer}


# --- 5. paced arrivals: latency at a given share of the peak ----------------------------------

async def _paced(scenario, rate_per_s, max_in_flight):
    """Open loop: a purchase starts every 1/rate seconds whatever the server's latency, as fans
    arrive in a rush; a closed loop (a fixed number of buyers) would instead slow its arrivals
    down to the server's pace and measure queueing it made itself."""
    in_flight = set()
    scenario.late_starts = 0
    try:
        scenario.started = time.monotonic()
        scenario.deadline = scenario.started + scenario.deadline_s
        interval = 1.0 / rate_per_s
        next_at = scenario.started
        index = 0
        while scenario.running():
            now = time.monotonic()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            elif now - next_at > interval:
                scenario.late_starts += 1  # the client itself fell behind: reported, not hidden
            next_at += interval
            if len(in_flight) >= max_in_flight:
                scenario.late_starts += 1
                continue
            task = asyncio.ensure_future(scenario.purchase({"quantity": 2}, index))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            index += 1
        if in_flight:
            await asyncio.gather(*in_flight)
        scenario.finished = time.monotonic()
    finally:
        await scenario.close()
    if scenario.stop_reason is None:
        scenario.stop_reason = "done"


def run_paced(base, match_id, customers, rate_per_s, seconds, max_requests, max_in_flight=512):
    """Purchases (hold of 2 -> checkout) started at ``rate_per_s`` for ``seconds``."""
    scenario = Scenario(base, match_id, customers, max_in_flight, seconds, max_requests)
    _run_loop(_paced(scenario, rate_per_s, max_in_flight))
    return scenario


def run_scenario(kind, base, match_id, customers, concurrency, deadline_s, max_requests):
    scenario = Scenario(base, match_id, customers, concurrency, deadline_s, max_requests)
    scenario.map_cache = MapCache()
    _run_loop(scenario.run(BUYERS[kind]))
    return scenario
