"""The waiting room's admin page: set it up through its form, pause and resume it, watch it."""
from tests.functional.catalogue_helpers import published_match

from .conftest import field_error, flashes


def test_staff_set_up_pause_resume_and_watch_a_waiting_room(staff_admin, user_factory):
    match, *_ = published_match(staff_admin.api)
    url = f"/admin/matches/{match['id']}/waiting-room"
    page = staff_admin.get(f"/admin/matches/{match['id']}")
    assert page.html.find("a", href=url) is not None
    page = staff_admin.get(url)
    assert "off" in page.html.select_one(".stats").get_text(" ")

    # Every bad field at once, in words.
    refused = staff_admin.submit(page, "waiting-room-form", status=422, enabled=True, admit_per_minute="0",
                                 shopping_minutes="500")
    assert field_error(refused, "wr", "admit_per_minute")
    assert field_error(refused, "wr", "shopping_minutes")

    saved = staff_admin.submit(staff_admin.get(url), "waiting-room-form", enabled=True, mode="fixed",
                               admit_per_minute="120", shopping_minutes="5")
    page = saved.follow()
    assert flashes(page) == ["Waiting room saved."]
    assert page.forms["waiting-room-form"]["admit_per_minute"].value == "120"

    fan = user_factory()
    fan.post(f"/api/v1/matches/{match['id']}/queue", status=201)
    live = staff_admin.get(url + "?live=1")
    assert live.html.select_one('[data-figure="waiting"]') or live.html.select_one('[data-figure="called"]')
    assert "joined" in live.text and live.html.find("svg", class_="queue-chart") is not None

    paused = staff_admin.post(url, {"action": "pause"}).follow()
    assert "paused" in flashes(paused)[0] and "Resume calling fans" in paused.text
    assert staff_admin.api.get(f"/api/v1/matches/{match['id']}/waiting-room").json["paused"] is True
    resumed = staff_admin.post(url, {"action": "resume"}).follow()
    assert "calling fans again" in flashes(resumed)[0]


def test_customers_cannot_open_the_waiting_room_page(login_as, staff):
    match, *_ = published_match(staff)
    fan = login_as("customer")
    page = fan.get(f"/admin/matches/{match['id']}/waiting-room", status=403)
    assert "not a staff account" in page.text
