"""Admin test clients: each is a browser-like WebTest app with its own cookie jar, logged in
through the login form like a person would, filling the forms the pages serve."""
import re

import pytest
import webtest

from tests.conftest import TEST_PASSWORD


class AdminClient:
    def __init__(self, wsgi_app, api_client=None):
        self.app = webtest.TestApp(wsgi_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
        self.api = api_client  # the same person's bearer-token API client, for setting up data

    @property
    def user(self):
        return self.api.user

    def login(self, email, password=TEST_PASSWORD, status=303, next_url=None):
        page = self.app.get("/admin/login" + (f"?next={next_url}" if next_url else ""))
        form = page.forms[0]
        form["email"] = email
        form["password"] = password
        return form.submit(status=status)

    def get(self, url, status=200, **kw):
        return self.app.get(url, status=status, **kw)

    def token(self):
        """The session's CSRF token, as every page's logout form carries it."""
        page = self.app.get("/admin/login", status="*")
        if page.status_int == 303:
            page = self.app.get("/admin/", status="*")
        return page.html.find("input", {"name": "csrf_token"})["value"]

    def post(self, url, params=None, status=303, csrf=True, **kw):
        params = dict(params or {})
        if csrf:
            params.setdefault("csrf_token", self.token())
        return self.app.post(url, params, status=status, **kw)

    def submit(self, page, form_id, status=303, button=None, **fields):
        form = page.forms[form_id]
        for name, value in fields.items():
            form[name] = value
        if button:
            return form.submit(name="action", value=button, status=status)
        return form.submit(status=status)


def flashes(page):
    return [p.get_text(" ", strip=True) for p in page.html.select(".flash")]


def field_error(page, form, name):
    """The error shown next to a field, checking it is wired to the input for screen readers."""
    element = page.html.find(id=f"{form}-{name}")
    assert element is not None, f"no field {form}-{name}"
    error = page.html.find(id=f"{form}-{name}-error")
    if error is None:
        return None
    assert element.get("aria-invalid") == "true"
    assert f"{form}-{name}-error" in element.get("aria-describedby", "").split()
    return error.get_text(" ", strip=True)


def id_from(location, kind):
    return int(re.search(rf"/admin/{kind}/(\d+)", location).group(1))


@pytest.fixture
def anonymous_admin(wsgi_app, clean_db):
    return AdminClient(wsgi_app)


@pytest.fixture
def login_as(wsgi_app, user_factory):
    """``login_as("staff")``: a new user with that role, logged in through the form."""

    def login(role="staff", **kw):
        api = user_factory(role, **kw)
        client = AdminClient(wsgi_app, api)
        client.login(api.user["email"])
        return client

    return login


@pytest.fixture
def staff_admin(login_as):
    return login_as("staff")
