"""Fans buying through the live app over HTTP while the database host fails, and what each saw.

A buyer does what the shop client does: ``POST /matches/{id}/holds`` (one best-available
seat) with an ``Idempotency-Key``, then ``POST /holds/{id}/checkout`` with the key
``pay-<hold id>``. A 503, a 409 "still being processed" or "taken over", or a lost connection
is sent again with the *same* key after a short pause, until the request resolves: that is
the client's half of invariant 6, and what makes a checkout that was running when the
primary died come back as its original order, or as one new order, never two.

The pause is 0.25 s rather than the 503's ``Retry-After`` so that the outage window seen by
clients is measured to a quarter of a second, not to the server's advice.
"""
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

RETRY_PAUSE_S = 0.25
#: A key that has not resolved after this long is given up (and fails the test's checks).
GIVE_UP_AFTER_S = 120
RETRY_409 = ("still being processed", "took over")  # the key is running, or was taken over


@dataclass
class Response:
    at: float  # time.time() when the answer (or the error) arrived
    kind: str  # hold | checkout
    status: int | None  # None: no HTTP answer at all
    content_type: str = ""
    retry_after: str | None = None
    detail: str = ""


@dataclass
class Purchase:
    at: float
    user_headers: dict = field(repr=False)
    hold_id: int = 0
    order_id: int = 0
    tickets: int = 0
    checkout_attempts: int = 0  # how many times the checkout was sent with its key
    checkout_seconds: float = 0.0  # from its first sending to its final answer
    replayed: bool = False  # the answer was the stored one (Idempotent-Replayed: true)


class Sale:
    """Buyer threads against ``app`` (a tests.live_server.App) for one match."""

    def __init__(self, app, match_id, fans):
        self.app, self.match_id = app, match_id
        self.responses, self.purchases, self.unresolved = [], [], []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._buyer, args=(fan,), daemon=True) for fan in fans]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def finish(self):
        """No new purchases; those under way still resolve (or are given up)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(GIVE_UP_AFTER_S + 30)

    def acknowledged(self):
        with self._lock:
            return len(self.purchases)

    def wait_for_purchases(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while self.acknowledged() < count:
            assert time.monotonic() < deadline, f"only {self.acknowledged()} of {count} purchases in {timeout}s"
            time.sleep(0.05)

    def purchases_after(self, moment):
        with self._lock:
            return [p for p in self.purchases if p.at > moment]

    def failures_after(self, moment):
        """Answers after ``moment`` that were not served: 5xx, or no answer at all."""
        with self._lock:
            return [r for r in self.responses if r.at > moment and (r.status is None or r.status >= 500)]

    def _record(self, kind, response=None, error=None):
        if response is None:
            entry = Response(time.time(), kind, None, detail=repr(error)[:200])
        else:
            detail = ""
            if response.status_code >= 400:
                try:
                    detail = response.json().get("detail", "")
                except ValueError:
                    detail = response.text[:200]
            entry = Response(time.time(), kind, response.status_code, response.headers.get("Content-Type", ""),
                             response.headers.get("Retry-After"), detail)
        with self._lock:
            self.responses.append(entry)
        return entry

    def _send(self, session, kind, path, headers, key, body=None):
        """POST until the answer is final; returns (response or None, attempts)."""
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        attempts = 0
        while True:
            attempts += 1
            try:
                response = session.post(self.app.url(path), json=body, timeout=20,
                                        headers={**headers, "Idempotency-Key": key})
            except requests.RequestException as error:
                self._record(kind, error=error)
                response = None
            else:
                entry = self._record(kind, response)
                final = not (response.status_code == 503 or (
                    response.status_code == 409 and any(text in entry.detail for text in RETRY_409)))
                if final:
                    return response, attempts
            if time.monotonic() > deadline:
                with self._lock:
                    self.unresolved.append((kind, key, response.status_code if response is not None else None))
                return None, attempts
            time.sleep(RETRY_PAUSE_S)

    def _buyer(self, headers):
        session = requests.Session()
        while not self._stop.is_set():
            hold, _ = self._send(session, "hold", f"/api/v1/matches/{self.match_id}/holds", headers,
                                 f"hold-{uuid.uuid4().hex}", {"quantity": 1})
            if hold is None or hold.status_code != 201:
                time.sleep(0.05)  # sold out, or a conflict: look again
                continue
            hold_id = hold.json()["id"]
            started = time.time()
            order, attempts = self._send(session, "checkout", f"/api/v1/holds/{hold_id}/checkout", headers,
                                         f"pay-{hold_id}")
            if order is not None and order.status_code == 201:
                body = order.json()
                with self._lock:
                    self.purchases.append(Purchase(
                        time.time(), headers, hold_id, body["id"], len(body["tickets"]), attempts,
                        time.time() - started, order.headers.get("Idempotent-Replayed") == "true"))
