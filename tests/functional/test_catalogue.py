"""Stadiums, matches, categories, seating, publication and the seat map over HTTP."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from .catalogue_helpers import create_match, create_stadium, iso, published_match
from .test_auth import assert_problem


def test_anonymous_and_customers_cannot_write(anonymous, customer):
    body = {"name": "X", "city": "Y"}
    assert_problem(anonymous.post("/api/v1/stadiums", body, status=401), 401)
    assert_problem(customer.post("/api/v1/stadiums", body, status=403), 403)


def test_stadium_with_sections_and_layout(staff, anonymous):
    stadium, sections = create_stadium(staff, sections=[("North", 2, 5), ("South", 3, 4)])
    assert [s["seat_count"] for s in sections] == [10, 12]
    assert sections[1]["origin"]["x"] == 5 + 4  # after North (width 5) and the gap
    detail = anonymous.get(f"/api/v1/stadiums/{stadium['id']}").json
    assert detail["seat_count"] == 22 and len(detail["sections"]) == 2
    layout = anonymous.get(f"/api/v1/stadiums/{stadium['id']}/seats").json
    assert layout["columns"] == ["id", "section_id", "row", "number", "x", "y"]
    assert len(layout["seats"]) == 22
    first_row = [seat for seat in layout["seats"] if seat[1] == sections[0]["id"] and seat[2] == "1"]
    assert [seat[3] for seat in first_row] == [1, 2, 3, 4, 5]
    assert [seat[4] for seat in first_row] == [0, 1, 2, 3, 4]
    listing = anonymous.get("/api/v1/stadiums?limit=1").json
    assert listing["total"] == 1 and listing["items"][0]["id"] == stadium["id"]


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"name": "", "rows": [{"label": "1", "seats": 5}]}, "name"),
        ({"name": "A", "rows": []}, "rows"),
        ({"name": "A", "rows": [{"label": "1", "seats": 0}]}, "rows/0/seats"),
        ({"name": "A", "rows": [{"label": "1", "seats": -3}]}, "rows/0/seats"),
        ({"name": "A", "rows": [{"label": " ", "seats": 3}]}, "rows/0/label"),
        ({"name": "A", "rows": [{"label": "1", "seats": 3}, {"label": "1", "seats": 3}]}, "rows/1/label"),
        ({"name": "A", "rows": [{"label": "1", "seats": 10**6}]}, "rows/0/seats"),
    ],
)
def test_bad_section_specs_are_422(staff, spec, field):
    stadium, _ = create_stadium(staff, sections=[])
    assert_problem(staff.post(f"/api/v1/stadiums/{stadium['id']}/sections", spec, status=422), 422, field)


def test_duplicate_section_and_absurd_stadium(staff):
    stadium, _ = create_stadium(staff, sections=[("North", 1, 5)])
    url = f"/api/v1/stadiums/{stadium['id']}/sections"
    assert_problem(staff.post(url, {"name": "north", "rows": [{"label": "1", "seats": 3}]}, status=409), 409, "name")
    huge = {"name": "Huge", "rows": [{"label": str(i), "seats": 1000} for i in range(101)]}
    assert_problem(staff.post(url, huge, status=422), 422, "rows")


def test_twelve_thousand_seat_stadium_published_quickly_and_map_is_cacheable(staff, anonymous):
    started = time.perf_counter()
    stadium = staff.post("/api/v1/stadiums", {"name": "Big Arena", "city": "Belgrade"}, status=201).json
    sections = [
        staff.post(
            f"/api/v1/stadiums/{stadium['id']}/sections",
            {"name": f"Block {i}", "rows": [{"label": str(r), "seats": 40} for r in range(1, 31)]},
            status=201,
        ).json
        for i in range(10)
    ]
    match = create_match(staff, stadium["id"])
    cat = staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": "Standard", "price": 2500}, status=201).json
    staff.put(
        f"/api/v1/matches/{match['id']}/seating",
        {"assignments": [{"section_id": s["id"], "category_id": cat["id"]} for s in sections]},
        status=200,
    )
    published = staff.post(f"/api/v1/matches/{match['id']}/publish", status=200).json
    elapsed = time.perf_counter() - started
    assert published["seats"]["total"] == 12_000 and published["seats"]["available"] == 12_000
    assert elapsed < 5, f"12,000-seat stadium + publish took {elapsed:.2f}s"

    first = anonymous.get(f"/api/v1/matches/{match['id']}/seats", status=200)
    assert len(first.json["seats"]) == 12_000
    etag = first.headers["ETag"]
    again = anonymous.get(f"/api/v1/matches/{match['id']}/seats", headers={"If-None-Match": etag}, status=304)
    assert again.headers["ETag"] == etag and again.body == b""


def test_match_validation(staff):
    stadium, _ = create_stadium(staff)
    now = datetime.now(timezone.utc)
    base = {"stadium_id": stadium["id"], "home_team": "A", "away_team": "B", "starts_at": iso(now + timedelta(days=5))}
    cases = [
        ({"starts_at": iso(now - timedelta(days=1))}, "starts_at"),
        ({"away_team": "a"}, "away_team"),
        ({"sales_close_at": iso(now + timedelta(days=6))}, "sales_close_at"),
        ({"stadium_id": 999999}, "stadium_id"),
        ({"starts_at": "2030-01-01T10:00:00"}, "starts_at"),
        ({"hold_seconds": 5}, "hold_seconds"),
        ({"max_tickets_per_fan": 0}, "max_tickets_per_fan"),
    ]
    for change, field in cases:
        assert_problem(staff.post("/api/v1/matches", {**base, **change}, status=422), 422, field)


def test_fans_see_only_published_matches_and_filters(staff, anonymous, customer):
    stadium, sections = create_stadium(staff)
    draft = create_match(staff, stadium["id"], home_team="Draftees", away_team="Others")
    published, *_ = published_match(staff, name="Second Arena", home_team="Lions", away_team="Bears", days=10)
    assert [m["id"] for m in anonymous.get("/api/v1/matches").json["items"]] == [published["id"]]
    assert {m["id"] for m in staff.get("/api/v1/matches").json["items"]} == {draft["id"], published["id"]}
    # A draft does not exist for fans: the same 404 as an id that was never used, for anyone
    # who may not see it, on every route under it (before: 401/403, which confirmed it).
    unknown = assert_problem(customer.get("/api/v1/matches/987654321", status=404), 404)
    for caller in (customer, anonymous):
        for path in ("", "/seats", "/summary", "/categories", "/report"):
            body = assert_problem(caller.get(f"/api/v1/matches/{draft['id']}{path}", status=404), 404)
            assert body["title"] == unknown["title"]
        assert_problem(caller.post(f"/api/v1/matches/{draft['id']}/holds", {"quantity": 1}, status=404), 404)
    assert anonymous.get("/api/v1/matches?team=lion").json["total"] == 1
    assert anonymous.get("/api/v1/matches?team=tigers").json["total"] == 0
    soon = iso(datetime.now(timezone.utc) + timedelta(days=20))
    assert anonymous.get(f"/api/v1/matches?to={soon}").json["total"] == 1
    assert anonymous.get(f"/api/v1/matches?from={soon}").json["total"] == 0
    assert staff.get("/api/v1/matches?status=draft").json["items"][0]["id"] == draft["id"]
    assert_problem(anonymous.get("/api/v1/matches?limit=1000", status=422), 422, "limit")


def test_seating_rules_blocks_and_publish(staff, anonymous, engine):
    stadium, (north, south) = create_stadium(staff, sections=[("North", 3, 10), ("South", 2, 8)])
    match = create_match(staff, stadium["id"])
    url = f"/api/v1/matches/{match['id']}"
    cheap = staff.post(url + "/categories", {"name": "Cheap", "price": 1500}, status=201).json
    premium = staff.post(url + "/categories", {"name": "Premium", "price": 4000}, status=201).json
    assert_problem(staff.post(url + "/categories", {"name": "cheap", "price": 1}, status=409), 409, "name")
    assert_problem(staff.post(url + "/publish", status=409), 409)

    plan = staff.put(url + "/seating", {
        "assignments": [
            {"section_id": north["id"], "category_id": cheap["id"]},
            {"section_id": north["id"], "rows": ["1"], "category_id": premium["id"]},
            {"section_id": south["id"], "row": "1", "from": 1, "to": 4, "category_id": premium["id"]},
        ],
        "blocked": [{"section_id": north["id"], "row": "1", "from": 1, "to": 2, "reason": "press"}],
    }, status=200).json
    assert plan["on_sale"] == 30 + 4 - 2 and plan["blocked"] == 2

    bad_rules = [
        ({"assignments": [{"section_id": 999999, "category_id": cheap["id"]}]}, "assignments/0/section_id"),
        ({"assignments": [{"section_id": north["id"], "rows": ["Z"], "category_id": cheap["id"]}]}, "assignments/0/rows"),
        ({"assignments": [{"section_id": south["id"], "row": "1", "from": 5, "to": 99, "category_id": cheap["id"]}]}, "assignments/0/to"),
        ({"assignments": [{"seat_ids": [999999999], "category_id": cheap["id"]}]}, "assignments/0/seat_ids"),
        ({"assignments": [{"section_id": north["id"], "category_id": 999999}]}, "assignments/0/category_id"),
    ]
    for body, field in bad_rules:
        assert_problem(staff.put(url + "/seating", body, status=422), 422, field)
    assert staff.get(url + "/seating").json["on_sale"] == 32  # failed PUTs changed nothing

    published = staff.post(url + "/publish", status=200).json
    assert published["status"] == "on_sale"
    assert published["seats"] == {"available": 32, "held": 0, "sold": 0, "blocked": 2, "total": 34}
    assert_problem(staff.post(url + "/publish", status=409), 409)
    assert_problem(staff.put(url + "/seating", {"assignments": []}, status=409), 409)
    assert_problem(staff.patch(url, {"stadium_id": stadium["id"] + 1}, status=409), 409)

    seat_map = anonymous.get(url + "/seats").json
    by_status = {}
    for seat in seat_map["seats"]:
        by_status.setdefault(seat[8], []).append(seat)
    assert len(by_status["blocked"]) == 2
    premium_seats = [s for s in seat_map["seats"] if s[6] == premium["id"] and s[8] != "blocked"]
    assert len(premium_seats) == 10 - 2 + 4 and all(s[7] == 4000 for s in premium_seats)
    only_south = anonymous.get(url + f"/seats?section_id={south['id']}").json
    assert {s[1] for s in only_south["seats"]} == {south["id"]}
    blocked_only = anonymous.get(url + "/seats?status=blocked").json
    assert len(blocked_only["seats"]) == 2

    report = staff.get(url + "/report").json
    assert report["totals"]["total"] == 34 and report["totals"]["revenue"] == 0
    assert {g["name"] for g in report["per_section"]} == {"North", "South"}
    assert_problem(anonymous.get(url + "/report", status=401), 401)

    # A section sold by a published match cannot be removed; an unused one can.
    assert_problem(staff.delete(f"/api/v1/stadiums/{stadium['id']}/sections/{north['id']}", status=409), 409)


def test_seat_map_etag_changes_when_a_seat_changes_and_when_a_hold_lapses(staff, anonymous, engine):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/seats"
    etag = anonymous.get(url).headers["ETag"]
    with engine.begin() as conn:
        seat_id = conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m LIMIT 1"), {"m": match["id"]}).scalar_one()
        # A hold written the way the purchase path writes it, already expired.
        conn.execute(text(
            "UPDATE match_seats SET status = 'held', hold_id = 1, held_until = now() + interval '1 hour' "
            "WHERE match_id = :m AND seat_id = :s"), {"m": match["id"], "s": seat_id})
        conn.execute(text("UPDATE match_seat_versions SET version = version + 1 WHERE match_id = :m AND shard = 0"), {"m": match["id"]})
    held = anonymous.get(url, headers={"If-None-Match": etag}, status=200)
    assert held.headers["ETag"] != etag
    assert [s[8] for s in held.json["seats"] if s[0] == seat_id] == ["held"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE match_seats SET held_until = now() - interval '1 second' WHERE match_id = :m AND seat_id = :s"),
                     {"m": match["id"], "s": seat_id})
    lapsed = anonymous.get(url, headers={"If-None-Match": held.headers["ETag"]}, status=200)
    assert [s[8] for s in lapsed.json["seats"] if s[0] == seat_id] == ["available"]


def test_unknown_ids_are_404(anonymous):
    assert_problem(anonymous.get("/api/v1/stadiums/999999", status=404), 404)
    assert_problem(anonymous.get("/api/v1/matches/999999/seats", status=404), 404)
    assert_problem(anonymous.get("/api/v1/matches/abc", status=404), 404)


def test_a_drafts_seat_map_follows_its_plan(staff):
    stadium, (north, south) = create_stadium(staff, name="Draft Arena")
    match = create_match(staff, stadium["id"])
    url = f"/api/v1/matches/{match['id']}"
    category = staff.post(url + "/categories", {"name": "A", "price": 100}, status=201).json
    staff.put(url + "/seating", {"assignments": [{"section_id": north["id"], "category_id": category["id"]}]}, status=200)
    first = staff.get(url + "/seats")
    staff.put(url + "/seating", {"assignments": [{"section_id": south["id"], "category_id": category["id"]}]}, status=200)
    second = staff.get(url + "/seats", headers={"If-None-Match": first.headers["ETag"]}, status=200)
    assert {seat[1] for seat in second.json["seats"]} == {south["id"]}


def test_concurrent_twins_get_409_not_500(staff):
    from ..concurrency.conftest import race

    responses = race([lambda: staff.post("/api/v1/stadiums", {"name": "Twin", "city": "X"}, expect_errors=True)] * 6, workers=6)
    assert sorted(r.status_int for r in responses) == [201] + [409] * 5


def test_a_close_committed_while_the_seat_map_is_read_is_not_cached_under_the_wrong_status(
        staff, anonymous, engine, monkeypatch):
    """Traversal reads the match, then sales close (committed), then the map's ETag is read:
    the body shows the status the ETag was computed from, so what is cached under the closed
    ETag says closed. (Rendering from traversal's row cached "on_sale" under it.)"""
    from ticketing.services import seat_map
    from ticketing.views.api import matches as views

    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/seats"
    original = seat_map.version

    def close_first(dbsession, match_id, filters):
        with engine.begin() as conn:  # staff close sales between traversal and the ETag
            conn.execute(text("UPDATE matches SET status = 'closed', seat_version = seat_version + 1 WHERE id = :m"),
                         {"m": match_id})
        return original(dbsession, match_id, filters)

    monkeypatch.setattr(views.seat_map, "version", close_first)
    raced = anonymous.get(url, status=200)
    monkeypatch.setattr(views.seat_map, "version", original)
    assert raced.json["status"] == "closed"
    again = anonymous.get(url, status=200)  # the same ETag: from the cache
    assert again.headers["ETag"] == raced.headers["ETag"] and again.json["status"] == "closed"


def test_team_names_equal_by_the_databases_lower_are_a_422(staff):
    """Python's lower() and PostgreSQL's differ on İ and final sigma: the app asks the
    database, so such a pair is refused as a field error, never a constraint's 500."""
    stadium, _ = create_stadium(staff, name="Lower Arena")
    starts = iso(datetime.now(timezone.utc) + timedelta(days=30))
    for home, away in (("Volley İstanbul", "volley istanbul"), ("ΣΑΣ", "σασ"), ("  Calcit ", "calcit")):
        response = staff.post("/api/v1/matches", {"stadium_id": stadium["id"], "home_team": home, "away_team": away,
                                                  "starts_at": starts}, status=422)
        assert_problem(response, 422, "away_team")
    match = create_match(staff, stadium["id"])
    response = staff.patch(f"/api/v1/matches/{match['id']}", {"home_team": "İzmir", "away_team": "izmir"}, status=422)
    assert_problem(response, 422, "away_team")
    patched = staff.patch(f"/api/v1/matches/{match['id']}", {"home_team": "  Padded  "}, status=200).json
    assert patched["home_team"] == "Padded"  # trimmed, as on create


def test_a_draft_cannot_be_cancelled_into_public_view(staff, anonymous):
    stadium, _ = create_stadium(staff, name="Private Arena")
    match = create_match(staff, stadium["id"])
    assert_problem(staff.post(f"/api/v1/matches/{match['id']}/cancel", status=409), 409)
    anonymous.get(f"/api/v1/matches/{match['id']}", status=404)  # still a staff-only draft


def test_categories_are_paginated_like_every_list(staff):
    match, *_ = published_match(staff, prices=(1000, 2000, 3000))
    url = f"/api/v1/matches/{match['id']}/categories"
    first = staff.get(url + "?limit=2").json
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (3, 2, 0, 2)
    rest = staff.get(first["next"]).json
    assert [c["price"] for c in first["items"] + rest["items"]] == [1000, 2000, 3000] and rest["next"] is None
    assert staff.get(url).json["limit"] == 20


def test_a_seat_selector_refuses_fields_its_form_does_not_use(staff):
    stadium, (north, _) = create_stadium(staff, name="Selector Arena")
    match = create_match(staff, stadium["id"])
    category = staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": "A", "price": 100}, status=201).json
    url = f"/api/v1/matches/{match['id']}/seating"
    on_sale = {"section_id": north["id"], "category_id": category["id"]}
    for blocked, field in (({"section_id": north["id"], "from": 1, "to": 4}, "from"),  # a range needs a row
                           ({"section_id": north["id"], "rows": ["1"], "row": "1"}, "row"),
                           ({"seat_ids": [1], "section_id": north["id"]}, "section_id")):
        response = staff.put(url, {"assignments": [on_sale], "blocked": [{**blocked, "reason": "press"}]}, status=422)
        assert any(error["field"].endswith(f"/{field}") for error in response.json["errors"]), response.json
    assert staff.get(url).json["on_sale"] == 0  # nothing was written
    staff.put(url, {"assignments": [on_sale], "blocked": [{"section_id": north["id"], "row": "1", "from": 1,
                                                             "to": 4, "reason": "press"}]}, status=200)


def test_timestamps_take_rfc_3339_lower_case_t_and_z(staff):
    stadium, _ = create_stadium(staff, name="Case Arena")
    year = datetime.now(timezone.utc).year + 2
    match = staff.post("/api/v1/matches", {"stadium_id": stadium["id"], "home_team": "A", "away_team": "B",
                                           "starts_at": f"{year}-01-01t18:00:00z"}, status=201).json
    assert match["starts_at"].startswith(f"{year}-01-01T18:00:00")


@pytest.mark.slow
def test_deleting_an_unused_section_stays_fast_as_matches_pile_up(staff, engine):
    """A 1,000-seat section nobody sells, in a stadium with 20 published matches (3,000 seats
    each on sale: 60,000 match_seats rows). Its seats are referred to by match_seats,
    seat_assignments and tickets; without an index starting with seat_id (migration 0007) each
    deleted seat made PostgreSQL scan those tables: ~8 s here, a timeout as the season grew."""
    stadium, (sold, spare) = create_stadium(staff, name="Busy Arena",
                                             sections=(("Sold", 100, 30), ("Spare", 40, 25)))
    for number in range(20):
        match = create_match(staff, stadium["id"], days=10 + number)
        category = staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": "All", "price": 1000},
                              status=201).json
        staff.put(f"/api/v1/matches/{match['id']}/seating",
                  {"assignments": [{"section_id": sold["id"], "category_id": category["id"]}]}, status=200)
        staff.post(f"/api/v1/matches/{match['id']}/publish", status=200)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE match_seats; ANALYZE seat_assignments; ANALYZE tickets"))
        assert conn.execute(text("SELECT count(*) FROM match_seats")).scalar() == 60_000
    started = time.monotonic()
    staff.delete(f"/api/v1/stadiums/{stadium['id']}/sections/{spare['id']}", status=204)
    assert time.monotonic() - started < 0.5
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM seats WHERE section_id = :s"), {"s": spare["id"]}).scalar() == 0


def test_a_draft_answers_401_to_an_expired_token_so_staff_clients_refresh(staff, testapp, settings):
    """A 404 would hide a draft from staff whose token just expired, and their client would not
    know to refresh it: an invalid token is a 401 before the draft is hidden."""
    import uuid
    from types import SimpleNamespace

    from ticketing.services import tokens
    from ticketing.settings import normalize_settings

    stadium, _ = create_stadium(staff, name="Draft Arena")
    draft = create_match(staff, stadium["id"])
    config = tokens.TokenSettings(normalize_settings(settings))
    expired = tokens.issue_access_token(config, SimpleNamespace(id=staff.user["id"], role="staff"), uuid.uuid4(),
                                        now=datetime.now(timezone.utc) - timedelta(hours=1))
    body = assert_problem(testapp.get(f"/api/v1/matches/{draft['id']}", status=401,
                                      headers={"Authorization": f"Bearer {expired}"}), 401)
    assert "invalid or expired" in body["detail"]
    testapp.get(f"/api/v1/matches/{draft['id']}", status=404)  # no credentials: it does not exist
