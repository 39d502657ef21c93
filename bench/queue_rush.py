"""The ``queue_rush`` scenario: a crowd arrives for a sale, with and without the waiting room.

With the waiting room, each fan (a coroutine) arrives at its open-loop time, joins the queue
(``POST /matches/{id}/queue``), then polls the public status through nginx as the server asks
(every ``poll_after_seconds``, and when its estimated wait is long no more often than a
quarter of it, at most every 10 s: the rule docs/api.md gives clients), and when its place
is called exchanges its pass for an admission and buys two best-available seats with it, or
stops when the match sells out. Without it, the same crowd goes straight for the seats
(hold, then checkout), a refused fan coming back after ``Retry-After``, until sold out.

What a fan sees is recorded per request type; what the server did (who was called when) is
read from the database afterwards, to count inversions of the order fans joined in.
"""
import asyncio
import json
import random
import resource
import time
import uuid

from bench.http_client import ClientError, Origin, api_request
from bench.loadgen import _run_loop
from bench.stats import Recorder, percentile

BUY = {"quantity": 2}


class Crowd:
    def __init__(self, base, match_id, fans, arrival_seconds, deadline_s, seed=20261207):
        # nginx holds a rush's joins for up to 100 s to pace them (deploy/nginx.conf).
        self.origin = Origin(base + "/api/v1", timeout=120.0)
        self.match_id = match_id
        self.fans = fans  # [(user_id, token)]
        rng = random.Random(seed)
        self.arrivals = sorted(rng.uniform(0, arrival_seconds) for _ in fans)
        self.deadline_s = deadline_s
        self.recorder = Recorder()
        self.sold_out = asyncio.Event()
        self.outcomes = {}  # user_id -> dict
        self.errors = {}  # (request type, what failed) -> count: why requests got no answer
        self.started = self.started_wall = None
        self.opens_at = None  # when sales open, seconds since the epoch (through the waiting room)

    async def call(self, kind, method, path, token=None, body=None, headers=None):
        data, send = api_request(token, body, headers)
        began = time.perf_counter()
        try:
            status, response_headers, raw = await self.origin.request(method, path, data, send)
        except ClientError as error:
            self.recorder.add(kind, f"error:{error.kind}", time.perf_counter() - began)
            what = (kind, str(error).split(":")[0][:60])
            self.errors[what] = self.errors.get(what, 0) + 1
            return None, None, {}
        self.recorder.add(kind, status, time.perf_counter() - began)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, parsed, response_headers

    def now(self):
        return time.monotonic() - self.started

    def over(self):
        return self.sold_out.is_set() or self.now() > self.deadline_s

    async def buy(self, user_id, token, outcome, admission=None):
        """hold 2 -> checkout; True when paid, None when sold out, False to try again."""
        headers = {"Queue-Admission": admission} if admission else None
        status, hold, response = await self.call("hold", "POST", f"/matches/{self.match_id}/holds", token, BUY,
                                                 headers)
        if status == 409 and (hold or {}).get("available", 1) < 2:
            self.sold_out.set()
            return None
        if status != 201:
            outcome["refused"] = outcome.get("refused", 0) + 1
            await self.back_off(status, response)
            return False
        # A payment that got no answer is retried with its Idempotency-Key: it cannot pay twice.
        key = uuid.uuid4().hex
        for _ in range(5):
            status, order, response = await self.call("checkout", "POST", f"/holds/{hold['id']}/checkout", token,
                                                      headers={"Idempotency-Key": key})
            if status == 201:
                outcome["paid_at"] = self.now()
                return True
            if status is not None and status < 500:
                return False
            await self.back_off(status, response)
        return False

    async def back_off(self, status, response):
        """As a browser's script would: after a 503, its Retry-After; after a failure (no
        answer, a 5xx), a second or two; a refusal (4xx) is retried at once."""
        if status is None or status >= 500:
            await asyncio.sleep(int(response.get("retry-after", 0)) or random.uniform(1, 2))

    async def close(self):
        await self.origin.close()


async def _queued_fan(crowd, index, user_id, token):
    outcome = crowd.outcomes.setdefault(user_id, {"arrived": crowd.arrivals[index]})
    await asyncio.sleep(max(0.0, crowd.arrivals[index] - crowd.now()))
    status, place = None, None
    outcome["sent_at"] = crowd.now()
    while status not in (200, 201):
        status, place, response = await crowd.call("join", "POST", f"/matches/{crowd.match_id}/queue", token)
        if crowd.over():
            return
        if status not in (200, 201):
            await crowd.back_off(status or 503, response)
    outcome["joined_at"] = crowd.now()
    outcome["key"] = place["order_key"]
    interval = place["poll_after_seconds"] or 3
    admission = None
    while admission is None and not crowd.over():
        status, state, _ = await crowd.call("poll", "GET", f"/matches/{crowd.match_id}/queue")
        if status != 200:
            await asyncio.sleep(interval)
            continue
        if state["sold_out"]:
            crowd.sold_out.set()
            return
        serving = state["now_serving"]
        interval = state["poll_after_seconds"] or interval
        if place["order_key"] <= serving["key"]:
            status, admitted, _ = await crowd.call("admission", "POST", f"/matches/{crowd.match_id}/queue/admission",
                                                   token, {"pass": place["pass"]})
            if status == 201:
                admission = admitted["admission"]
                outcome["admitted_at"] = crowd.now()
                break
            if status == 410:
                return
        # The documented client rule: poll no more often than the server asks, and when the
        # estimated wait is long, a quarter of it (at most every 10 s).
        pace = state["pace"]["called_last_minute"] / 60
        ahead = _people_ahead(place["order_key"], state)
        await asyncio.sleep(min(10.0, max(interval, ahead / pace / 4 if pace else interval)))
    while admission is not None and not crowd.over():
        if await crowd.buy(user_id, token, outcome, admission) is not False:
            return


def _people_ahead(key, state):
    serving, pre = state["now_serving"], state["joined"]["before_opening"] or 0
    if key <= serving["key"]:
        return 0
    if key < 1:
        return pre * (key - serving["key"])
    return max(0, pre + int(key) - 1 - serving["called"])


async def _direct_fan(crowd, index, user_id, token):
    outcome = crowd.outcomes.setdefault(user_id, {"arrived": crowd.arrivals[index]})
    await asyncio.sleep(max(0.0, crowd.arrivals[index] - crowd.now()))
    outcome["sent_at"] = crowd.now()
    while not crowd.over():
        if await crowd.buy(user_id, token, outcome) is not False:
            return


async def _run(crowd, fan):
    crowd.started = time.monotonic()
    crowd.started_wall = time.time()
    try:
        await asyncio.gather(*(fan(crowd, index, user_id, token)
                               for index, (user_id, token) in enumerate(crowd.fans)))
    finally:
        crowd.finished = time.monotonic()
        await crowd.close()


def enough_sockets(count):
    """Room for a socket per fan: nginx may hold every fan's join at once. Root (the bench's
    machine) may raise the hard limit; anyone else gets up to theirs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 1024
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def run(base, match_id, fans, arrival_seconds, deadline_s, with_waiting_room, opens_at=None):
    """``opens_at``: when sales open (seconds since the epoch), to report it against the arrivals."""
    enough_sockets(len(fans))
    crowd = Crowd(base, match_id, fans, arrival_seconds, deadline_s)
    crowd.opens_at = opens_at
    _run_loop(_run(crowd, _queued_fan if with_waiting_room else _direct_fan))
    return crowd


def arrival_inversions(outcomes):
    """The fans who got a number (joined after the opening), in the order they sent their join:
    pairs whose numbers are the other way round. The server calls strictly by number (the
    ``fairness`` check); these are the fans overtaken between their client and the database
    (two nginx workers, two app processes), with the largest overtaking in seconds."""
    fans = sorted((o["sent_at"], o["key"]) for o in outcomes if o.get("key", 0) >= 1)
    keys = [key for _, key in fans]
    pairs = _count_inversions(keys)
    by_key = sorted(fans, key=lambda fan: fan[1])
    latest, overtaken = float("-inf"), 0.0
    for sent, _ in by_key:  # a fan numbered after one who sent later was overtaken by this much
        overtaken = max(overtaken, latest - sent)
        latest = max(latest, sent)
    return {"fans": len(keys), "inverted_pairs": pairs,
            "inverted_share": round(pairs / max(1, len(keys) * (len(keys) - 1) / 2), 6),
            "largest_overtaking_s": round(overtaken, 3)}


def _count_inversions(values):
    """Pairs i < j with values[i] > values[j] (merge sort, n log n)."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = sorted(values[:middle]), sorted(values[middle:])
    count = _count_inversions(values[:middle]) + _count_inversions(values[middle:])
    j = 0
    for value in left:  # for each left value, the right values smaller than it
        while j < len(right) and right[j] < value:
            j += 1
        count += j
    return count


def summarize(crowd, arrival_seconds):
    """What the crowd saw: per request type, and who got seats by the time they arrived."""
    wall = crowd.finished - crowd.started
    outcomes = list(crowd.outcomes.values())
    paid = [o for o in outcomes if "paid_at" in o]
    result = {
        "fans": len(crowd.fans), "arrival_seconds": arrival_seconds, "wall_seconds": round(wall, 2),
        "purchases": len(paid), "by_type": crowd.recorder.summary(wall),
        "sold_out_at_s": round(max((o["paid_at"] for o in paid), default=0), 2),
        "http_5xx": crowd.recorder.count("5"), "client_errors": crowd.recorder.count("error"),
        "client_errors_by_cause": {f"{kind}: {what}": n for (kind, what), n in sorted(crowd.errors.items())},
    }
    # How late the load generator sent each fan's first request (it shares the 2 cores).
    lags = sorted(o["sent_at"] - o["arrived"] for o in outcomes if "sent_at" in o)
    if lags:
        result["send_lag_s"] = {"p50": round(percentile(lags, 0.5), 3), "p99": round(percentile(lags, 0.99), 3),
                                "max": round(lags[-1], 3)}
    joined = [o for o in outcomes if "joined_at" in o]
    if joined:
        result["joins_per_s"] = round(len(joined) / max(o["joined_at"] for o in joined), 1)
    result["by_type_and_status_5xx"] = {kind: {s: n for s, n in statuses.items() if s.startswith("5")}
                                         for kind, statuses in crowd.recorder.statuses.items()}
    if crowd.opens_at is not None:
        result["opened_at_s"] = round(crowd.opens_at - crowd.started_wall, 2)
    if "join" in crowd.recorder.statuses:
        # Through the waiting room only called fans exchange, hold and pay: every 503 they met.
        result["admitted_fans_503s"] = sum(crowd.recorder.statuses[kind].get("503", 0)
                                           for kind in ("admission", "hold", "checkout"))
        result["arrival_order"] = arrival_inversions(outcomes)
    waits = sorted(o["admitted_at"] - o["joined_at"] for o in outcomes if "admitted_at" in o)
    if waits:
        result["queue_wait_s"] = {"p50": round(percentile(waits, 0.5), 2), "p95": round(percentile(waits, 0.95), 2),
                                  "max": round(waits[-1], 2)}
    # The chance of a seat by arrival time: tenths of the arrival window.
    tenths = []
    for tenth in range(10):
        start, end = arrival_seconds * tenth / 10, arrival_seconds * (tenth + 1) / 10
        group = [o for o in outcomes if start <= o["arrived"] < end]
        tenths.append({"arrived_s": [round(start, 1), round(end, 1)], "fans": len(group),
                       "got_seats": sum("paid_at" in o for o in group),
                       "refusals": sum(o.get("refused", 0) for o in group),
                       # Through the waiting room: who drew a random key, and who was let in.
                       "drew_at_random": sum(o.get("key", 1) < 1 for o in group),
                       "admitted": sum("admitted_at" in o for o in group)})
    result["by_arrival"] = tenths
    return result
