"""Per-user and per-IP request limits for the endpoints bots hammer (holds, checkouts).

Counted by the ``idempotent`` view decorator (``rate_limit=<scope>``), in the same round trip
as the request's Idempotency-Key claim when it has one.

The counters live in PostgreSQL (ticketing.services.rate_limits), so a limit holds across all
app processes. A setting of 0 disables a limit (the benchmark does, for its single IP).
"""
from ticketing.services import rate_limits

WINDOW_SECONDS = 60


def request_count(request, scope):
    """This request's attempt at ``scope``: ``ratelimit.<scope>_per_user`` / ``_per_ip``
    requests per minute, as a :class:`~ticketing.services.rate_limits.Count` to make."""
    settings = request.registry.settings
    per_ip = int(settings.get(f"ratelimit.{scope}_per_ip", 0) or 0)
    per_user = int(settings.get(f"ratelimit.{scope}_per_user", 0) or 0)
    limits = []
    if per_ip:
        limits.append((f"{scope}:ip:{request.remote_addr}", per_ip))
    if per_user and request.authenticated_userid is not None:
        limits.append((f"{scope}:user:{request.authenticated_userid}", per_user))
    return rate_limits.Count(limits, WINDOW_SECONDS)

