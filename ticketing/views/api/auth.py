"""Account endpoints: signup, login, token refresh, logout and the caller's profile."""
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ticketing import problems
from ticketing.problems import problem_response
from ticketing.resources.accounts import AuthService, Me
from ticketing.services import accounts, login_throttle, rate_limits, tokens

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
    user = accounts.signup(
        request.dbsession,
        body["email"],
        body["password"],
        body["full_name"],
        bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
    )
    request.response.status = 201
    return user_json(user)


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
