"""Builders for catalogue data through the public API (what staff would do)."""
from datetime import datetime, timedelta, timezone


def iso(moment):
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def create_stadium(staff, name="Arena", sections=(("North", 3, 10), ("South", 2, 8))):
    stadium = staff.post("/api/v1/stadiums", {"name": name, "city": "Ljubljana", "address": "Main St 1"}, status=201).json
    created = []
    for section_name, rows, seats in sections:
        created.append(
            staff.post(
                f"/api/v1/stadiums/{stadium['id']}/sections",
                {"name": section_name, "rows": [{"label": str(r + 1), "seats": seats} for r in range(rows)]},
                status=201,
            ).json
        )
    return stadium, created


def create_match(staff, stadium_id, days=30, **extra):
    body = {
        "stadium_id": stadium_id,
        "home_team": "Tigers",
        "away_team": "Eagles",
        "starts_at": iso(datetime.now(timezone.utc) + timedelta(days=days)),
    }
    body.update(extra)
    return staff.post("/api/v1/matches", body, status=201).json


def published_match(staff, seats_per_row=10, rows=3, prices=(5000,), name="Arena", **match_extra):
    """A stadium with one section per price, every seat on sale, published."""
    stadium, sections = create_stadium(
        staff, name=name, sections=[(f"S{i}", rows, seats_per_row) for i in range(len(prices))]
    )
    match = create_match(staff, stadium["id"], **match_extra)
    categories = [
        staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": f"Cat {i}", "price": price}, status=201).json
        for i, price in enumerate(prices)
    ]
    staff.put(
        f"/api/v1/matches/{match['id']}/seating",
        {"assignments": [{"section_id": s["id"], "category_id": c["id"]} for s, c in zip(sections, categories)]},
        status=200,
    )
    match = staff.post(f"/api/v1/matches/{match['id']}/publish", status=200).json
    return match, stadium, sections, categories
