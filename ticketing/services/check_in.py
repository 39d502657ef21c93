"""Gate check-in: each valid ticket is admitted exactly once.

Admission is one conditional ``UPDATE ... WHERE checked_in_at IS NULL``: when two gates scan
the same ticket at the same instant, PostgreSQL lets one update win and the other sees zero
rows and reports "already admitted" with the winner's time and staff account.
"""
from sqlalchemy import text

from ticketing import metrics
from ticketing.problems import Conflict, ValidationFailed, field_error
from ticketing.services import ticket_codes


class AlreadyAdmitted(Conflict):
    slug, title = "already-admitted", "This ticket has already been used"


def _rejected(reason):
    return ValidationFailed(f"Ticket rejected: {reason}.", errors=[field_error("code", reason)])


_ADMIT = text(
    """
    UPDATE tickets SET checked_in_at = now(), checked_in_by = :staff_id
    WHERE id = :ticket_id AND match_id = :match_id AND seat_id = :seat_id AND code_version = :version
      AND status = 'valid' AND checked_in_at IS NULL
    RETURNING id, checked_in_at
    """
)

_DETAILS = text(
    """
    SELECT t.id, t.status, t.match_id, t.seat_id, t.code_version, t.checked_in_at,
           u.full_name AS holder, staff.email AS admitted_by,
           sec.name AS section, s.row_label AS row, s.number
    FROM tickets t
    JOIN users u ON u.id = t.user_id
    JOIN seats s ON s.id = t.seat_id
    JOIN sections sec ON sec.id = s.section_id
    LEFT JOIN users staff ON staff.id = t.checked_in_by
    WHERE t.id = :ticket_id
    """
)


def check_in(dbsession, public_key, match_id, code, staff_id):
    try:
        claims = ticket_codes.verify(public_key, (code or "").strip())
    except ticket_codes.InvalidCode:
        metrics.count_gate_scan(dbsession, "forged")
        raise _rejected("forged or malformed code") from None
    if claims.match_id != match_id:
        metrics.count_gate_scan(dbsession, "other_match")
        raise _rejected("this ticket is for another match")
    admitted = dbsession.execute(
        _ADMIT,
        {"staff_id": staff_id, "ticket_id": claims.ticket_id, "match_id": match_id,
         "seat_id": claims.seat_id, "version": claims.version},
    ).one_or_none()
    ticket = dbsession.execute(_DETAILS, {"ticket_id": claims.ticket_id}).mappings().one_or_none()
    if ticket is None or ticket["seat_id"] != claims.seat_id or ticket["code_version"] != claims.version:
        metrics.count_gate_scan(dbsession, "unknown")
        raise _rejected("unknown ticket")
    if admitted is None:
        if ticket["status"] != "valid":
            metrics.count_gate_scan(dbsession, "voided")
            raise _rejected("this ticket was voided (order cancelled)")
        metrics.count_gate_scan(dbsession, "already_admitted")
        raise AlreadyAdmitted(
            f"Already admitted at {ticket['checked_in_at'].isoformat()} by {ticket['admitted_by']}.",
            extra={"checked_in_at": ticket["checked_in_at"].isoformat(), "checked_in_by": ticket["admitted_by"]},
        )
    metrics.count_after_commit(dbsession, metrics.GATE_SCANS, result="admitted")
    return {
        "result": "admitted",
        "ticket_id": ticket["id"],
        "match_id": match_id,
        "section": ticket["section"],
        "row": ticket["row"],
        "number": ticket["number"],
        "holder_name": ticket["holder"],
        "checked_in_at": admitted.checked_in_at,
    }
