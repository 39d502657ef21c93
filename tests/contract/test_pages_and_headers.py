"""What the document promises about pages and headers, checked on real answers (WebTest,
with response validation on, so each answer is also checked against its schema).

- a page's ``next`` is an absolute URL a client follows as it is (the path form joined to a
  generated client's base URL gave ``/api/v1/api/v1/...``, a 404), ``has_more`` says whether
  one follows, and the RFC 8288 ``Link`` header carries next, prev and first;
- rate-limited operations say where the client stands (IETF ``RateLimit`` and
  ``RateLimit-Policy``), on a success and on the 429 with ``Retry-After``;
- the QR image and the PDF ticket are also downloads for clients that ask for
  ``application/octet-stream``.
"""
import re
from urllib.parse import urlsplit

import webtest

import ticketing

from ..conftest import app_settings, make_user
from ..functional.catalogue_helpers import create_stadium, published_match

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(response):
    return {rel: url for url, rel in LINK.findall(response.headers["Link"])}


def test_pages_carry_an_absolute_next_url_has_more_and_a_link_header(staff, anonymous):
    for name in ("Alpha", "Beta", "Gamma"):
        create_stadium(staff, name=name, sections=())
    first = anonymous.get("/api/v1/stadiums?limit=2&city=Ljubljana")
    body = first.json
    assert body["has_more"] is True and len(body["items"]) == 2 and body["total"] == 3
    next_url = urlsplit(body["next"])
    assert next_url.scheme == "http" and next_url.netloc == "localhost"  # absolute: WebTest's host
    assert next_url.path == "/api/v1/stadiums" and "city=Ljubljana" in next_url.query
    assert links(first)["next"] == body["next"] and "prev" not in links(first)
    assert links(first)["first"].endswith("offset=0")

    last = anonymous.get(body["next"])  # followed as it is
    assert last.json["has_more"] is False and last.json["next"] is None and len(last.json["items"]) == 1
    assert "next" not in links(last) and urlsplit(links(last)["prev"]).query.endswith("offset=0")
    assert {s["name"] for s in body["items"] + last.json["items"]} == {"Alpha", "Beta", "Gamma"}


def test_a_page_behind_the_proxy_links_to_the_public_host(anonymous):
    """Behind nginx the URL is built from the Host and X-Forwarded-Proto the proxy sets
    (waitress trusts them from nginx only, production.ini)."""
    response = anonymous.get("/api/v1/matches?limit=1", headers={"Host": "tickets.example.org"},
                             extra_environ={"wsgi.url_scheme": "https"})
    assert links(response)["first"].startswith("https://tickets.example.org/api/v1/matches?")


def fields(header):
    """``"name";a=1;b=2, ...`` -> {name: {a: 1, b: 2}} (RFC 8941 list of items, as we send it)."""
    parsed = {}
    for member in header.split(","):
        name, *params = member.strip().split(";")
        parsed[name.strip('"')] = {key: int(value) for key, value in (param.split("=") for param in params)}
    return parsed


def test_rate_limited_operations_say_where_the_client_stands(database_url, clean_db, engine):
    app = webtest.TestApp(ticketing.main({}, **app_settings(
        database_url, **{"ratelimit.holds_per_user": "2", "ratelimit.holds_per_ip": "50"})),
        extra_environ={"REMOTE_ADDR": "10.1.2.3"})
    staff = make_user(app, engine, role="staff")
    fan = make_user(app, engine)
    match, *_ = published_match(staff)
    holds = f"/api/v1/matches/{match['id']}/holds"

    first = fan.post(holds, {"quantity": 1}, status=201)
    assert fields(first.headers["RateLimit-Policy"]) == {"holds-per-ip": {"q": 50, "w": 60},
                                                         "holds-per-user": {"q": 2, "w": 60}}
    remaining = fields(first.headers["RateLimit"])
    assert remaining["holds-per-user"]["r"] == 1 and remaining["holds-per-ip"]["r"] == 49
    assert 0 <= remaining["holds-per-user"]["t"] <= 60

    fan.post(holds, {"quantity": 1}, status=201)
    refused = fan.post(holds, {"quantity": 1}, status=429)
    assert refused.content_type == "application/problem+json"
    assert fields(refused.headers["RateLimit"])["holds-per-user"]["r"] == 0
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "holds-per-user" in refused.headers["RateLimit-Policy"]


def test_signup_and_login_carry_their_rate_limit_fields(anonymous):
    body = {"email": "limits@example.com", "password": "spike-and-block-7", "full_name": "L"}
    signup = anonymous.post("/api/v1/auth/signup", body, status=201)
    assert set(fields(signup.headers["RateLimit-Policy"])) == {"auth-per-ip", "auth-per-email"}
    login = anonymous.post("/api/v1/auth/login", {"email": body["email"], "password": body["password"]}, status=200)
    assert "auth-per-ip" in fields(login.headers["RateLimit"])


def test_without_limits_no_rate_limit_fields_are_sent(staff, customer):
    match, *_ = published_match(staff)  # the test settings turn hold limits off
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201)
    assert "RateLimit" not in hold.headers and "RateLimit-Policy" not in hold.headers


def test_the_qr_image_is_also_a_download(staff, customer):
    match, *_ = published_match(staff)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    customer.post("/api/v1/wallet/top-ups", {"amount": hold["total"]}, status=201)
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    url = f"/api/v1/tickets/{order['tickets'][0]['id']}/qr.svg"
    image = customer.get(url)
    assert image.content_type == "image/svg+xml" and "Content-Disposition" not in image.headers
    download = customer.get(url, headers={"Accept": "application/octet-stream"})
    assert download.content_type == "application/octet-stream" and download.body == image.body
    assert download.headers["Content-Disposition"] == f'attachment; filename="ticket-{order["tickets"][0]["id"]}.svg"'


def test_the_pdf_ticket_is_also_a_download(staff, customer):
    match, *_ = published_match(staff)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    customer.post("/api/v1/wallet/top-ups", {"amount": hold["total"]}, status=201)
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    ticket_id = order["tickets"][0]["id"]
    document = customer.get(f"/api/v1/tickets/{ticket_id}.pdf")
    assert document.content_type == "application/pdf" and document.body.startswith(b"%PDF")
    assert document.headers["Content-Disposition"] == f'inline; filename="ticket-{ticket_id}.pdf"'
    download = customer.get(f"/api/v1/tickets/{ticket_id}.pdf", headers={"Accept": "application/octet-stream"})
    assert download.content_type == "application/octet-stream" and download.body.startswith(b"%PDF")
    assert download.headers["Content-Disposition"] == f'attachment; filename="ticket-{ticket_id}.pdf"'
