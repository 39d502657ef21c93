"""Per-user and per-IP request limits for the endpoints bots hammer (holds, checkouts).

The counters live in PostgreSQL (ticketing.services.rate_limits), so a limit holds across all
app processes. A setting of 0 disables a limit (the benchmark does, for its single IP).
"""
from ticketing.services import rate_limits

WINDOW_SECONDS = 60


def rate_limited(scope):
    """Decorate a view: ``ratelimit.<scope>_per_user`` / ``_per_ip`` requests per minute."""

    def decorator(view):
        def rate_limited_view(context, request):
            settings = request.registry.settings
            engine = request.registry["db_autocommit_engine"]
            per_ip = int(settings.get(f"ratelimit.{scope}_per_ip", 0) or 0)
            per_user = int(settings.get(f"ratelimit.{scope}_per_user", 0) or 0)
            limits = []
            if per_ip:
                limits.append((f"{scope}:ip:{request.remote_addr}", per_ip))
            if per_user and request.authenticated_userid is not None:
                limits.append((f"{scope}:user:{request.authenticated_userid}", per_user))
            rate_limits.hit_all(engine, limits, WINDOW_SECONDS)  # both counters, one round trip
            return view(context, request)

        return rate_limited_view

    return decorator
