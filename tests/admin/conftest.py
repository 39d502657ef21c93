"""Admin clients: a WebTest app per user, logged in through the login form (cookie jar kept)."""
import pytest
import webtest

from tests.conftest import TEST_PASSWORD


class AdminClient:
    """A browser-like client: its own cookie jar, forms filled from the served pages."""

    def __init__(self, wsgi_app, user=None):
        self.app = webtest.TestApp(wsgi_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
        self.user = user

    def login(self, email, password=TEST_PASSWORD, status=303):
        form = self.app.get("/admin/login").forms[0]
        form["email"] = email
        form["password"] = password
        return form.submit(status=status)

    def get(self, url, status=200, **kw):
        return self.app.get(url, status=status, **kw)

    def csrf_token(self):
        page = self.app.get("/admin/login")
        return page.forms[0]["csrf_token"].value

    def post(self, url, params=None, status=303, csrf=True, **kw):
        params = dict(params or {})
        if csrf:
            params.setdefault("csrf_token", self.app.cookies and self._token())
        return self.app.post(url, params, status=status, **kw)

    def _token(self):
        # Any admin page carries the session's token; the logout form is on every page.
        page = self.app.get("/admin/login", status="*")
        if page.status_int in (301, 302, 303):
            page = self.app.get("/admin/", status="*")
        field = page.html.find("input", {"name": "csrf_token"})
        return field["value"]

    def submit(self, page, form_id=None, status=303, button=None, **fields):
        """Fill the form (by id, or the page's main form) and submit it."""
        form = page.forms[form_id] if form_id is not None else page.forms[-1]
        for name, value in fields.items():
            form[name] = value
        return form.submit(button, status=status) if button else form.submit(status=status)


@pytest.fixture
def admin_client(wsgi_app, clean_db):
    return lambda: AdminClient(wsgi_app)


@pytest.fixture
def login_as(wsgi_app, user_factory):
    """``login_as("staff")`` -> an AdminClient logged in as a new user with that role."""

    def login(role="staff", **kw):
        api_user = user_factory(role, **kw)
        client = AdminClient(wsgi_app, api_user)
        client.login(api_user.user["email"])
        return client

    return login
