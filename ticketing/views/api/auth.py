"""Account endpoints: signup, login, token refresh, logout, the caller's profile, e-mail
verification and password reset."""
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ticketing import problems
from ticketing.problems import problem_response
from ticketing.resources.accounts import AuthService, Me
from ticketing.services import accounts, login_throttle, rate_limits, recovery, tokens

from ..login_devices import device_of, remember_device
from .serializers import user_json


def _limit_signups(request, email):
    """Per client IP and per e-mail: slows sign-up floods. Says where the client stands in
    the response's RateLimit header fields."""
    settings = request.registry.settings
    engine = request.registry["db_autocommit_engine"]
    limits = [(f"auth:ip:{login_throttle.client_key(request.remote_addr)}", settings["ratelimit.auth_per_ip"]),
              (f"auth:email:{accounts.normalize_email(email)}", settings["ratelimit.auth_per_email"])]
    count = rate_limits.count_all(engine, limits, settings["ratelimit.auth_window_seconds"])
    request.response.headers.update(rate_limits.rate_limit_headers([count]))


@view_config(
    route_name="api.auth.signup",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def signup(context, request):
    body = request.openapi_validated.body
    _limit_signups(request, body["email"])
    settings = request.registry.settings
    answer = accounts.register(
        request.dbsession,
        body["email"],
        body["password"],
        body["full_name"],
        bcrypt_rounds=settings["auth.bcrypt_rounds"],
        locale=body.get("language") or request.accept_language.lookup(["en", "sl"], default="en"),
        verify_ttl_seconds=settings["auth.verify_email_ttl_seconds"],
    )
    request.response.status = 201
    return user_json(answer)


@view_config(
    route_name="api.auth.login",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def login(context, request):
    body = request.openapi_validated.body
    email = accounts.normalize_email(body["email"])
    device_id = device_of(request, email, body.get("device_token"), body.get("refresh_token"))
    counts = login_throttle.check_login_attempt(request.registry["db_autocommit_engine"],
                                                request.registry.settings, email, request.remote_addr, device_id)
    request.response.headers.update(rate_limits.rate_limit_headers(counts))
    user = accounts.authenticate(
        request.dbsession,
        email,
        body["password"],
        bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
    )
    pair = tokens.issue_token_pair(request.dbsession, request.registry["token_settings"], user)
    # A device the fan proved with a refresh token gets a token of its own from now on.
    known = device_id if device_id and not device_id.startswith("family:") else None
    return {**pair, "device_token": remember_device(request, email, known)}


@view_config(
    route_name="api.auth.refresh",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def refresh(context, request):
    body = request.openapi_validated.body
    try:
        return tokens.rotate_refresh_token(
            request.dbsession, request.registry["token_settings"], body["refresh_token"]
        )
    except tokens.RefreshTokenReused:
        # Returned, not raised: the family revocation above must commit.
        return problem_response(
            request, problems.Unauthorized("The refresh token is invalid or expired.")
        )


@view_config(
    route_name="api.auth.logout",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    openapi=True,
)
def logout(context, request):
    body = request.openapi_validated.body
    tokens.revoke_refresh_token(request.dbsession, body["refresh_token"])
    return HTTPNoContent()


@view_config(
    route_name="api.me",
    context=Me,
    permission="me:view",
    request_method="GET",
    renderer="json",
    openapi=True,
)
def me(context, request):
    return user_json(request.identity.user)


@view_config(
    route_name="api.auth.verify_email",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def verify_email(context, request):
    user = recovery.verify_email(request.dbsession, request.openapi_validated.body["token"])
    return user_json(user)


@view_config(
    route_name="api.me.verification_email",
    context=Me,
    permission="me:manage",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def send_verification_email(context, request):
    """A new verification link (the first may have expired or gone astray)."""
    settings = request.registry.settings
    user = request.identity.user
    count = rate_limits.count_all(request.registry["db_autocommit_engine"],
                                  [(f"verify:user:{user.id}", settings["ratelimit.password_reset_per_email"])], 3600)
    request.response.headers.update(rate_limits.rate_limit_headers([count]))
    if not user.email_verified:
        recovery.send_verification(request.dbsession, user, settings["auth.verify_email_ttl_seconds"])
    request.response.status = 202
    return {"email": user.email, "email_verified": user.email_verified}


RESET_ANSWER = "If an account has this e-mail address, we sent it a link to set a new password."


@view_config(
    route_name="api.auth.password_reset",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    renderer="json",
    openapi=True,
)
def request_password_reset(context, request):
    """The same answer whether or not the address has an account (no enumeration)."""
    settings = request.registry.settings
    email = accounts.normalize_email(request.openapi_validated.body["email"])
    # Counted per address whether or not it has an account, so the limit tells nothing either.
    count = rate_limits.count_all(request.registry["db_autocommit_engine"], [
        (f"reset:ip:{login_throttle.client_key(request.remote_addr)}", settings["ratelimit.password_reset_per_ip"]),
        (f"reset:email:{email}", settings["ratelimit.password_reset_per_email"]),
    ], 3600)
    request.response.headers.update(rate_limits.rate_limit_headers([count]))
    recovery.request_password_reset(request.dbsession, accounts.find_by_email(request.dbsession, email),
                                    settings["auth.password_reset_ttl_seconds"])
    request.response.status = 202
    return {"detail": RESET_ANSWER}


@view_config(
    route_name="api.auth.password_reset.confirm",
    context=AuthService,
    permission="auth:use",
    request_method="POST",
    openapi=True,
)
def confirm_password_reset(context, request):
    body = request.openapi_validated.body
    recovery.reset_password(request.dbsession, body["token"], body["password"],
                            request.registry.settings["auth.bcrypt_rounds"])
    return HTTPNoContent()
