"""The device token a login hands its client, and reads back (ticketing/services/login_throttle.py).

Shared by the API's login (the token in the body and a cookie) and the admin's login form
(the cookie): one device, one budget, whichever door it uses.
"""
from ticketing.services import login_throttle


def remember_device(request, email, device_id=None):
    """A device token for this client: in the body for API clients, and as an HttpOnly cookie
    for browsers (login_throttle.py); returns the token."""
    settings = request.registry.settings
    token = login_throttle.issue_device_token(settings["auth.jwt_secret"], email, device_id)
    request.response.set_cookie(
        login_throttle.DEVICE_COOKIE, token, max_age=login_throttle.DEVICE_TOKEN_DAYS * 86400,
        path="/", httponly=True, samesite="Strict", secure=settings["auth.cookie_secure"])
    return token


def device_of(request, email, presented=None, refresh_token=None):
    """The trusted device this login attempt shows for the account of ``email`` (a device token
    in the body or the cookie, or a refresh token of the account), or None."""
    secret = request.registry.settings["auth.jwt_secret"]
    for token in (presented, request.cookies.get(login_throttle.DEVICE_COOKIE)):
        device_id = login_throttle.trusted_device(secret, email, token)
        if device_id is not None:
            return device_id
    return login_throttle.device_of_refresh_token(request.dbsession, email, refresh_token)
