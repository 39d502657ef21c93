"""Password guessing is slowed per account *and client*, never used to lock an owner out.

OWASP's authentication guidance ("Slow down online guessing attacks with device cookies"):
a lockout per account lets anyone who knows a fan's e-mail keep that fan out (ten wrong
passwords, and the owner's right one gets 429 too), which on a sale day is a way to keep a
rival out of the queue. So the budgets are:

- **per client address** (``ratelimit.auth_per_ip``, per ``auth_window_seconds``): one address
  cannot try many accounts, or sign up many;
- **a trusted client**: one that logged in to this account before and shows the *device
  token* it was given then (``device_token`` in the login body, or the ``ticketing_device``
  cookie). Its own budget, per device (``ratelimit.auth_per_device``); the account's other
  budgets do not apply to it, so the owner gets in whatever others try;
- **an untrusted client**: a budget per (account, address) pair (``ratelimit.auth_per_account_client``),
  and the account's shared budget for all untrusted clients, in short windows
  (``ratelimit.auth_untrusted_per_account`` per ``auth_untrusted_window_seconds``): guessing
  from many addresses is slowed to a trickle, not stopped, and an owner on a new device waits
  seconds, not minutes.

A device token is signed (HS256 with the app's JWT secret, its own audience), names the
account by a hash of its normalised e-mail (no lookup before the throttle) and a random
device id, and lives ``DEVICE_TOKEN_DAYS``. Every attempt counts, right or wrong: a real
person logs in a few times a day.
"""
import hashlib
import secrets
import time

import jwt

from ticketing.services import rate_limits

DEVICE_AUDIENCE = "ticketing-device"
DEVICE_TOKEN_DAYS = 180
DEVICE_COOKIE = "ticketing_device"


def _account_tag(email):
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


def issue_device_token(secret, email, device_id=None, now=None):
    """A device token for the account of (normalised) ``email``; keeps ``device_id`` if given."""
    now = int(now if now is not None else time.time())
    claims = {"acct": _account_tag(email), "dev": device_id or secrets.token_urlsafe(12),
              "aud": DEVICE_AUDIENCE, "iat": now, "exp": now + DEVICE_TOKEN_DAYS * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


def trusted_device(secret, email, token):
    """The device id of a valid device token for this account, else None."""
    if not token or len(token) > 1000:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=DEVICE_AUDIENCE,
                            options={"require": ["acct", "dev", "exp", "iat"]})
    except jwt.PyJWTError:
        return None
    if claims["acct"] != _account_tag(email) or not isinstance(claims["dev"], str):
        return None
    return claims["dev"]


def check_login_attempt(engine, settings, email, client_address, device_id):
    """Count this attempt against its budgets; raise ``RateLimited`` when one is spent.
    ``email``: normalised; ``device_id``: :func:`trusted_device`'s answer (None: untrusted)."""
    window = settings["ratelimit.auth_window_seconds"]
    limits = [(f"auth:ip:{client_address}", settings["ratelimit.auth_per_ip"])]
    if device_id is not None:
        limits.append((f"auth:device:{device_id}", settings["ratelimit.auth_per_device"]))
        rate_limits.hit_all(engine, limits, window)
        return
    limits.append((f"auth:pair:{email}:{client_address}", settings["ratelimit.auth_per_account_client"]))
    rate_limits.hit_all(engine, limits, window)
    rate_limits.hit_all(engine, [(f"auth:untrusted:{email}", settings["ratelimit.auth_untrusted_per_account"])],
                        settings["ratelimit.auth_untrusted_window_seconds"])
