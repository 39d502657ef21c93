"""Password guessing is slowed per account *and client*, never used to lock an owner out.

OWASP's authentication guidance ("Slow down online guessing attacks with device cookies"):
a lockout per account lets anyone who knows a fan's e-mail keep that fan out (ten wrong
passwords, and the owner's right one gets 429 too), which on a sale day is a way to keep a
rival out of the queue. So the budgets are:

- **a trusted client**: one that logged in to this account before and shows it, with the
  *device token* it was given then (``device_token`` in the login body, or the
  ``ticketing_device`` cookie) or a refresh token of the account (``refresh_token`` in the
  body, even an expired or rotated one: its family is the device). Its own budget, per device
  (``ratelimit.auth_per_device``), and nothing else: the account's and the address's budgets
  do not apply to it, so the owner gets in whatever others try, from wherever;
- **an untrusted client**: a budget per client address (``ratelimit.auth_per_ip``, per
  ``auth_window_seconds``; an IPv6 client counts per /64, the block one subscriber gets), a
  budget per (account, address) pair (``ratelimit.auth_per_account_client``), and the
  account's shared budget for all untrusted clients, in short windows
  (``ratelimit.auth_untrusted_per_account`` per ``auth_untrusted_window_seconds``): guessing
  from many addresses is slowed to a trickle, not stopped. Under such an attack the owner on
  a new device shares that trickle; on a device they used before they are never slowed.

A device token is signed (HS256 with a key derived from the app's JWT secret for this
purpose alone), names the account by a hash of its normalised e-mail (no lookup before the
throttle) and a random device id, and lives ``DEVICE_TOKEN_DAYS``. Every attempt counts,
right or wrong: a real person logs in a few times a day.
"""
import hashlib
import hmac
import ipaddress
import secrets
import time

import jwt
from sqlalchemy import text

from ticketing.services import rate_limits

DEVICE_AUDIENCE = "ticketing-device"
DEVICE_TOKEN_DAYS = 180
DEVICE_COOKIE = "ticketing_device"


def _account_tag(email):
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


def _device_key(secret):
    """The device tokens' own key: a token of another kind signed with the app's secret can
    never pass for one, nor the other way round."""
    return hmac.new(secret.encode("utf-8"), b"ticketing device tokens", hashlib.sha256).digest()


def issue_device_token(secret, email, device_id=None, now=None):
    """A device token for the account of (normalised) ``email``; keeps ``device_id`` if given."""
    now = int(now if now is not None else time.time())
    claims = {"acct": _account_tag(email), "dev": device_id or secrets.token_urlsafe(12),
              "aud": DEVICE_AUDIENCE, "iat": now, "exp": now + DEVICE_TOKEN_DAYS * 86400}
    return jwt.encode(claims, _device_key(secret), algorithm="HS256")


_REFRESH_FAMILY = text(
    "SELECT r.family_id FROM refresh_tokens r JOIN users u ON u.id = r.user_id "
    "WHERE r.token_hash = :h AND lower(u.email) = :e"
)


def device_of_refresh_token(dbsession, email, refresh_token):
    """A refresh token of this account (any state) proves a device that logged in before: its
    family is the device. None for anything else."""
    if not refresh_token or len(refresh_token) > 200:
        return None
    digest = hashlib.sha256(refresh_token.encode("utf-8")).digest()
    family = dbsession.execute(_REFRESH_FAMILY, {"h": digest, "e": email}).scalar_one_or_none()
    return None if family is None else f"family:{family}"


def client_key(address):
    """The budget key of a client address: the address, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if parsed.version == 6:
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def trusted_device(secret, email, token):
    """The device id of a valid device token for this account, else None."""
    if not token or len(token) > 1000:
        return None
    try:
        claims = jwt.decode(token, _device_key(secret), algorithms=["HS256"], audience=DEVICE_AUDIENCE,
                            options={"require": ["acct", "dev", "exp", "iat"]})
    except jwt.PyJWTError:
        return None
    if claims["acct"] != _account_tag(email) or not isinstance(claims["dev"], str):
        return None
    return claims["dev"]


def check_login_attempt(engine, settings, email, client_address, device_id):
    """Count this attempt against its budgets; raise ``RateLimited`` when one is spent.
    ``email``: normalised; ``device_id``: :func:`trusted_device`'s answer (None: untrusted).
    Returns the :class:`~ticketing.services.rate_limits.Count` objects made (for the
    response's RateLimit header fields)."""
    window = settings["ratelimit.auth_window_seconds"]
    if device_id is not None:
        return [rate_limits.count_all(engine, [(f"auth:device:{device_id}", settings["ratelimit.auth_per_device"])],
                                      window)]
    client = client_key(client_address)
    limits = [(f"auth:ip:{client}", settings["ratelimit.auth_per_ip"]),
              (f"auth:pair:{email}:{client}", settings["ratelimit.auth_per_account_client"])]
    counts = [rate_limits.count_all(engine, limits, window)]
    counts.append(rate_limits.count_all(
        engine, [(f"auth:untrusted:{email}", settings["ratelimit.auth_untrusted_per_account"])],
        settings["ratelimit.auth_untrusted_window_seconds"]))
    return counts
