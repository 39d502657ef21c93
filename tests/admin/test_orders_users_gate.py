"""Orders (search, tickets with QR, refund), users (search, top-up) and the gate."""
from ..purchases import buy
from .conftest import field_error, flashes
from .helpers import published_match


def test_find_an_order_see_its_tickets_and_refund_it(staff_admin, user_factory):
    match_id, *_ = published_match(staff_admin)
    fan = user_factory(full_name="Ana Novak")
    order = buy(fan, match_id)
    other = buy(user_factory(), match_id)

    page = staff_admin.get("/admin/orders")
    assert len(page.html.select("tbody tr")) == 2
    page = staff_admin.get(f"/admin/orders?q={fan.user['email'].upper()}")
    assert [a.get_text() for a in page.html.select("tbody td:first-child a")] == [f"#{order['id']}"]
    # A part of a name or e-mail finds the fan's orders (issue 24); under 3 letters is refused.
    page = staff_admin.get("/admin/orders?q=novak")
    assert [a.get_text() for a in page.html.select("tbody td:first-child a")] == [f"#{order['id']}"]
    page = staff_admin.get("/admin/orders?q=an", status=400)
    assert "at least 3 characters" in field_error(page, "f", "q")
    assert staff_admin.get(f"/admin/orders?q=%23{other['id']}", status=303).location.endswith(f"/admin/orders/{other['id']}")
    response = staff_admin.get("/admin/orders?q=99999", status=303)
    assert "There is no order 99999." in flashes(response.follow())
    page = staff_admin.get(f"/admin/orders?match_id={match_id}&status=cancelled")
    assert "No orders match this search." in page.text and not page.html.select("tbody tr")

    page = staff_admin.get(f"/admin/orders/{order['id']}")
    tickets = page.html.select(".ticket")
    assert len(tickets) == 2 and all(t.find("svg") for t in tickets)
    codes = [code.get_text() for code in page.html.select(".ticket-code")]
    assert codes == [t["code"] for t in order["tickets"]]
    assert "Ana Novak" in page.text and "80,00\xa0€" in page.text  # two Premium seats

    page = page.click("Cancel and refund…")
    response = staff_admin.submit(page, "refund-form", reason="fan is ill")
    page = response.follow()
    assert "80,00\xa0€ refunded" in " ".join(flashes(page))
    assert page.html.select_one("h1 .badge").get_text() == "Cancelled"
    assert not page.html.select(".ticket-code")
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000
    assert fan.get("/api/v1/wallet/transactions").json["items"][0]["reason"] == "fan is ill"
    audit = staff_admin.get("/admin/audit?action=order.refund").text
    assert f"order #{order['id']}" in audit and "reason: fan is ill" in audit

    # A second refund of the same order is refused with the service's reason.
    page = staff_admin.post(f"/admin/orders/{order['id']}/refund", status=409)
    assert "already been cancelled" in page.html.select_one(".error-summary").text


def test_users_search_and_staff_top_up(staff_admin, user_factory):
    fan = user_factory(full_name="Luka Dončić", email="luka@example.com")
    page = staff_admin.get("/admin/users?q=DON%C4%8CI%C4%86")  # what a browser sends for DONČIĆ
    assert [a.get_text() for a in page.html.select("tbody td a")] == ["luka@example.com"]
    assert "No users found" in staff_admin.get("/admin/users?q=nobody").text
    page = staff_admin.get("/admin/users?role=staff")
    assert staff_admin.user["email"] in page.text and "luka@example.com" not in page.text

    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    page = staff_admin.submit(page, "top-up-form", amount="-5", reason="", status=422)
    assert field_error(page, "top_up", "reason").startswith("Reason is required")
    page = staff_admin.submit(page, "top-up-form", amount="12.345", reason="goodwill", status=422)
    assert "two decimals" in field_error(page, "top_up", "amount")
    page = staff_admin.submit(page, "top-up-form", amount="0", reason="goodwill", status=422)
    assert "more than zero" in field_error(page, "top_up", "amount")
    # The first step shows the amount back, in words, and moves no money; the second credits.
    page = staff_admin.submit(page, "top-up-form", amount="150", reason="late gate, goodwill", status=200)
    assert page.html.find(id="credit-words").get_text(strip=True) == "one hundred and fifty euro, zero cents"
    assert fan.get("/api/v1/wallet").json["balance"] == 0
    response = staff_admin.submit(page, "credit-confirm-form")
    assert "the balance is 150,00\xa0€" in " ".join(flashes(response.follow()))
    ledger = fan.get("/api/v1/wallet/transactions").json["items"]
    assert [(e["kind"], e["amount"], e["reason"]) for e in ledger] == [("top_up", 15_000, "late gate, goodwill")]
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    assert staff_admin.user["email"] in page.html.find("table").text  # who added the money
    assert "wallet.credit" in staff_admin.get("/admin/audit").text

    # Staff accounts have no wallet to top up.
    other_staff = user_factory("staff")
    page = staff_admin.get(f"/admin/users/{other_staff.user['id']}")
    assert page.html.find(id="top-up-form") is None
    staff_admin.post(f"/admin/users/{other_staff.user['id']}/top-up", {"amount": "5", "reason": "x"}, status=403)


def test_gate_admits_once_and_rejects_forgeries(staff_admin, user_factory):
    match_id, *_ = published_match(staff_admin)
    order = buy(user_factory(full_name="Maja Kovač"), match_id, quantity=1)
    code = order["tickets"][0]["code"]

    page = staff_admin.get("/admin/gate")
    page = page.forms["gate-choose"].submit().follow()
    assert page.request.path == f"/admin/matches/{match_id}/gate"
    page = staff_admin.submit(page, "gate-form", status=200, code=code)
    verdict = page.html.find(id="verdict")
    assert "verdict-admitted" in verdict["class"] and "ADMITTED" in verdict.h2.text and "Maja Kovač" in verdict.text
    page = staff_admin.submit(page, "gate-form", status=409, code=code)
    verdict = page.html.find(id="verdict")
    assert "ALREADY ADMITTED" in verdict.h2.text and staff_admin.user["email"] in verdict.text
    page = staff_admin.submit(page, "gate-form", status=422, code=code[:-6] + "AAAAAA")
    verdict = page.html.find(id="verdict")
    assert "REJECTED" in verdict.h2.text and "forged" in verdict.text.lower()
    assert staff_admin.get("/admin/gate").forms["gate-choose"]["match_id"].value == str(match_id)


def test_audit_log_pages(staff_admin):
    for index in range(55):
        staff_admin.post("/admin/stadiums/new", {"name": f"Hall {index}", "city": "Celje"})
    page = staff_admin.get("/admin/audit")
    assert "Entries on this page: 50" in page.html.select_one(".pager").text
    older = page.click("Older →")
    assert len(older.html.select("tbody tr")) == 5 and not older.html.select("a[rel=next]")
    newer = older.click("← Newer")  # keyset pages both ways (decision 0038)
    assert [tr.text for tr in newer.html.select("tbody tr")] == [tr.text for tr in page.html.select("tbody tr")]
    assert "Nothing recorded for this filter" in staff_admin.get("/admin/audit?action=order.refund").text
    # An action prefix ("stadium." or "stadium") finds every stadium action, and keeps the
    # filter from page to page.
    page = staff_admin.get("/admin/audit?action=stadium.")
    assert len(page.html.select("tbody tr")) == 50
    older = page.click("Older →")
    assert "action=stadium." in older.request.url and len(older.html.select("tbody tr")) == 5
    assert len(staff_admin.get("/admin/audit?action=stadium").html.select("tbody tr")) == 50
    bad = staff_admin.get("/admin/audit?target_type=galaxy&target_id=x", status=400)
    assert field_error(bad, "f", "target_id") and "Nothing searched" in bad.text
    assert "Object type must be one of" in bad.text


def test_unknown_ids_are_404_pages_for_staff(staff_admin):
    for url in ["/admin/matches/999", "/admin/orders/abc", "/admin/users/0", "/admin/stadiums/12345678901234567890",
                "/admin/nothing-here"]:
        page = staff_admin.get(url, status=404)
        assert "Not found" in page.html.find("h1").text


def test_order_search_pages_keep_the_search_and_bad_filters_are_all_named(staff_admin, user_factory, engine):
    from sqlalchemy import text

    match_id, *_ = published_match(staff_admin)
    placed = [buy(user_factory(full_name=f"Zala Kranjc {index}"), match_id, quantity=1)["id"] for index in range(23)]
    buy(user_factory(full_name="Other Fan"), match_id, quantity=1)
    with engine.begin() as conn:  # the first order was placed long ago
        conn.execute(text("UPDATE orders SET created_at = '2024-05-01T12:00:00Z' WHERE id = :o"), {"o": placed[0]})

    page = staff_admin.get("/admin/orders?q=kranjc&status=paid")
    shown = [int(a.get_text()[1:]) for a in page.html.select("tbody td:first-child a")]
    assert shown == placed[::-1][:20]
    older = page.click("Older →")
    assert "q=kranjc" in older.request.url and "status=paid" in older.request.url
    assert [int(a.get_text()[1:]) for a in older.html.select("tbody td:first-child a")] == placed[::-1][20:]
    page = staff_admin.get("/admin/orders?q=kranjc&sort=oldest")
    assert int(page.html.select_one("tbody td:first-child a").get_text()[1:]) == placed[0]
    page = staff_admin.get("/admin/orders?from=2024-05-01&to=2024-05-01")
    assert [int(a.get_text()[1:]) for a in page.html.select("tbody td:first-child a")] == [placed[0]]
    assert "No orders match this search." in staff_admin.get("/admin/orders?q=nobody-at-all").text

    bad = staff_admin.get("/admin/orders?from=2024-02-31&to=x&status=lost&sort=random&q=ab", status=400)
    for field in ("from", "to", "status", "sort", "q"):
        assert field_error(bad, "f", field), field
    assert not bad.html.select("tbody tr") and "Nothing searched" in bad.text
    bad = staff_admin.get("/admin/orders?from=2024-05-02&to=2024-05-01", status=400)
    assert "must not be before the first day" in field_error(bad, "f", "to")

    page = staff_admin.get("/admin/users?q=kranjc&role=customer&sort=oldest")
    assert [td.get_text() for td in page.html.select("tbody td:nth-child(2)")] == [f"Zala Kranjc {i}" for i in range(20)]
    older = page.click("Newer →")  # oldest first: the next page holds newer accounts
    assert "role=customer" in older.request.url and len(older.html.select("tbody tr")) == 3
    assert "at least 3 characters" in staff_admin.get("/admin/users?q=kr", status=400).text
