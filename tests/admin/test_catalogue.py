"""Stadiums, matches, categories, seating, publication and the seat map through the admin."""
from sqlalchemy import text

from .conftest import field_error, flashes
from .helpers import (
    add_category, assign, category_ids, create_match, create_stadium, drawn_seats, local_input, published_match,
    section_ids,
)


def test_stadium_form_shows_errors_next_to_fields(staff_admin):
    page = staff_admin.get("/admin/stadiums/new")
    page = staff_admin.submit(page, "stadium-form", name="  ", city="", status=422)
    assert field_error(page, "stadium", "name") == "Name must not be empty"
    assert field_error(page, "stadium", "city") == "City must not be empty"
    assert field_error(page, "stadium", "address") is None
    assert page.html.select_one(".error-summary")["role"] == "alert"

    create_stadium(staff_admin, "Arena Stožice", sections=())
    page = staff_admin.get("/admin/stadiums/new")
    page = staff_admin.submit(page, "stadium-form", name="arena stožice", city="Ljubljana", status=409)
    assert field_error(page, "stadium", "name") == "Name is already used by another stadium"
    assert page.forms["stadium-form"]["city"].value == "Ljubljana"  # what was typed stays


def test_section_builder_and_the_seat_picture(staff_admin, engine):
    stadium_id = create_stadium(staff_admin, "Hala Tivoli", sections=(("North", 3, 10),))
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    response = staff_admin.submit(page, "section-form", name="South", row_count="4", seats_per_row="8",
                                  first_row="A", extra_per_row="2")
    page = response.follow()
    assert "4 rows, 44 seats" in " ".join(flashes(page))  # 8 + 10 + 12 + 14
    svg = page.html.find("svg", id="seatmap")
    seats = drawn_seats(page)
    assert len(seats) == 30 + 44 and len({seat["id"] for seat in seats}) == 74
    assert [t.get_text() for t in svg.find_all("text")] == ["North", "South"]
    assert "South · row D · seat 14" in [seat["title"] for seat in seats]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT row_label, count(*) FROM seats s JOIN sections c ON c.id = s.section_id "
                                 "WHERE c.name = 'South' GROUP BY 1 ORDER BY 1")).all()
    assert rows == [("A", 8), ("B", 10), ("C", 12), ("D", 14)]
    audit = staff_admin.get("/admin/audit?target_type=stadium")
    assert audit.text.count("stadium.section_create") == 2 and "stadium.create" in audit.text


def test_section_builder_errors(staff_admin):
    stadium_id = create_stadium(staff_admin, "Hala Tivoli", sections=(("North", 2, 5),))
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    page = staff_admin.submit(page, "section-form", name="", row_count="0", seats_per_row="abc", first_row="?",
                              status=422)
    assert field_error(page, "section", "row_count") == "Rows must be at least 1"
    assert field_error(page, "section", "seats_per_row") == "Seats per row must be a whole number"
    assert "number" in field_error(page, "section", "first_row")
    page = staff_admin.submit(page, "section-form", name="East", row_count="3", seats_per_row="1001",
                              first_row="Y", status=422)
    assert field_error(page, "section", "seats_per_row") == "Seats per row must be at most 1000"
    assert "pass Z" in field_error(page, "section", "first_row")
    page = staff_admin.submit(page, "section-form", name="north", row_count="2", seats_per_row="5", first_row="1",
                              status=409)
    assert field_error(page, "section", "name") == "Section name is already used in this stadium"


def test_edit_stadium(staff_admin):
    stadium_id = create_stadium(staff_admin, "Hala Tivoli", sections=())
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    page = staff_admin.submit(page, "stadium-form", city="", status=422)
    assert field_error(page, "stadium", "city") == "City must not be empty"
    response = staff_admin.submit(page, "stadium-form", city="Maribor")
    assert "Maribor" in response.follow().html.select_one(".subtitle").text


def test_match_form_validation(staff_admin):
    stadium_id = create_stadium(staff_admin, sections=())
    page = staff_admin.get("/admin/matches/new")
    page = staff_admin.submit(page, "match-form", stadium_id=str(stadium_id), home_team="Calcit", away_team="calcit",
                              starts_at=local_input(-2), hold_seconds="5", status=422)
    assert field_error(page, "match", "away_team") == "Away team must differ from the home team"
    assert field_error(page, "match", "starts_at") == "Kick-off must be in the future"
    assert field_error(page, "match", "hold_seconds") == "Hold time (seconds) must be between 30 and 3600"
    page = staff_admin.submit(page, "match-form", away_team="ACH", starts_at="tomorrow", hold_seconds="600",
                              status=422)
    assert "date and time" in field_error(page, "match", "starts_at")


def test_schedule_price_seat_and_publish(staff_admin, engine):
    stadium_id = create_stadium(staff_admin)
    match_id = create_match(staff_admin, stadium_id)
    page = staff_admin.get(f"/admin/matches/{match_id}")
    page = staff_admin.submit(page, "category-form", name="Premium", price="forty", status=422)
    assert field_error(page, "category", "price") == "Price (EUR) must be an amount such as 25.00"
    add_category(staff_admin, match_id, "Premium", "40,50")
    page = staff_admin.submit(staff_admin.get(f"/admin/matches/{match_id}"), "category-form", name="premium",
                              price="3", status=409)
    assert field_error(page, "category", "name") == "Name is already used for this match"
    add_category(staff_admin, match_id, "Standard", "25")
    sections, categories = section_ids(staff_admin, match_id), category_ids(staff_admin, match_id)

    # Publishing an empty plan is refused, and says why.
    response = staff_admin.post(f"/admin/matches/{match_id}/publish", {"confirm": "yes"})
    assert "Nothing to sell" in " ".join(flashes(response.follow()))

    page = assign(staff_admin, match_id, sections["North"], categories["Premium"], rows="1-2, 9", status=422)
    assert field_error(page, "assign", "rows").startswith("Rows unknown rows in section North: 9")
    assign(staff_admin, match_id, sections["North"], categories["Premium"])
    assign(staff_admin, match_id, sections["South"], categories["Standard"])
    assign(staff_admin, match_id, sections["North"], categories["Standard"], rows="3")  # later rules win
    page = staff_admin.get(f"/admin/matches/{match_id}")
    response = staff_admin.submit(page, "block-form", section_id=str(sections["North"]), row="1", **{"from": "1", "to": "4"},
                                  reason="press")
    assert "42 seats on sale, 4 blocked" in " ".join(flashes(response.follow()))
    page = staff_admin.get(f"/admin/matches/{match_id}")
    page = staff_admin.submit(page, "block-form", section_id=str(sections["North"]), row="7", status=422)
    assert "unknown row" in field_error(page, "block", "row")

    # Taking one row off sale keeps the rest of the plan (and the press block).
    response = assign(staff_admin, match_id, sections["South"], "", rows="2")
    assert "34 seats on sale, 4 blocked" in " ".join(flashes(response.follow()))

    response = staff_admin.post(f"/admin/matches/{match_id}/publish", {"confirm": "yes"})
    assert "Published: 34 seats on sale, 4 blocked" in " ".join(flashes(response.follow()))
    with engine.connect() as conn:
        per_category = dict(conn.execute(text(
            "SELECT c.name, count(*) FROM match_seats ms JOIN price_categories c ON c.id = ms.category_id "
            "WHERE ms.match_id = :m AND ms.status = 'available' GROUP BY 1"), {"m": match_id}).all())
        reasons = conn.execute(text("SELECT DISTINCT blocked_reason FROM match_seats WHERE match_id = :m AND status = 'blocked'"),
                               {"m": match_id}).scalars().all()
    assert per_category == {"Premium": 16, "Standard": 18} and reasons == ["press"]
    page = staff_admin.get(f"/admin/matches/{match_id}")
    assert page.html.find(id="assign-form") is None and page.html.find(id="category-form") is None
    assert "match.publish" in staff_admin.get(f"/admin/audit?target_type=match&target_id={match_id}").text


def test_match_list_filters_and_pagination(staff_admin):
    stadium_id = create_stadium(staff_admin, sections=())
    for day in range(1, 24):
        create_match(staff_admin, stadium_id, home=f"Team {day:02d}", away="Calcit", days=day)
    page = staff_admin.get("/admin/matches")
    assert "1–20 of 23 matches" in page.html.select_one(".pager").get_text()
    page = page.click("Next →")
    assert len(page.html.select("tbody tr")) == 3
    page = staff_admin.get("/admin/matches?team=team 07&status=draft")
    assert [a.get_text() for a in page.html.select("tbody td a")] == ["Team 07 – Calcit"]
    assert "No matches" in staff_admin.get("/admin/matches?status=on_sale").text


def test_edit_match_and_stadium_frozen_after_publication(staff_admin):
    match_id, *_ = published_match(staff_admin)
    page = staff_admin.get(f"/admin/matches/{match_id}/edit")
    response = staff_admin.submit(page, "match-form", home_team="ACH Volley Ljubljana", max_tickets_per_fan="4")
    assert "Match saved." in flashes(response.follow())
    other = create_stadium(staff_admin, "Other hall", sections=())
    page = staff_admin.get(f"/admin/matches/{match_id}/edit")
    page = staff_admin.submit(page, "match-form", stadium_id=str(other), status=409)
    assert field_error(page, "match", "stadium_id") == "Stadium frozen after publication"


def test_seat_map_and_block_toggle_on_a_match_on_sale(staff_admin, user_factory, engine):
    match_id, sections, _ = published_match(staff_admin)
    fan = user_factory()
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    with engine.connect() as conn:
        north = conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m AND section_id = :s "
                                  "ORDER BY seat_id"), {"m": match_id, "s": sections["North"]}).scalars().all()
    fan.post(f"/api/v1/matches/{match_id}/holds", {"seat_ids": north[:2]}, status=201)

    page = staff_admin.get(f"/admin/matches/{match_id}/seats")
    svg = page.html.find("svg", id="seatmap")
    assert svg["data-live-url"] == f"/api/v1/matches/{match_id}/seats"
    seat = {seat["id"]: seat for seat in drawn_seats(page)}[north[0]]
    assert "st-held" in seat["class"] and seat["title"].endswith("· held · Premium")
    assert page.html.select_one('[data-count="held"]').get_text() == "(2)"

    # Seats chosen on the map: the held ones are left alone, the free ones are blocked.
    response = staff_admin.submit(page, "blocks-form", button="block", seat_ids=",".join(map(str, north[:4])),
                                  reason="vip")
    assert "Blocked 2 seat(s). 2 left as they were" in " ".join(flashes(response.follow()))
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT seat_id, status FROM match_seats WHERE match_id = :m AND seat_id = ANY(:ids)"),
                                   {"m": match_id, "ids": north[:4]}).all())
    assert [states[s] for s in north[:4]] == ["held", "held", "blocked", "blocked"]

    # A range, then unblocking; the fan's seat map ETag changes with every toggle.
    etag = fan.get(f"/api/v1/matches/{match_id}/seats").headers["ETag"]
    page = staff_admin.get(f"/admin/matches/{match_id}/seats")
    response = staff_admin.submit(page, "blocks-form", button="unblock", section_id=str(sections["North"]), row="1")
    assert "Unblocked 2 seat(s)." in " ".join(flashes(response.follow()))
    assert fan.get(f"/api/v1/matches/{match_id}/seats").headers["ETag"] != etag
    page = staff_admin.get(f"/admin/matches/{match_id}/seats")
    page = staff_admin.submit(page, "blocks-form", button="block", section_id=str(sections["North"]), row="12",
                              status=422)
    assert "no row 12" in field_error(page, "blocks", "row")
    entries = staff_admin.get(f"/admin/audit?target_type=match&target_id={match_id}").text
    assert "match.block" in entries and "match.unblock" in entries


def test_block_toggle_on_a_draft_changes_the_plan(staff_admin):
    stadium_id = create_stadium(staff_admin)
    match_id = create_match(staff_admin, stadium_id)
    add_category(staff_admin, match_id, "Standard", "10")
    sections, categories = section_ids(staff_admin, match_id), category_ids(staff_admin, match_id)
    assign(staff_admin, match_id, sections["North"], categories["Standard"])
    page = staff_admin.get(f"/admin/matches/{match_id}/seats")
    assert "data-live-url" not in str(page.html.find("svg", id="seatmap"))
    response = staff_admin.submit(page, "blocks-form", button="block", section_id=str(sections["North"]), row="2",
                                  **{"from": "3", "to": "5"}, reason="broken")
    assert "Blocked 3 seat(s)." in flashes(response.follow())
    page = staff_admin.get(f"/admin/matches/{match_id}")
    assert page.html.select_one('[data-count="blocked"]').get_text() == "(3)"
    response = staff_admin.submit(staff_admin.get(f"/admin/matches/{match_id}/seats"), "blocks-form",
                                  button="unblock", section_id=str(sections["North"]), row="2", **{"from": "4", "to": "4"})
    assert "Unblocked 1 seat(s)." in flashes(response.follow())
    assert "Publish: put 28 seats on sale" in staff_admin.get(f"/admin/matches/{match_id}").text


def test_close_and_cancel_with_refunds(staff_admin, user_factory, engine):
    match_id, *_ = published_match(staff_admin)
    fan = user_factory()
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 2}, status=201).json
    fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)

    response = staff_admin.post(f"/admin/matches/{match_id}/close", {"confirm": "yes"})
    assert "Sales closed." in " ".join(flashes(response.follow()))
    response = staff_admin.post(f"/admin/matches/{match_id}/close", {"confirm": "yes"})
    assert "Only a match on sale can be closed" in " ".join(flashes(response.follow()))

    page = staff_admin.get(f"/admin/matches/{match_id}/cancel")
    assert "1 paid order(s)" in page.text and "80,00\xa0€" in page.text
    page = staff_admin.submit(page, "cancel-form", status=422)  # the box is not ticked
    assert "must be ticked" in page.html.find(id="cancel-confirm-error").text
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000 - 8_000
    response = staff_admin.submit(page, "cancel-form", confirm=True)
    assert "1 order(s) refunded" in " ".join(flashes(response.follow()))
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000
    assert "refunded_orders: 1" in staff_admin.get("/admin/audit?action=match.cancel").text


def test_a_12000_seat_stadium_page_stays_under_200_kb(staff_admin):
    """Issue 29: a seat per element made each page of a 12,000-seat stadium 1.2-1.6 MB; the
    compact drawing (decision 0060) keeps the stadium, match and seat map pages under 200 KB."""
    stadium_id = create_stadium(staff_admin, "Stadion Stožice", sections=(("North", 60, 50), ("South", 60, 50),
                                                                            ("East", 60, 50), ("West", 60, 50)))
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    assert len(drawn_seats(page)) == 12_000
    assert len(page.body) < 200_000, len(page.body)
    match_id = create_match(staff_admin, stadium_id)
    add_category(staff_admin, match_id, "Standard", "20")
    category = category_ids(staff_admin, match_id)["Standard"]
    for section_id in section_ids(staff_admin, match_id).values():
        assign(staff_admin, match_id, section_id, category)
    staff_admin.post(f"/admin/matches/{match_id}/publish", {"confirm": "yes"})
    for url in (f"/admin/matches/{match_id}", f"/admin/matches/{match_id}/seats"):
        page = staff_admin.get(url)
        seats = drawn_seats(page)
        assert len(seats) == 12_000 and all("st-available" in seat["class"] for seat in seats)
        assert len(page.body) < 200_000, (url, len(page.body))
