"""Staff cancel one ticket of an order from the order page (issue 25, decision 0058)."""
from sqlalchemy import text

from ..invariants import assert_invariants
from ..purchases import buy
from .conftest import flashes
from .helpers import published_match


def test_staff_cancel_one_ticket_from_the_order_page(staff_admin, user_factory, engine):
    match_id, *_ = published_match(staff_admin)
    fan = user_factory(full_name="Ana Novak")
    order = buy(fan, match_id)
    first, second = order["tickets"]
    # Used at the gate, and past the refund window: staff may still cancel it.
    staff_admin.api.post(f"/api/v1/matches/{match_id}/check-ins", {"code": first["code"]}, status=200)
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET refund_cutoff_at = now() - interval '1 minute' WHERE id = :m"),
                     {"m": match_id})

    page = staff_admin.get(f"/admin/orders/{order['id']}")
    buttons = page.html.select("form.ticket-cancel button")
    assert len(buttons) == 2 and "data-confirm" in buttons[0].attrs
    form = page.html.select("form.ticket-cancel")[0]
    assert form["action"].endswith(f"/tickets/{first['id']}/cancel")
    page = staff_admin.post(form["action"]).follow()
    assert "40,00\xa0€ refunded" in " ".join(flashes(page))
    assert len(page.html.select("form.ticket-cancel")) == 1  # the other ticket is still valid
    assert page.html.select_one("h1 .badge").get_text() == "Paid"
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000 - 8000 + 4000
    assert f"ticket #{first['id']}" in staff_admin.get("/admin/audit?action=ticket.refund").text

    # Again: refused with the service's reason, on the page, and nothing changes.
    page = staff_admin.post(f"/admin/orders/{order['id']}/tickets/{first['id']}/cancel", status=409)
    assert "already been cancelled" in page.html.select_one(".error-summary").text
    # A ticket of another order, or no ticket at all, is refused without touching anything.
    other = buy(user_factory(), match_id)
    page = staff_admin.post(f"/admin/orders/{order['id']}/tickets/{other['tickets'][0]['id']}/cancel").follow()
    assert "not part of this order" in " ".join(flashes(page))
    staff_admin.post(f"/admin/orders/{order['id']}/tickets/abc/cancel").follow()

    # The last ticket cancels the order.
    page = staff_admin.post(f"/admin/orders/{order['id']}/tickets/{second['id']}/cancel").follow()
    assert "the order is cancelled" in " ".join(flashes(page))
    assert page.html.select_one("h1 .badge").get_text() == "Cancelled"
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000
    assert_invariants(engine)


def test_a_ticket_given_away_shows_its_holder(staff_admin, user_factory):
    match_id, *_ = published_match(staff_admin)
    fan, friend = user_factory(verified=True), user_factory(full_name="Maja Kovač")  # giving needs it (0056)
    order = buy(fan, match_id)
    fan.post(f"/api/v1/tickets/{order['tickets'][0]['id']}/transfer", {"email": friend.user["email"]}, status=200)
    page = staff_admin.get(f"/admin/orders/{order['id']}")
    assert "Given to Maja Kovač" in page.text
