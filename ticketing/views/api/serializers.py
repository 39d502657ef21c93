"""Turn rows into the JSON shapes documented in the OpenAPI file (one function per shape)."""


def user_json(user):
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "created_at": user.created_at,
    }


def stadium_json(stadium, seat_count=None, sections=None):
    body = {
        "id": stadium.id,
        "name": stadium.name,
        "city": stadium.city,
        "address": stadium.address,
        "created_at": stadium.created_at,
    }
    if seat_count is not None:
        body["seat_count"] = int(seat_count)
    if sections is not None:
        body["sections"] = [section_json(section) for section in sections]
    return body


def section_json(section):
    return {
        "id": section.id,
        "stadium_id": section.stadium_id,
        "name": section.name,
        "seat_count": section.seat_count,
        "rows": section.height,
        "origin": {"x": section.origin_x, "y": section.origin_y},
        "size": {"width": section.width, "height": section.height},
    }


def category_json(category):
    return {
        "id": category.id,
        "match_id": category.match_id,
        "name": category.name,
        "price": category.price,
        "currency": category.currency,
    }


def match_json(match, summary=None):
    body = {
        "id": match.id,
        "stadium_id": match.stadium_id,
        "home_team": match.home_team,
        "away_team": match.away_team,
        "starts_at": match.starts_at,
        "sales_open_at": match.sales_open_at,
        "sales_close_at": match.sales_close_at,
        "refund_cutoff_at": match.refund_cutoff_at,
        "hold_seconds": match.hold_seconds,
        "max_tickets_per_fan": match.max_tickets_per_fan,
        "status": match.status,
        "published_at": match.published_at,
        "created_at": match.created_at,
    }
    if summary is not None:
        body["seats"] = summary
    return body
