"""The smaller sale-day fixes (issue 24, point 8): every field error at once in plain words,
admin pages never stored by the browser, the dashboard's honest "upcoming" count and its
refreshing figures, signed amounts in an order's money table, and amounts written in the
federation's locale through Babel."""
import re

from ..purchases import buy
from .conftest import field_error, flashes
from .helpers import (
    add_category,
    create_match,
    create_stadium,
    local_input,
    published_match,
)


def test_every_field_error_at_once_in_plain_words(staff_admin):
    stadium_id = create_stadium(staff_admin, sections=())
    page = staff_admin.get(f"/admin/matches/new?stadium_id={stadium_id}")
    # An unparseable time, a bad hold time, and the same team twice: all three shown together.
    page = staff_admin.submit(page, "match-form", home_team="Calcit", away_team="calcit", starts_at="soon",
                              hold_seconds="5", status=422)
    assert field_error(page, "match", "starts_at") == "Kick-off must be a date and time such as 2027-03-01T18:00"
    assert field_error(page, "match", "hold_seconds") == "Hold time (seconds) must be between 30 and 3600"
    assert field_error(page, "match", "away_team") == "Away team must differ from the home team"
    text = page.html.select_one("main").get_text(" ")
    for leak in ("home_team", "away_team", "minor units", "['", "hold_seconds"):
        assert leak not in text, leak

    match_id = create_match(staff_admin, stadium_id)
    page = staff_admin.get(f"/admin/matches/{match_id}/edit")
    page = staff_admin.submit(page, "match-form", sales_open_at=local_input(days=40), sales_close_at=local_input(days=35),
                              max_tickets_per_fan="x", status=422)
    assert field_error(page, "match", "sales_open_at") == "Sales open must be before sales close"
    assert field_error(page, "match", "max_tickets_per_fan") == "Tickets per fan must be a whole number"
    assert field_error(page, "match", "sales_close_at") == "Sales close must not be after kick-off"

    page = staff_admin.get(f"/admin/matches/{match_id}")
    page = staff_admin.submit(page, "category-form", name="", price="5000000", status=422)
    assert field_error(page, "category", "name") == "Name must not be empty"
    assert field_error(page, "category", "price") == "Price (EUR) must be an amount from 0.00 to 1,000,000.00"


def test_admin_pages_are_not_stored_and_logout_clears_the_cache(staff_admin):
    for url in ("/admin/", "/admin/matches", "/admin/orders", "/admin/gate", "/admin/login"):
        response = staff_admin.app.get(url, status="*")
        assert response.headers["Cache-Control"] == "no-store", url
    page = staff_admin.get("/admin/")
    response = page.forms[0].submit(status=303)  # the logout form in the top bar
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Clear-Site-Data"] == '"cache"'
    again = staff_admin.app.get("/admin/orders", status=303)
    assert "/admin/login" in again.location and again.headers["Cache-Control"] == "no-store"


def test_dashboard_counts_only_matches_fans_can_see_and_refreshes(staff_admin, engine):
    match_id, *_ = published_match(staff_admin)
    stadium_id = create_stadium(staff_admin, "Arena Stožice", sections=(("East", 1, 5),))
    create_match(staff_admin, stadium_id, home="Draft Home", away="Draft Away")  # a draft
    cancelled = create_match(staff_admin, stadium_id, home="Gone", away="Away")
    add_category(staff_admin, cancelled, "Standard", "10")
    from sqlalchemy import text
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET status = 'cancelled' WHERE id = :m"), {"m": cancelled})

    page = staff_admin.get("/admin/")
    assert "(1 upcoming on sale or closed, 1 draft(s))" in page.text
    rows = page.html.select("#dashboard-live tbody tr")
    assert len(rows) == 1 and "ACH Volley" in rows[0].text
    live = page.html.find(id="dashboard-live")
    assert live["data-live-url"] == "/admin/?live=1" and int(live["data-live-every"]) <= 60
    assert page.html.find("script", src=re.compile(r"live\.js"))
    fragment = staff_admin.get("/admin/?live=1")
    assert "<html" not in fragment.text and "Figures as of" in fragment.text
    assert fragment.html.select_one(".stat-value").get_text() == "0,00\xa0€"
    assert fragment.headers["Cache-Control"] == "no-store"


def test_order_money_table_has_signs_and_the_locale(staff_admin, user_factory):
    match_id, *_ = published_match(staff_admin)
    fan = user_factory(full_name="Ana Novak")
    order = buy(fan, match_id, quantity=2)  # two Premium seats at 40
    page = staff_admin.get(f"/admin/orders/{order['id']}")
    amounts = [td.get_text() for td in page.html.select("main table td.num")]
    assert amounts == ["−80,00\xa0€"]
    response = staff_admin.submit(page.click("Cancel and refund…"), "refund-form", reason="ill")
    page = response.follow()
    amounts = [td.get_text() for td in page.html.select("main table td.num")]
    assert sorted(amounts) == ["+80,00\xa0€", "−80,00\xa0€"]
    assert "80,00\xa0€ refunded" in " ".join(flashes(page))


def test_amounts_follow_the_locale_setting():
    from types import SimpleNamespace

    from ticketing.views.admin.forms import TemplateHelpers

    for locale, expected, signed in (("sl_SI", "2.870,00\xa0€", "−2.870,00\xa0€"), ("en_IE", "€2,870.00", "-€2,870.00")):
        request = SimpleNamespace(registry=SimpleNamespace(settings={"ticketing.locale": locale}))
        helpers = TemplateHelpers(request)
        assert helpers.money(287000) == expected
        assert helpers.signed_money(287000, outgoing=True) == signed
        assert helpers.signed_money(287000) == "+" + expected


def test_plain_words_and_amount_parsing():
    from ticketing.views.admin.forms import field_words, money_field, plain_words

    assert plain_words("must differ from home_team") == "must differ from the home team"
    assert plain_words("unknown rows in section North: ['9', '10']") == "unknown rows in section North: 9, 10"
    assert plain_words("must be a positive whole number of minor units") == "must be a positive amount"
    assert plain_words("must be before sales_close_at") == "must be before sales close"
    assert field_words("assignments/0/section_id") == "Section"
    errors = []
    amounts = [money_field({"a": raw}, "a", errors) for raw in ("1.250,00", "25,50", "25.00", "1 250.00", "2,870.5")]
    assert amounts == [125000, 2550, 2500, 125000, 287050] and errors == []


def test_section_form_shows_the_name_error_with_the_builder_errors(staff_admin, engine):
    from sqlalchemy import text

    stadium_id = create_stadium(staff_admin, sections=(("North", 2, 4),))
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    page = staff_admin.submit(page, "section-form", name="north", row_count="0", seats_per_row="x", status=422)
    assert field_error(page, "section", "name") == "Section name is already used in this stadium"
    assert field_error(page, "section", "row_count").endswith("must be at least 1")
    assert field_error(page, "section", "seats_per_row").endswith("must be a whole number")
    with engine.connect() as conn:  # the stand-in row the name was checked on is not kept
        assert conn.execute(text("SELECT count(*) FROM sections WHERE stadium_id = :s"), {"s": stadium_id}).scalar_one() == 1
