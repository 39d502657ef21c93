"""Building catalogue data through the admin's own forms, as staff would."""
import json
from datetime import datetime, timedelta

from .conftest import id_from


def local_input(days=30, hour=18):
    moment = (datetime.now() + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M")


def create_stadium(client, name="Hala Tivoli", sections=(("North", 3, 10), ("South", 2, 8))):
    page = client.get("/admin/stadiums/new")
    response = client.submit(page, "stadium-form", name=name, city="Ljubljana", address="Celovška 25")
    stadium_id = id_from(response.location, "stadiums")
    for section, rows, seats in sections:
        page = client.get(f"/admin/stadiums/{stadium_id}")
        client.submit(page, "section-form", name=section, row_count=str(rows), seats_per_row=str(seats))
    return stadium_id


def create_match(client, stadium_id, home="ACH Volley", away="Calcit", days=30):
    page = client.get(f"/admin/matches/new?stadium_id={stadium_id}")
    response = client.submit(page, "match-form", home_team=home, away_team=away, starts_at=local_input(days))
    return id_from(response.location, "matches")


def section_ids(client, match_id):
    page = client.get(f"/admin/matches/{match_id}")
    select = page.forms["assign-form"]["section_id"]
    return {text.split(" (")[0]: int(value) for value, _, text in select.options if value}


def category_ids(client, match_id):
    page = client.get(f"/admin/matches/{match_id}")
    select = page.forms["assign-form"]["category_id"]
    return {text.split(" · ")[0]: int(value) for value, _, text in select.options if value}


def add_category(client, match_id, name, price):
    page = client.get(f"/admin/matches/{match_id}")
    return client.submit(page, "category-form", name=name, price=price)


def assign(client, match_id, section_id, category_id, rows="", status=303):
    page = client.get(f"/admin/matches/{match_id}")
    return client.submit(page, "assign-form", section_id=str(section_id), category_id=str(category_id),
                         rows=rows, status=status)


def published_match(client, name="Hala Tivoli"):
    """A stadium with North (3x10) and South (2x8), two categories, everything on sale."""
    stadium_id = create_stadium(client, name)
    match_id = create_match(client, stadium_id)
    add_category(client, match_id, "Premium", "40")
    add_category(client, match_id, "Standard", "25.00")
    sections, categories = section_ids(client, match_id), category_ids(client, match_id)
    assign(client, match_id, sections["North"], categories["Premium"])
    assign(client, match_id, sections["South"], categories["Standard"])
    client.post(f"/admin/matches/{match_id}/publish", {"confirm": "yes"})
    return match_id, sections, categories


STATUS_NAMES = {"a": "available", "h": "held", "s": "sold", "b": "blocked", "n": "none"}


def drawn_seats(page):
    """The seats static/admin/seatmap.js draws from the page's compact drawing (decision 0060),
    decoded the same way: [{"id", "x", "y", "class", "title"}] in drawing order."""
    data = json.loads(page.html.find("script", id="seatmap-data").string)
    count = len(data["k"])

    def runs(pairs):
        values = [None] * count
        for index, (start, value) in enumerate(pairs):
            end = pairs[index + 1][0] if index + 1 < len(pairs) else count
            values[start:end] = [value] * (end - start)
        return values

    rows, parts = runs(data["r"]), runs(data["t"])
    seats, seat_id, x, y, number = [], 0, 0, 0, 0
    for i in range(count):
        seat_id, x, y, number = (a + b for a, b in zip((seat_id, x, y, number), data["d"][4 * i:4 * i + 4]))
        css = data["classes"][int(data["k"][i], 36)]
        title = f"{data['sections'][parts[i]]} · row {rows[i]} · seat {number}"
        if "s" in data:
            status = STATUS_NAMES[data["s"][i]]
            css += f" st-{status}"
            title += " · " + ("not on sale" if status == "none" else status)
            if data["c"][i] != "-":
                title += " · " + data["categories"][int(data["c"][i], 36)]
        seats.append({"id": seat_id, "x": data["margin"] + x * data["pitch"], "y": data["top"] + y * data["pitch"],
                      "class": css.split(), "title": title})
    return seats
