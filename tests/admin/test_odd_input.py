"""Odd input found by review: each is a form error or a safe redirect, never a 500 (and the
500 page itself works after a failed statement)."""
from sqlalchemy import text

from .conftest import field_error
from .helpers import add_category, assign, category_ids, create_match, create_stadium, section_ids


def test_huge_amounts_are_form_errors(staff_admin, user_factory):
    fan = user_factory()
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    for amount in ("1e30", "1E+30", "99999999999.00"):
        page = staff_admin.submit(page, "top-up-form", amount=amount, reason="goodwill", status=422)
        assert "at most" in field_error(page, "top_up", "amount")
    match_id = create_match(staff_admin, create_stadium(staff_admin))
    page = staff_admin.submit(staff_admin.get(f"/admin/matches/{match_id}"), "category-form",
                              name="Gold", price="1e30", status=422)
    assert "at most" in field_error(page, "category", "price")


def test_stadium_fields_longer_than_their_columns_are_form_errors(staff_admin):
    page = staff_admin.get("/admin/stadiums/new")
    page = staff_admin.submit(page, "stadium-form", name="N" * 201, city="C" * 121, status=422)
    assert "at most 200" in field_error(page, "stadium", "name")
    assert "at most 120" in field_error(page, "stadium", "city")
    stadium_id = create_stadium(staff_admin)
    page = staff_admin.get(f"/admin/stadiums/{stadium_id}")
    page = staff_admin.submit(page, "stadium-form", name="N" * 250, status=422)
    assert "at most 200" in field_error(page, "stadium", "name")


def test_a_failed_statement_still_gets_the_error_page(staff_admin, monkeypatch):
    from ticketing.services import stadiums

    def broken(dbsession, *args, **kw):
        dbsession.execute(text("SELECT 1 / 0"))  # any statement error: the session is now unusable

    monkeypatch.setattr(stadiums, "list_stadiums", broken)
    page = staff_admin.get("/admin/stadiums", status=500)
    assert page.html.title.get_text().startswith("Something went wrong")
    assert staff_admin.user["full_name"] in page.text  # the layout read the user after the failure


def test_login_next_must_be_a_plain_admin_path(anonymous_admin, user_factory):
    staff = user_factory("staff")
    for target in ("/admin/%E3%80%82evil", "/admin/%E2%80%A8x", "/admin/../../x", "/admin/./stadiums",
                   "/admin/%2e%2e/api/v1/me", "/admin/%2E%2E//evil.example/x"):
        response = anonymous_admin.login(staff.user["email"], next_url=target)
        assert response.location.endswith("/admin/"), (target, response.location)
        anonymous_admin.post("/admin/logout")


def test_a_signed_in_fan_cannot_tell_which_admin_ids_exist(login_as, staff_admin):
    fan = login_as("customer")
    match_id = create_match(staff_admin, create_stadium(staff_admin))
    for path in (f"/admin/matches/{match_id}", "/admin/matches/999999", f"/admin/users/{fan.user['id']}",
                 "/admin/users/999999", "/admin/orders/999999", "/admin/nowhere"):
        page = fan.get(path, status=403)
        assert "not a staff account" in page.text
    staff_admin.get("/admin/matches/999999", status=404)  # staff still get a plain 404


def test_a_seat_range_without_a_row_is_refused_not_widened_to_the_section(staff_admin):
    """From/To without a Row used to be dropped, choosing every seat of the section: a block
    of "seats 4-5" took the whole section off sale."""
    match_id = create_match(staff_admin, create_stadium(staff_admin))
    add_category(staff_admin, match_id, "Standard", "10")
    sections, categories = section_ids(staff_admin, match_id), category_ids(staff_admin, match_id)
    assign(staff_admin, match_id, sections["North"], categories["Standard"])
    page = staff_admin.submit(staff_admin.get(f"/admin/matches/{match_id}/seats"), "blocks-form", button="block",
                              section_id=str(sections["North"]), row="", reason="press", status=422,
                              **{"from": "4", "to": "5"})
    assert "row" in field_error(page, "blocks", "row")
    page = staff_admin.submit(staff_admin.get(f"/admin/matches/{match_id}"), "block-form",
                              section_id=str(sections["North"]), row="", reason="press", status=422,
                              **{"from": "4", "to": "5"})
    assert "row" in field_error(page, "block", "row")
    draft_page = staff_admin.get(f"/admin/matches/{match_id}").text
    assert "Publish: put 30 seats on sale" in draft_page  # nothing was blocked
    assert "Cancel match" not in draft_page  # a draft is not cancelled (it would become public)
