"""A fan's journey written against the Python client generated from our OpenAPI document.

This is what a client team writes on their first day: sign up, log in, list matches (following
`next`), read the seat map (and its 304), hold seats, top up, pay, and read the tickets and a
QR image. It must type-check under ``mypy --strict`` without a cast or an ignore
(tests/contract/test_generated_client.py): every answer it reads is a named, typed model,
so a contract regression (a field turned optional or untyped, an operation the generator
drops) fails the type check before it reaches a client.

``ticketing_client`` does not exist in the repository: the test generates it from the served
document into a temporary directory and puts that directory on the path.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypeVar

from ticketing_client import AuthenticatedClient, Client
from ticketing_client.api.accounts import get_me, log_in, sign_up
from ticketing_client.api.buying import checkout_hold, create_hold, create_top_up, get_order, list_orders
from ticketing_client.api.matches import get_seat_map, list_matches
from ticketing_client.api.tickets import get_ticket, get_ticket_qr
from ticketing_client.models import (
    CreateHoldBody,
    CreateTopUpBody,
    Hold,
    LogInBody,
    LoginTokens,
    Match,
    MatchPage,
    MatchStatus,
    Order,
    OrderPage,
    SeatMap,
    SeatStatus,
    SignUpBody,
    Ticket,
    TopUp,
    User,
)
from ticketing_client.types import File, Response


class JourneyFailed(AssertionError):
    """An answer that was not what the contract promises."""


@dataclass
class Journey:
    """What the fan ended up with, for the test to check against the server's state."""

    user: User
    matches_seen: list[Match]
    pages_followed: int
    seat_map: SeatMap
    not_modified_status: int
    hold: Hold
    order: Order
    tickets: list[Ticket]
    qr_svg: bytes
    orders_listed: int


T = TypeVar("T")


def expect(response: Response[T], status: int) -> None:
    if response.status_code != status:
        raise JourneyFailed(f"expected {status}, got {response.status_code}: {response.content[:300]!r}")


def all_matches(client: Client, page_size: int) -> tuple[list[Match], int]:
    """Every listed match, following each page's absolute ``next`` URL as it is."""
    first = list_matches.sync_detailed(client=client, limit=page_size)
    expect(first, 200)
    if not isinstance(first.parsed, MatchPage):
        raise JourneyFailed("the match list is not a MatchPage")
    page = first.parsed
    matches, followed = list(page.items), 0
    next_url = page.next_
    while page.has_more:
        if not isinstance(next_url, str):
            raise JourneyFailed("has_more without a next URL")
        raw = client.get_httpx_client().get(next_url)
        if raw.status_code != 200:
            raise JourneyFailed(f"following next gave {raw.status_code}")
        page = MatchPage.from_dict(raw.json())
        matches.extend(page.items)
        next_url = page.next_
        followed += 1
    return matches, followed


def run(base_url: str, match_id: int, page_size: int = 1) -> Journey:
    """The journey against the API at ``base_url`` (``http://host:port/api/v1``), buying two
    seats of ``match_id``."""
    email = f"fan-{uuid.uuid4().hex[:12]}@example.com"
    password = "spike-and-block-7"
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    created = sign_up.sync_detailed(client=anonymous, body=SignUpBody(email=email, password=password,
                                                                        full_name="Ana Novak"))
    expect(created, 201)
    tokens = log_in.sync(client=anonymous, body=LogInBody(email=email, password=password))
    if not isinstance(tokens, LoginTokens):
        raise JourneyFailed("login gave no tokens")
    fan = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    user = get_me.sync(client=fan)
    if not isinstance(user, User) or user.email != email:
        raise JourneyFailed("GET /me is not the fan")

    matches, pages_followed = all_matches(anonymous, page_size)
    wanted = next((m for m in matches if m.id == match_id), None)
    if wanted is None or wanted.status != MatchStatus.ON_SALE:
        raise JourneyFailed(f"match {match_id} is not listed on sale")

    seats = get_seat_map.sync_detailed(match_id, client=anonymous)
    expect(seats, 200)
    if not isinstance(seats.parsed, SeatMap):
        raise JourneyFailed("the seat map is not a SeatMap")
    seat_map = seats.parsed
    status_column = [column.value for column in seat_map.columns].index("status")
    free = [row for row in seat_map.seats if row[status_column] == SeatStatus.AVAILABLE.value]
    if len(free) < 2 or seat_map.counts.available != len(free):
        raise JourneyFailed("the seat map's counts do not match its seats")
    again = get_seat_map.sync_detailed(match_id, client=anonymous, if_none_match=seat_map.etag)

    hold = create_hold.sync(match_id, client=fan, body=CreateHoldBody(quantity=2, adjacent=True),
                            idempotency_key=f"hold-{uuid.uuid4().hex}")
    if not isinstance(hold, Hold) or len(hold.seats) != 2:
        raise JourneyFailed("no hold of two seats")
    top_up = create_top_up.sync(client=fan, body=CreateTopUpBody(amount=hold.total),
                                idempotency_key=f"top-up-{uuid.uuid4().hex}")
    if not isinstance(top_up, TopUp) or top_up.balance != hold.total:
        raise JourneyFailed("the top-up did not reach the wallet")
    order = checkout_hold.sync(hold.id, client=fan, idempotency_key=f"pay-{hold.id}")
    if not isinstance(order, Order) or order.total != hold.total:
        raise JourneyFailed("the checkout did not give a paid order")

    again_order = get_order.sync(order.id, client=fan)
    if not isinstance(again_order, Order):
        raise JourneyFailed("GET /orders/{id} is not an Order")
    tickets = []
    for listed in again_order.tickets:
        ticket = get_ticket.sync(listed.id, client=fan)
        if not isinstance(ticket, Ticket) or ticket.code is None:
            raise JourneyFailed("a paid ticket has no code")
        tickets.append(ticket)
    qr = get_ticket_qr.sync(tickets[0].id, client=fan)
    if not isinstance(qr, File):
        raise JourneyFailed("the QR image is not a file")
    orders = list_orders.sync(client=fan)
    if not isinstance(orders, OrderPage):
        raise JourneyFailed("the order list is not an OrderPage")
    return Journey(user=user, matches_seen=matches, pages_followed=pages_followed, seat_map=seat_map,
                   not_modified_status=again.status_code, hold=hold, order=again_order, tickets=tickets,
                   qr_svg=qr.payload.read(), orders_listed=orders.total)
