"""Service-level validation for callers that bypass the OpenAPI layer (CLI, demo data, admin)."""
from datetime import datetime, timedelta, timezone

import pytest

from ticketing.problems import ValidationFailed
from ticketing.services import matches, stadiums


def _fields(excinfo):
    return {error["field"] for error in excinfo.value.errors}


def test_create_match_reports_missing_and_mistyped_fields(dbsession):
    with pytest.raises(ValidationFailed) as excinfo:
        matches.create_match(dbsession, {"home_team": "A", "hold_seconds": None})
    assert {"stadium_id", "away_team", "starts_at", "hold_seconds"} <= _fields(excinfo)


def test_section_labels_may_be_numbers_and_reasons_are_checked(dbsession):
    stadium = stadiums.create_stadium(dbsession, "Unit Arena", "Koper")
    section = stadiums.add_section(dbsession, stadium, "East", [{"label": 1, "seats": 4}, {"label": 2, "seats": 4}])
    match = matches.create_match(dbsession, {
        "stadium_id": stadium.id, "home_team": "A", "away_team": "B",
        "starts_at": datetime.now(timezone.utc) + timedelta(days=3),
    })
    category = matches.add_category(dbsession, match, "Standard", 1000, "EUR")
    summary = matches.replace_seating(
        dbsession, match, [{"section_id": section.id, "row": 1, "category_id": category.id}], []
    )
    assert summary["on_sale"] == 4
    with pytest.raises(ValidationFailed) as excinfo:
        matches.replace_seating(dbsession, match, [], [{"section_id": section.id, "reason": "made-up"}])
    assert _fields(excinfo) == {"blocked/0/reason"}
