"""The gate: staff scan or paste a ticket code and see ADMITTED, ALREADY ADMITTED or REJECTED.

The check is :func:`ticketing.services.check_in.check_in`, the same as the API's: the
signature is verified with the public key, and one conditional UPDATE admits a ticket once.
A handheld scanner that types the code and presses Enter works as a keyboard, so the code
field keeps the focus after every scan. On a phone, ``static/admin/gate.js`` reads the QR code
with the camera (the browser's ``BarcodeDetector``, else the vendored jsQR) and submits the
same form, so both paths end in this view (decision 0044).
"""
from datetime import datetime, timedelta, timezone

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.problems import Problem
from ticketing.resources.admin import AdminMatch, Gate
from ticketing.services import check_in, matches
from ticketing.resources import is_decimal

GATE_STATUSES = ("on_sale", "closed")
SESSION_KEY = "gate_match_id"


@view_config(route_name="admin.gate", context=Gate, permission="match:check_in",
             request_method="GET", renderer="admin/gate/choose.jinja2")
def choose_match(context, request):
    chosen = request.GET.get("match_id", "")
    if is_decimal(chosen) and len(chosen) < 19:
        return HTTPSeeOther(request.route_url("admin.match.gate", match_id=chosen))
    # Matches whose gates could be open: from this morning on, on sale or with sales closed.
    since = datetime.now(timezone.utc) - timedelta(hours=12)
    upcoming, _ = matches.list_matches(request.dbsession, limit=100, offset=0, public_only=True, date_from=since)
    return {
        "matches": [match for match in upcoming if match.status in GATE_STATUSES],
        "last": request.session.get(SESSION_KEY),
    }


def _page(match, verdict=None, code=""):
    if verdict is not None:
        # Shown under the verdict: a steward can tell this scan from the previous one.
        verdict["scanned_at"] = datetime.now(timezone.utc)
    return {"match": match, "verdict": verdict, "code": code}


@view_config(route_name="admin.match.gate", context=AdminMatch, permission="match:check_in",
             request_method="GET", renderer="admin/gate/scan.jinja2")
def gate(context, request):
    request.session[SESSION_KEY] = context.match.id
    return _page(context.match)


@view_config(route_name="admin.match.gate", context=AdminMatch, permission="match:check_in",
             request_method="POST", renderer="admin/gate/scan.jinja2")
def scan(context, request):
    match = context.match
    code = (request.POST.get("code") or "").strip()[:400]
    try:
        admitted = check_in.check_in(
            request.dbsession, request.registry["ticket_signer"].public_key, match.id, code, request.identity.id
        )
    except check_in.AlreadyAdmitted as problem:
        request.tm.doom()
        request.response.status = problem.status
        verdict = {"kind": "already", "title": "Already admitted",
                   "at": datetime.fromisoformat(problem.extra["checked_in_at"]),
                   "by": problem.extra["checked_in_by"]}
        return _page(match, verdict, code)
    except Problem as problem:
        request.tm.doom()
        request.response.status = problem.status
        reason = problem.errors[0]["message"] if problem.errors else problem.detail
        return _page(match, {"kind": "rejected", "title": "Rejected", "reason": reason}, code)
    return _page(match, {"kind": "admitted", "title": "Admitted", **admitted})
