"""Turn rows into the JSON shapes documented in the OpenAPI file (one function per shape)."""


def user_json(user):
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "created_at": user.created_at,
        "email_verified": user.email_verified,
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


def ledger_json(entry):
    return {
        "id": entry.id,
        "kind": entry.kind,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "currency": entry.currency,
        "order_id": entry.order_id,
        "reason": entry.reason,
        "created_at": entry.created_at,
    }


def hold_json(hold, state, seats):
    return {
        "id": hold.id,
        "match_id": hold.match_id,
        "status": state,
        "seats": [dict(seat) for seat in seats],
        "total": hold.total,
        "currency": hold.currency,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
    }


def ticket_json(ticket, signer=None):
    code = None
    if signer is not None and ticket["status"] == "valid":
        code = signer.sign(ticket["id"], ticket["match_id"], ticket["seat_id"], ticket["code_version"])
    return {
        "id": ticket["id"],
        "order_id": ticket["order_id"],
        "match_id": ticket["match_id"],
        "seat": {
            "id": ticket["seat_id"],
            "section_id": ticket["section_id"],
            "section": ticket["section"],
            "row": ticket["row"],
            "number": ticket["number"],
        },
        "category_id": ticket["category_id"],
        "price": ticket["price"],
        "status": ticket["status"],
        "checked_in_at": ticket["checked_in_at"],
        "code": code,
    }


def order_json(order, tickets, signer=None):
    return {
        "id": order.id,
        "user_id": order.user_id,
        "match_id": order.match_id,
        "hold_id": order.hold_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "created_at": order.created_at,
        "cancelled_at": order.cancelled_at,
        "tickets": [ticket_json(ticket, signer) for ticket in tickets],
    }
