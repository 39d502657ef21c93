"""What the CSV exports contain: one statement and one column list per export.

Staff take these files for accounting (orders, the wallet ledger), for stewards (attendees,
check-ins), for the police list and for the record (audit log). Each export is a single
SELECT, so the file is one consistent snapshot however long it takes to stream, and the
orders and audit exports are built on the same query as their list page
(``orders.orders_query``, ``audit.entries_query``), so a filtered list exports exactly
what it shows.

Rows come out as plain values: text as it is stored, money as a ``Decimal`` of major units
(``12.50``, negative when it left the wallet), times as naive wall-clock times in the
federation's zone (which the header names): what a spreadsheet reads as numbers and dates.
Neutralising formulas is the writer's job (views/admin/exports.py), not the query's.
"""
import json
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import func, select, text

from ticketing.models import AuditEntry, Match, Ticket, User
from ticketing.money import major_units
from ticketing.services.audit import entries_query
from ticketing.services.orders import orders_query
from ticketing.services.wallet import OUTGOING_KINDS


@dataclass
class Export:
    """``header`` names the columns; ``statement`` (with ``params``) yields rows that
    ``to_row(row, local)`` turns into cells, ``local`` converting a UTC moment to the zone."""

    filename: str
    header: list
    statement: object
    params: dict
    to_row: Callable


def _money(minor, currency):
    return None if minor is None else major_units(minor, currency)


def orders_export(dbsession, zone_name, **filters):
    """``filters``: ``orders.orders_query``'s (a fan's e-mail is looked up in ``dbsession``)."""
    base = orders_query(dbsession, **filters).subquery()
    ticket_count = (select(func.count()).select_from(Ticket).where(Ticket.order_id == base.c.id)
                    .scalar_subquery())
    canceller = User.__table__.alias("canceller")
    statement = (
        select(base.c.id, base.c.created_at, base.c.status, User.full_name, User.email, base.c.match_id,
               Match.home_team, Match.away_team, Match.starts_at, ticket_count.label("tickets"),
               base.c.total, base.c.currency, base.c.cancelled_at, canceller.c.email.label("cancelled_by"))
        .join(User, User.id == base.c.user_id)
        .join(Match, Match.id == base.c.match_id)
        .outerjoin(canceller, canceller.c.id == base.c.cancelled_by)
        .order_by(base.c.id.desc())
    )
    header = ["Order", f"Placed ({zone_name})", "Status", "Fan", "E-mail", "Match id", "Match",
              f"Kick-off ({zone_name})", "Tickets", "Total", "Currency", f"Cancelled ({zone_name})", "Cancelled by"]

    def to_row(r, local):
        return [r.id, local(r.created_at), r.status, r.full_name, r.email, r.match_id,
                f"{r.home_team} – {r.away_team}", local(r.starts_at), r.tickets, _money(r.total, r.currency),
                r.currency, local(r.cancelled_at), r.cancelled_by]

    return Export("orders.csv", header, statement, {}, to_row)


_TICKETS = """
    SELECT t.id, t.order_id, sec.name AS section, s.row_label, s.number, u.full_name, u.email,
           c.name AS category, t.price, o.currency, t.status, t.checked_in_at, staff.email AS checked_in_by
    FROM tickets t
    JOIN orders o ON o.id = t.order_id
    JOIN users u ON u.id = t.user_id
    JOIN seats s ON s.id = t.seat_id
    JOIN sections sec ON sec.id = s.section_id
    LEFT JOIN price_categories c ON c.id = t.category_id
    LEFT JOIN users staff ON staff.id = t.checked_in_by
    WHERE t.match_id = :m {where}
    ORDER BY {order}
"""


def _ticket_row(r, local):
    return [r.id, r.order_id, r.section, r.row_label, r.number, r.full_name, r.email, r.category,
            _money(r.price, r.currency), r.currency, r.status, local(r.checked_in_at), r.checked_in_by]


def _ticket_header(zone_name):
    return ["Ticket", "Order", "Section", "Row", "Seat", "Holder", "E-mail", "Category", "Price", "Currency",
            "Ticket status", f"Checked in ({zone_name})", "Checked in by"]


def attendees_export(zone_name, match_id):
    """Every ticket of the match, void ones too (their status says so), in seat order."""
    statement = text(_TICKETS.format(where="", order="sec.name, s.row_index, s.number, t.id"))
    return Export(f"match-{match_id}-attendees.csv", _ticket_header(zone_name), statement, {"m": match_id},
                  _ticket_row)


def check_ins_export(zone_name, match_id):
    """The tickets admitted at the gate, in the order they came in."""
    statement = text(_TICKETS.format(where="AND t.checked_in_at IS NOT NULL", order="t.checked_in_at, t.id"))
    return Export(f"match-{match_id}-check-ins.csv", _ticket_header(zone_name), statement, {"m": match_id},
                  _ticket_row)


_LEDGER = """
    SELECT l.id, l.created_at, u.email, u.full_name, l.kind, l.amount, l.balance_after, l.currency,
           l.order_id, l.reason, staff.email AS by_email
    FROM wallet_ledger l
    JOIN users u ON u.id = l.user_id
    LEFT JOIN users staff ON staff.id = l.created_by
    WHERE (CAST(:u AS bigint) IS NULL OR l.user_id = :u)
    ORDER BY l.id
"""

def ledger_export(zone_name, user_id=None):
    header = ["Entry", f"When ({zone_name})", "Fan e-mail", "Fan", "Movement", "Amount", "Balance after",
              "Currency", "Order", "Reason", "By"]

    def to_row(r, local):
        amount = _money(r.amount, r.currency)
        # Money out of the wallet is negative, so a column sum is the balance.
        return [r.id, local(r.created_at), r.email, r.full_name, r.kind, -amount if r.kind in OUTGOING_KINDS else amount,
                _money(r.balance_after, r.currency), r.currency, r.order_id, r.reason, r.by_email]

    name = f"wallet-ledger-user-{user_id}.csv" if user_id else "wallet-ledger.csv"
    return Export(name, header, text(_LEDGER), {"u": user_id}, to_row)


def audit_export(zone_name, **filters):
    statement = entries_query(**filters).order_by(AuditEntry.id.desc())
    header = ["Entry", f"When ({zone_name})", "By", "Action", "Object", "Object id", "Details"]

    def to_row(r, local):
        entry, email = r
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str)
        return [entry.id, local(entry.created_at), email, entry.action, entry.target_type, entry.target_id, details]

    return Export("audit-log.csv", header, statement, {}, to_row)


def report_rows(report):
    """The match report (services/seat_map.report) as rows: the totals, then per category and
    per section. Small (one row per category and section): built in the request."""
    header = ["Group", "Name", "Available", "Held", "Sold", "Blocked", "Seats", "Revenue", "Currency"]
    currency = report["currency"]

    def row(group, name, figures):
        return [group, name, figures["available"], figures["held"], figures["sold"], figures["blocked"],
                figures["total"], _money(figures["revenue"], currency), currency]

    rows = [row("Total", "All seats", report["totals"])]
    rows += [row("Category", g["name"] or "No category", g) for g in report["per_category"]]
    rows += [row("Section", g["name"], g) for g in report["per_section"]]
    return header, rows
