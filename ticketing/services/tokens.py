"""Access tokens (JWT) and refresh tokens.

Access tokens are short-lived HS256 JWTs carrying ``sub`` (user id), ``role``, ``gen``
(the account's session generation), ``fam`` (the refresh-token family issued with it), ``aud``,
``iss``, ``iat``, ``nbf`` and ``exp``. Revoking the family (logout, a replayed refresh token)
ends its access tokens too: the identity check reads the family's state with the account's,
in the same statement (security.py). Decoding pins the algorithm list to HS256, so ``alg:
none`` and RS/HS confusion are rejected, and requires every time claim.

Refresh tokens are 256-bit random strings; only their SHA-256 is stored. A refresh rotates the
token within its family; replaying a rotated token revokes the family (see
docs/decisions/0002-tokens.md).
"""
import hashlib
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
from sqlalchemy import select, update

from ticketing.models import RefreshToken, User
from ticketing.problems import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "aud", "iss", "fam"]
LEEWAY_SECONDS = 5


def utcnow():
    return datetime.now(timezone.utc)


class TokenSettings:
    """The token knobs, read once from the app settings."""

    def __init__(self, settings):
        self.secret = settings["auth.jwt_secret"]
        self.audience = settings["auth.jwt_audience"]
        self.issuer = settings["auth.jwt_issuer"]
        self.access_ttl = int(settings["auth.access_token_ttl_seconds"])
        self.refresh_ttl = int(settings["auth.refresh_token_ttl_seconds"])
        self.verified = VerifiedAccessTokens()


class VerifiedAccessTokens:
    """Access tokens this process has already verified, with their claims.

    A fan sends the same token with every request of a purchase, and PyJWT's decode (base64,
    JSON, HMAC, claim checks) was ~8 % of a purchase's app CPU. An entry is keyed by the whole
    token string, so a hit is exactly the bytes whose signature, audience and issuer were
    checked; the time claims are checked again on every use, with PyJWT's leeway, so a token
    expires here when it would have expired there. Whether the account is still active with
    that role is not cached: it is read from the database on every request (security.py).
    Bounded: at ``max_entries`` the oldest entry goes first.
    """

    def __init__(self, max_entries=20000):
        self.max_entries = max_entries
        self._claims = {}
        self._lock = threading.Lock()  # for eviction; lookups need none

    def get(self, token, now):
        claims = self._claims.get(token)
        if claims is None:
            return None
        # Whole seconds, as PyJWT compares them (it truncates the claims with int()).
        if not (int(claims["nbf"]) - LEEWAY_SECONDS <= now < int(claims["exp"]) + LEEWAY_SECONDS
                and int(claims["iat"]) - LEEWAY_SECONDS <= now):
            with self._lock:
                self._claims.pop(token, None)
            return None
        return claims

    def add(self, token, claims):
        with self._lock:
            while len(self._claims) >= self.max_entries:
                del self._claims[next(iter(self._claims))]
            self._claims[token] = claims

    def __len__(self):
        return len(self._claims)


def issue_access_token(config, user, family_id, now=None):
    """``family_id``: the refresh-token family issued with it (a login's): when that family is
    revoked (logout, or a replayed refresh token) this access token stops working too. Every
    token has one (a token minted for a load test gets a family no refresh token belongs to)."""
    now = now or utcnow()
    claims = {
        "sub": str(user.id),
        "role": user.role,
        # The account's generation: a role change or an admin logout moves it on, and the token
        # with it stops working for good (security.py).
        "gen": getattr(user, "session_generation", None) or 0,
        "aud": config.audience,
        "iss": config.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=config.access_ttl),
    }
    claims["fam"] = str(family_id)
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM)


def decode_access_token(config, token, now=None):
    """Return the claims of a valid token, or None for any invalid one (no detail leaks).
    The claims are shared with later calls for the same token: read them, do not change them."""
    now = time.time() if now is None else now
    claims = config.verified.get(token, now)
    if claims is not None:
        return claims
    try:
        claims = jwt.decode(
            token,
            config.secret,
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError:
        return None
    subject = str(claims.get("sub", ""))
    if not (subject.isascii() and subject.isdecimal()):
        return None
    if not all(isinstance(claims[name], (int, float)) for name in ("exp", "nbf", "iat")):
        return None  # stricter than PyJWT (which takes numeric strings): our tokens carry numbers
    try:
        uuid.UUID(str(claims["fam"]))
    except ValueError:
        return None
    config.verified.add(token, claims)
    return config.verified.get(token, now)  # the same time checks as every later use


def _hash_refresh_token(token):
    return hashlib.sha256(token.encode("utf-8")).digest()


def _new_refresh_token(dbsession, config, user_id, family_id, now):
    token = secrets.token_urlsafe(32)
    dbsession.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=_hash_refresh_token(token),
            expires_at=now + timedelta(seconds=config.refresh_ttl),
        )
    )
    return token


def token_pair(config, user, refresh_token, family_id):
    return {
        "access_token": issue_access_token(config, user, family_id),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": config.access_ttl,
    }


def issue_token_pair(dbsession, config, user):
    """Start a new refresh-token family for ``user`` (a login)."""
    family_id = uuid.uuid4()
    refresh = _new_refresh_token(dbsession, config, user.id, family_id, utcnow())
    dbsession.flush()
    return token_pair(config, user, refresh, family_id)


class RefreshTokenReused(Exception):
    """A rotated refresh token was presented again; its family has been revoked.

    The revocation must be committed even though the request fails, so views turn this into
    a 401 *response* (not a raised error that would abort the transaction).
    """


def rotate_refresh_token(dbsession, config, presented):
    """Exchange a refresh token for a new pair; raise on invalid, expired or reused tokens."""
    now = utcnow()
    # FOR UPDATE: two concurrent refreshes with the same token serialise here; the second one
    # sees ``rotated_at`` set and is treated as reuse.
    row = dbsession.execute(
        select(RefreshToken)
        .where(RefreshToken.token_hash == _hash_refresh_token(presented))
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("The refresh token is invalid or expired.")
    if row.rotated_at is not None:
        revoke_family(dbsession, row.family_id, now)
        raise RefreshTokenReused()
    user = dbsession.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The refresh token is invalid or expired.")
    row.rotated_at = now
    refresh = _new_refresh_token(dbsession, config, user.id, row.family_id, now)
    dbsession.flush()
    return token_pair(config, user, refresh, row.family_id)


def revoke_family(dbsession, family_id, now=None):
    """Revoke every live token of the family, including one a refresh is creating right now.

    A refresh in flight holds its presented token FOR UPDATE and has inserted its successor,
    uncommitted. An UPDATE waits for that lock, but the successor is not in its snapshot.
    So the UPDATE runs again until it changes nothing: after every wait, the next statement
    takes a new snapshot that holds whatever the refresh committed. It ends because a
    refresh of a token already revoked is refused."""
    now = now or utcnow()
    revoke = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    while dbsession.execute(revoke).rowcount:
        pass


def revoke_refresh_token(dbsession, presented):
    """Logout: the presented token's family stops working. Unknown tokens are ignored."""
    # FOR UPDATE: a refresh racing this logout either finishes first (and its new token is
    # revoked with the family below) or waits and then finds the token revoked.
    row = dbsession.execute(
        select(RefreshToken).where(RefreshToken.token_hash == _hash_refresh_token(presented)).with_for_update()
    ).scalar_one_or_none()
    if row is not None:
        revoke_family(dbsession, row.family_id)
