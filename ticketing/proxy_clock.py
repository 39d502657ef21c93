"""What nginx tells the app about a request's time: when it passed the request on, and how
long it had held it before (deploy/nginx.conf).

nginx sets ``X-Request-Start: t=<seconds since the epoch>`` (``${msec}``) when it passes a
request on, and ``X-Request-Age: <seconds>`` (``${request_time}``): how long since it read the
request's first bytes, which is how long the request waited at the edge (the waiting room's
joins are paced there, ``limit_req``). Load shedding reads how long a request then waited in
front of the app (ticketing/load_shedding.py); the waiting room reads when a fan arrived, so
that a fan who pressed "join" before sales opened keeps the random draw of those who did,
however long the edge held their request (ticketing/services/waiting_room.py).

Both are trusted only on a request that came through the trusted proxy: waitress, configured
with ``trusted_proxy``, keeps the ``X-Forwarded-For`` header of a request from that address
and removes it from any other (``clear_untrusted_proxy_headers``), so a request that still
carries it was sent by nginx, which always replaces the client's headers of these names with
its own. Without them (a process run on its own) there is no stamp: callers use their clock.
"""


def _seconds(environ, name):
    if "HTTP_X_FORWARDED_FOR" not in environ:  # not through waitress's trusted proxy
        return None
    value = environ.get(name, "")
    if value.startswith("t="):
        value = value[2:]
    try:
        return float(value)
    except ValueError:
        return None


def proxy_stamp(environ):
    """Seconds since the epoch at which the trusted proxy passed the request on, or None."""
    return _seconds(environ, "HTTP_X_REQUEST_START")


def proxy_arrival(environ):
    """Seconds since the epoch at which the request reached the trusted proxy, or None."""
    stamp = proxy_stamp(environ)
    if stamp is None:
        return None
    age = _seconds(environ, "HTTP_X_REQUEST_AGE")
    # An age the proxy did not send counts as none; a negative one cannot be.
    return stamp - max(0.0, age or 0.0)
