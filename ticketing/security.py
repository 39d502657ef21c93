"""The one security policy: who is calling, and what the resource's ``__acl__`` lets them do.

Identity comes from a bearer JWT (API clients) or, failing that, the signed admin session
cookie. It is computed once per request (``RequestLocalCache``) and re-checked against the
database, so a deleted, deactivated or demoted user's token stops working at once.
Permissions are never decided here: ``ACLHelper`` reads them from the context's ``__acl__``.

Admin sessions live in a signed cookie, which the server cannot delete. So each session
records when it was opened and the user's ``session_generation`` at that moment, and every
access token carries it too (claim ``gen``). A session older than ``SESSION_MAX_AGE_SECONDS``
is refused, however often it was used. Logout and role changes move the generation on,
which refuses every session and access token issued before, including a copy of the cookie
made before logout and a token issued before a demotion that was later undone.

CSRF: cookie-authenticated requests must carry the CSRF token; bearer requests are exempt
(a browser never attaches a bearer header on its own).
"""
import time

from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.csrf import SessionCSRFStoragePolicy
from pyramid.request import RequestLocalCache
from pyramid.session import SignedCookieSessionFactory

from ticketing.models import User
from ticketing.services import tokens
from ticketing.services.prepared import Prepared

SESSION_COOKIE_NAME = "ticketing_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600  # from login, whatever the activity
SESSION_IDLE_SECONDS = 4 * 3600


def bearer_token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Identity:
    """The authenticated caller: id, role and how they authenticated.

    The full user row is loaded only when a view asks for ``user`` (the admin, ``/me``): the
    buying hot path needs the id and role alone.
    """

    def __init__(self, dbsession, user_id, role, method):
        self.dbsession = dbsession
        self.id = user_id
        self.role = role
        self.method = method  # "bearer" or "session"
        self._user = None

    @property
    def user(self):
        if self._user is None:
            self._user = self.dbsession.get(User, self.id)
        return self._user


# The one row every authenticated request reads: a prepared statement on the request's
# connection (no ORM object, no identity map, no planning). A token's refresh family rides
# along (ix_refresh_tokens_family_id): a family revoked by logout or by a replayed refresh
# token ends its access tokens without a round trip of its own.
_ACCOUNT_STATE = Prepared(
    "identity_account_state",
    """
    SELECT role || ':' || session_generation FROM users
    WHERE id = :user_id AND is_active
      AND NOT EXISTS (SELECT 1 FROM refresh_tokens
                      WHERE family_id = :family_id AND user_id = :user_id AND revoked_at IS NOT NULL)
    """,
    {"user_id": "bigint", "family_id": "uuid"},
)


def account_state(dbsession, user_id, family_id=None):
    """``role:generation`` if the account exists and is active (and ``family_id``, the access
    token's refresh family, has not been revoked), else None."""
    return _ACCOUNT_STATE.execute(dbsession, {"user_id": user_id, "family_id": family_id}).scalar_one_or_none()

_END_SESSIONS = Prepared(
    "identity_end_sessions",
    "UPDATE users SET session_generation = session_generation + 1 WHERE id = :user_id",
    {"user_id": "bigint"},
)


def end_sessions(dbsession, user_id):
    """Refuse every admin session of ``user_id`` opened so far (logout, role changes)."""
    _END_SESSIONS.execute(dbsession, {"user_id": user_id})


class Credentials:
    """Who the request's credentials say the caller is, before the account is checked."""

    __slots__ = ("user_id", "role", "method", "generation", "family_id")

    def __init__(self, user_id, role, method, generation=None, family_id=None):
        self.user_id, self.role, self.method, self.generation = user_id, role, method, generation
        self.family_id = family_id


class TicketingSecurityPolicy:
    def __init__(self, token_settings):
        self.token_settings = token_settings
        self.helper = ACLHelper()
        self.identity_cache = RequestLocalCache(self.load_identity)
        self.credentials_cache = RequestLocalCache(self.load_credentials)

    def load_credentials(self, request):
        token = bearer_token(request)
        if token is not None:
            claims = tokens.decode_access_token(self.token_settings, token)
            if claims is None:
                request.environ["ticketing.invalid_token"] = True
                return None
            return Credentials(int(claims["sub"]), claims.get("role"), "bearer", claims.get("gen", 0),
                               claims.get("fam"))
        if SESSION_COOKIE_NAME in request.cookies:
            session = request.session
            user_id, opened_at = session.get("user_id"), session.get("opened_at")
            if user_id is not None and opened_at is not None and time.time() - opened_at < SESSION_MAX_AGE_SECONDS:
                return Credentials(int(user_id), session.get("role"), "session", session.get("generation"))
        return None

    def load_identity(self, request):
        credentials = self.credentials_cache.get_or_create(request)
        if credentials is None:
            return None
        account = account_state(request.dbsession, credentials.user_id, credentials.family_id)
        role, _, generation = (account or "").rpartition(":")
        # Deactivation, a role change or an admin logout (the generation moved on), or the
        # token's refresh family revoked (an API logout), invalidates what was issued before.
        if account is None or role != credentials.role or generation != str(credentials.generation):
            if credentials.method == "bearer":
                request.environ["ticketing.invalid_token"] = True
            return None
        return Identity(request.dbsession, credentials.user_id, role, credentials.method)

    def identity(self, request):
        identity = self.identity_cache.get_or_create(request)
        if identity is not None:
            request.environ["ticketing.user_id"] = identity.id  # for the access log
        return identity

    def authenticated_userid(self, request):
        identity = self.identity(request)
        return None if identity is None else identity.id

    def effective_principals(self, request):
        principals = [Everyone]
        identity = self.identity(request)
        if identity is not None:
            principals += [Authenticated, f"u:{identity.id}", f"role:{identity.role}"]
            if identity.role == "admin":
                principals.append("role:staff")  # admins can do everything staff can
        return principals

    def permits(self, request, context, permission):
        return self.helper.permits(context, self.effective_principals(request), permission)

    def remember(self, request, userid, **kw):
        """Admin login: bind the session to the user (after rotating it, against fixation)."""
        user = request.dbsession.get(User, int(userid))
        request.session.invalidate()
        request.session["user_id"] = user.id
        request.session["role"] = user.role
        request.session["generation"] = user.session_generation
        request.session["opened_at"] = time.time()
        self.identity_cache.clear(request)
        self.credentials_cache.clear(request)
        return []

    def forget(self, request, **kw):
        """Admin logout: this session, and every other one of the user opened before it."""
        credentials = self.credentials_cache.get_or_create(request)
        if credentials is not None and credentials.method == "session":
            end_sessions(request.dbsession, credentials.user_id)
        request.session.invalidate()
        self.identity_cache.clear(request)
        self.credentials_cache.clear(request)
        return []


def csrf_required(request):
    """CSRF applies to cookie sessions only: never to bearer or credential-less API calls."""
    if bearer_token(request) is not None:
        return False
    if request.path.startswith("/api/"):
        return SESSION_COOKIE_NAME in request.cookies
    return True


def includeme(config):
    settings = config.get_settings()
    config.set_session_factory(
        SignedCookieSessionFactory(
            settings["auth.session_secret"],
            cookie_name=SESSION_COOKIE_NAME,
            httponly=True,
            samesite="Lax",
            secure=settings["auth.cookie_secure"],
            max_age=SESSION_MAX_AGE_SECONDS,
            timeout=SESSION_IDLE_SECONDS,
            reissue_time=300,
        )
    )
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(require_csrf=True, callback=csrf_required)
    token_settings = tokens.TokenSettings(settings)
    config.registry["token_settings"] = token_settings
    policy = TicketingSecurityPolicy(token_settings)
    config.registry["security_policy"] = policy
    config.set_security_policy(policy)
