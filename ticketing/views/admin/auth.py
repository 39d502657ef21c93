"""Logging in and out of the admin, and the admin's error pages.

Login verifies the password with the same service as the API (and counts the attempt against
the same per-IP and per-e-mail limits), then binds the rotated session to the user with
``remember``. Any account may log in; what it may see is decided page by page by the ACLs, so
a customer who logs in here gets a 403 page, and an anonymous visitor is sent to this login
page (and back to where they were going afterwards).
"""
import logging
from urllib.parse import urlsplit

from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPSeeOther
from pyramid.security import forget, remember
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config, view_config

from ticketing.problems import Problem, RateLimited
from ticketing.resources.admin import AdminRoot
from ticketing.services import accounts, login_throttle

from ..login_devices import device_of, remember_device
from .forms import ADMIN_PATH, FormErrors, flash, rejected, text_field

log = logging.getLogger(__name__)


def safe_next(target):
    """Only a path inside the admin: never another host (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 for char in target):
        return None
    # ASCII only (a Location header carries no other characters: waitress fails the whole
    # response), and no dot segments, which would lead out of /admin/ on the same host.
    # No percent sign in the path either: browsers decode %2e%2e to a dot segment.
    if (not target.isascii() or "%" in parts.path
            or any(segment in (".", "..") for segment in parts.path.split("/"))):
        return None
    return target


def _limit_attempts(request, email):
    """The same budgets as the API's login (login_throttle.py), so the two doors share them;
    a browser that logged in before shows its device cookie."""
    email = accounts.normalize_email(email)
    login_throttle.check_login_attempt(request.registry["db_autocommit_engine"], request.registry.settings,
                                       email, request.remote_addr, device_of(request, email))


@view_config(route_name="admin.login", context=AdminRoot, permission="admin:login",
             request_method="GET", renderer="admin/login.jinja2")
def login_form(context, request):
    target = safe_next(request.GET.get("next"))
    if request.identity is not None and request.identity.user.is_staff:
        return HTTPSeeOther(target or request.route_url("admin.dashboard"))
    return {"next": target or "", "email": ""}


@view_config(route_name="admin.login", context=AdminRoot, permission="admin:login",
             request_method="POST", renderer="admin/login.jinja2")
def login(context, request):
    email = text_field(request.POST, "email", 254)
    password = request.POST.get("password") or ""
    target = safe_next(request.POST.get("next"))
    try:
        _limit_attempts(request, email)
        user = accounts.authenticate(
            request.dbsession, email, password, bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"]
        )
    except RateLimited as problem:
        errors = rejected(request, problem)
        request.response.headers["Retry-After"] = str(problem.retry_after)
        return {"next": target or "", "email": email, "errors": errors}
    except Problem as problem:
        # One message whatever was wrong, as the service intends; shown at the top of the form.
        request.tm.doom()
        request.response.status = 200
        return {"next": target or "", "email": email, "errors": FormErrors(problem)}
    headers = remember(request, user.id)
    flash(request, f"Welcome, {user.full_name}.")
    email = accounts.normalize_email(email)
    remember_device(request, email, device_of(request, email))
    response = HTTPSeeOther(target or request.route_url("admin.dashboard"), headers=headers)
    response.headers.extend(header for header in request.response.headerlist if header[0] == "Set-Cookie")
    return response


@view_config(route_name="admin.logout", context=AdminRoot, permission="admin:login", request_method="POST")
def logout(context, request):
    headers = forget(request)
    flash(request, "You have been logged out.")
    response = HTTPSeeOther(request.route_url("admin.login"), headers=headers)
    # Pages shown before the logout may sit in the browser's cache from before no-store.
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def _to_login(request):
    target = request.path_qs if request.method == "GET" else None
    query = {"next": target} if safe_next(target) else {}
    return HTTPSeeOther(request.route_url("admin.login", _query=query))


@forbidden_view_config(path_info=ADMIN_PATH, renderer="admin/error.jinja2")
def forbidden(exc, request):
    if request.identity is None:
        return _to_login(request)
    request.response.status = 403
    if not request.identity.user.is_staff:
        message = (f"You are logged in as {request.identity.user.email}, which is not a staff account. "
                   "The admin is for federation staff only.")
    else:
        message = "Your role does not allow this action. Ask an administrator."
    return {"title": "Not allowed", "message": message}


@notfound_view_config(path_info=ADMIN_PATH, append_slash=HTTPSeeOther, renderer="admin/error.jinja2")
def not_found(exc, request):
    if request.identity is None:
        return _to_login(request)  # anonymous visitors learn nothing about what exists
    if not request.identity.user.is_staff:
        # Nor do signed-in fans: an id that does not exist looks like one they may not see.
        return forbidden(exc, request)
    request.response.status = 404
    return {"title": "Not found", "message": "There is nothing at this address. It may have been removed."}


@exception_view_config(BadCSRFToken, path_info=ADMIN_PATH, renderer="admin/error.jinja2")
def bad_csrf_token(exc, request):
    request.response.status = 400
    return {
        "title": "This form has expired",
        "message": "The form was not sent from this admin, or your session changed since it was shown. "
                   "Go back, reload the page and try again.",
    }


@exception_view_config(Problem, path_info=ADMIN_PATH, renderer="admin/error.jinja2")
def domain_problem(exc, request):
    """A service said no outside a form (pages catch their own form errors first)."""
    request.response.status = exc.status
    return {"title": exc.title, "message": exc.detail, "problems": exc.errors}


@exception_view_config(HTTPException, path_info=ADMIN_PATH, renderer="admin/error.jinja2")
def http_error(exc, request):
    if exc.code < 400:
        return exc
    request.response.status = exc.code
    return {"title": exc.title, "message": exc.explanation or exc.detail or exc.title}


@exception_view_config(Exception, path_info=ADMIN_PATH, renderer="admin/error.jinja2")
def unexpected_error(exc, request):
    log.exception("admin error [%s] %s %s", getattr(request, "request_id", "-"), request.method, request.path)
    # The page's layout reads the signed-in user from the request's session; after a failed
    # statement that session refuses every query until it is rolled back (the request's
    # transaction is aborted anyway), and the error page itself would fail.
    request.dbsession.rollback()
    request.response.status = 500
    return {
        "title": "Something went wrong",
        "message": f"The error has been logged (request {getattr(request, 'request_id', '-')}). "
                   "Nothing was changed; please try again.",
    }
