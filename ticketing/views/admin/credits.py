"""Staff credits: the list (pending ones first, for the administrators who decide them),
approval and rejection (admins only, and never of one's own credit), and reversal.

The rules are in services/credits.py; these views parse the form, call it, audit the result
with the amount as money, and say what happened.
"""
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models import User
from ticketing.models.credits import CREDIT_STATUSES
from ticketing.money import audit_amount
from ticketing.problems import Problem
from ticketing.resources.admin import AdminCredit, Credits
from ticketing.services import accounts, audit, credits

from .forms import flash, paged, rejected, text_field
from .users import user_page


def _rules(request):
    return credits.CreditRules.from_settings(request.registry.settings)


@view_config(route_name="admin.credits", context=Credits, permission="credit:view",
             request_method="GET", renderer="admin/credits/list.jinja2")
def list_credits(context, request):
    status = request.GET.get("status", "pending")
    status = status if status in CREDIT_STATUSES else ""
    rows, pager = paged(request, lambda limit, offset: credits.list_credits(
        request.dbsession, status=status or None, limit=limit, offset=offset))
    people = accounts.users_by_id(
        request.dbsession, [who for c in rows for who in (c.user_id, c.requested_by, c.decided_by, c.reversed_by) if who])
    return {"credits": rows, "pager": pager, "status": status, "statuses": CREDIT_STATUSES, "people": people,
            "rules": _rules(request), "may_approve": request.has_permission("credit:approve", context)}


def _back(request, credit):
    """Back to the list the decision was made on, or to the fan's page."""
    if request.POST.get("back") == "list":
        return HTTPSeeOther(request.route_url("admin.credits"))
    return HTTPSeeOther(request.route_url("admin.user", user_id=credit.user_id))


def _fail(request, problem, credit):
    request.tm.doom()
    flash(request, problem.detail, "error")
    return _back(request, credit)


@view_config(route_name="admin.credit.approve", context=AdminCredit, permission="credit:approve",
             request_method="POST")
def approve(context, request):
    credit = context.credit
    rules = _rules(request)
    try:
        credit, _entry = credits.approve_credit(request.dbsession, credit.id, request.identity.id)
    except Problem as problem:
        return _fail(request, problem, credit)
    audit.record(request.dbsession, request.identity.id, "wallet.credit.approve", "user", credit.user_id,
                 **audit_amount(credit.amount, credit.currency), reason=credit.reason, credit_id=credit.id)
    flash(request, f"Approved: {rules.money(credit.amount, credit.currency)} added to "
                   f"{request.dbsession.get(User, credit.user_id).email}'s wallet.")
    return _back(request, credit)


@view_config(route_name="admin.credit.reject", context=AdminCredit, permission="credit:approve",
             request_method="POST")
def reject(context, request):
    credit = context.credit
    rules = _rules(request)
    try:
        credit = credits.reject_credit(request.dbsession, rules, credit.id, request.identity.id)
    except Problem as problem:
        return _fail(request, problem, credit)
    audit.record(request.dbsession, request.identity.id, "wallet.credit.reject", "user", credit.user_id,
                 **audit_amount(credit.amount, credit.currency), reason=credit.reason, credit_id=credit.id)
    flash(request, f"Rejected: the credit of {rules.money(credit.amount, credit.currency)} was not added.")
    return _back(request, credit)


@view_config(route_name="admin.credit.reverse", context=AdminCredit, permission="credit:reverse",
             request_method="POST", renderer="admin/users/detail.jinja2")
def reverse(context, request):
    credit = context.credit
    rules = _rules(request)
    reason = text_field(request.POST, "reason", 200)
    try:
        credit, entry = credits.reverse_credit(request.dbsession, rules, credit.id, request.identity.id, reason)
        audit.record(request.dbsession, request.identity.id, "wallet.credit.reverse", "user", credit.user_id,
                     **audit_amount(credit.amount, credit.currency), reason=reason, credit_id=credit.id,
                     ledger_id=entry.id)
    except Problem as problem:
        errors = rejected(request, problem, fields=("reason",))
        fan = request.root["users"][str(credit.user_id)]  # the fan's page, with the error
        return user_page(request, fan, {f"reverse-{credit.id}": errors},
                         {f"reverse-{credit.id}": {"reason": reason}})
    flash(request, f"Reversed: {rules.money(credit.amount, credit.currency)} taken back from the wallet "
                   f"(the balance is {rules.money(entry.balance_after, entry.currency)}).")
    return HTTPSeeOther(request.route_url("admin.user", user_id=credit.user_id))
