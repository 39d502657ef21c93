"""Seats this process is claiming right now, so that its other buyers plan around them.

Best available plans adjacent blocks without locks, then claims one block ``FOR UPDATE SKIP
LOCKED`` (holds._hold_adjacent). In a rush every buyer's plan starts with the same best
block, so every buyer but one lost two round trips on it: the claim came back short and was
rolled back to its savepoint (92 % of holds, decision 0034). The buyers racing for that block
are mostly in this very process, so the process can tell its own buyers which seats its
other requests are claiming, and a buyer's first try goes to a block nobody here is taking.

A hint, never a guarantee: PostgreSQL's row locks decide who gets a seat, as before. A hint
that is wrong costs what the race cost before (a short claim, one more try); a seat hinted
busy that turns out free (the other request failed) is only passed over for a block behind
it. Another process's claims are not seen here; their locks still turn a claim away.

A mark lasts from the claim until the claiming request's transaction has ended (the view
releases it in a finished callback, which runs after pyramid_tm's commit or abort), and a
little longer: a plan read from a snapshot taken before that commit still shows the seats
as available, so a mark released after a plan was made still counts for that plan. Marks
of the same fan never count: the fan's wallet lock serialises their holds, so a plan is
always read after the fan's earlier hold has ended, and a new hold replaces (frees) it.
A live mark is never overwritten by another request's: the first claimer keeps it.
"""
import threading
import time
from collections import deque

KEEP_SECONDS = 5.0  # released marks kept for plans made before the release (a plan lives ms)


class ClaimsInFlight:
    """The process's marks: ``(match_id, seat_id) -> (claimer, released_at or None)``;
    released marks are purged at the first release ``keep_seconds`` or more later."""

    def __init__(self, clock=time.monotonic, keep_seconds=KEEP_SECONDS):
        self._clock = clock
        self._keep = keep_seconds
        self._lock = threading.Lock()
        self._marks = {}
        self._released = deque()  # (released_at, key, claimer), oldest first, for purging

    def claimer(self, user_id):
        """One request's view of the marks, for the fan ``user_id``; :meth:`Claimer.finish`
        when its transaction has ended."""
        return Claimer(self, user_id)

    def marked(self):
        """How many seats carry a mark, live or released (for tests and metrics)."""
        return len(self._marks)

    def _busy(self, claimer, match_id, seat_ids, planned_at):
        marks = self._marks
        for seat_id in seat_ids:
            mark = marks.get((match_id, seat_id))
            if (mark is not None and mark[0].user_id != claimer.user_id
                    and (mark[1] is None or mark[1] > planned_at)):
                return True
        return False

    def _take(self, claimer, match_id, seat_ids):
        with self._lock:
            for seat_id in seat_ids:
                key = (match_id, seat_id)
                mark = self._marks.get(key)
                if mark is None or mark[1] is not None or mark[0] is claimer:
                    self._marks[key] = (claimer, None)

    def _drop(self, claimer, match_id, seat_ids):
        with self._lock:
            for seat_id in seat_ids:
                key = (match_id, seat_id)
                mark = self._marks.get(key)
                if mark is not None and mark[0] is claimer:
                    del self._marks[key]

    def _release(self, claimer, keys):
        now = self._clock()
        with self._lock:
            for key in keys:
                mark = self._marks.get(key)
                if mark is not None and mark[0] is claimer and mark[1] is None:
                    self._marks[key] = (claimer, now)
                    self._released.append((now, key, claimer))
            horizon = now - self._keep
            while self._released and self._released[0][0] < horizon:
                released_at, key, owner = self._released.popleft()
                if self._marks.get(key) == (owner, released_at):  # not taken again since
                    del self._marks[key]


class Claimer:
    """The marks of one request: what it is claiming, and since when its plan is."""

    __slots__ = ("_registry", "_keys", "user_id", "planned_at")

    def __init__(self, registry, user_id):
        self._registry = registry
        self._keys = []
        self.user_id = user_id
        self.planned_at = None

    def planning(self):
        """Call right before sending the statement that plans: its snapshot is about now."""
        self.planned_at = self._registry._clock()

    def busy(self, match_id, seat_ids):
        """Is another fan's request in this process claiming any of these seats, or did it
        claim them after this request's plan was read?"""
        planned_at = self.planned_at if self.planned_at is not None else self._registry._clock()
        return self._registry._busy(self, match_id, seat_ids, planned_at)

    def take(self, match_id, seat_ids):
        """About to claim these seats (a seat another request has a live mark on keeps it)."""
        self._registry._take(self, match_id, seat_ids)
        self._keys.extend((match_id, seat_id) for seat_id in seat_ids)

    def drop(self, match_id, seat_ids):
        """The claim came back short: these seats are not this request's after all."""
        self._registry._drop(self, match_id, seat_ids)

    def finish(self):
        """The request's transaction has ended (committed or not): its marks start to age."""
        keys, self._keys = self._keys, []
        if keys:
            self._registry._release(self, keys)
