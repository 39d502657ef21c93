"""Users: search, one user's account, role changes (admins only) and staff wallet top-ups.

Who may change a role or top up a wallet is the context's ``__acl__`` (admins only; nobody
their own role; only a customer's wallet), so the page shows a form only when the request
``has_permission`` for it, and the POST view requires that same permission.
"""
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models.user import ROLES
from ticketing.problems import Problem, field_error
from ticketing.resources.admin import AdminUser, Users
from ticketing.services import accounts, audit, orders, wallet

from .forms import TemplateHelpers, flash, keyset_paged, money_field, paged, rejected, require_valid, text_field

TOP_UP_FIELDS = ("amount", "reason")
SORTS = {"newest": True, "oldest": False}


@view_config(route_name="admin.users", context=Users, permission="user:view",
             request_method="GET", renderer="admin/users/list.jinja2")
def list_users(context, request):
    """Search by a part of the e-mail or name and the role, newest or oldest first: one
    indexed query per page (keyset pages, trigram indexes; decision 0038)."""
    q = text_field(request.GET, "q", 254)
    errors = {}
    role = request.GET.get("role") or ""
    if role and role not in ROLES:
        errors["role"] = "must be one of " + ", ".join(ROLES)
        role = ""
    sort = request.GET.get("sort") or "newest"
    if sort not in SORTS:
        errors["sort"] = "must be newest or oldest"
        sort = "newest"
    if q and len(q) < accounts.MIN_CONTAINS:
        errors["q"] = f"needs at least {accounts.MIN_CONTAINS} characters"
    rows, pager = [], None
    if errors:
        request.response.status = 400
    else:
        rows, pager = keyset_paged(request, lambda size, after, before: accounts.search_users(
            request.dbsession, size=size, q=q or None, role=role or None, after=after, before=before,
            newest_first=SORTS[sort]))
    return {"users": rows, "pager": pager, "q": q, "role": role, "roles": ROLES, "sort": sort,
            "errors": errors, "filtered": bool(q or role)}


def user_page(request, context, forms=None, values=None):
    user = context.user
    currency = request.registry.settings["ticketing.currency"]
    ledger, ledger_pager = paged(request, lambda limit, offset: wallet.transactions(
        request.dbsession, user.id, limit, offset), size=10)
    recent_orders, order_count = orders.list_orders(request.dbsession, user_id=user.id, limit=10)
    return {
        "user": user,
        "roles": ROLES,
        "balance": wallet.get_wallet(request.dbsession, user.id, currency),
        "ledger": ledger,
        "ledger_pager": ledger_pager,
        "staff_names": accounts.users_by_id(request.dbsession, [e.created_by for e in ledger if e.created_by]),
        "orders": recent_orders,
        "order_count": order_count,
        "matches": {o.match_id: orders.get_match(request.dbsession, o.match_id) for o in recent_orders},
        "may_set_role": request.has_permission("user:set_role", context),
        "may_top_up": request.has_permission("user:top_up", context),
        "forms": forms or {},
        "values": values or {},
    }


@view_config(route_name="admin.user", context=AdminUser, permission="user:view",
             request_method="GET", renderer="admin/users/detail.jinja2")
def user_detail(context, request):
    return user_page(request, context)


@view_config(route_name="admin.user.role", context=AdminUser, permission="user:set_role",
             request_method="POST", renderer="admin/users/detail.jinja2")
def set_role(context, request):
    user = context.user
    role = text_field(request.POST, "role", 20)
    before = user.role
    try:
        accounts.set_role(request.dbsession, user, role)
        if role != before:
            audit.record(request.dbsession, request.identity.id, "user.role", "user", user.id,
                         email=user.email, before=before, after=role)
    except Problem as problem:
        errors = rejected(request, problem, fields=("role",))
        request.dbsession.expire(user)
        return user_page(request, context, {"role": errors}, {"role": {"role": role}})
    if role == before:
        flash(request, f"{user.email} already is {role}.")
    else:
        flash(request, f"{user.email} is now {role}. Their open sessions and access tokens stop working.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))


@view_config(route_name="admin.user.top_up", context=AdminUser, permission="user:top_up",
             request_method="POST", renderer="admin/users/detail.jinja2")
def top_up(context, request):
    user = context.user
    values = {name: text_field(request.POST, name, 200) for name in TOP_UP_FIELDS}
    currency = request.registry.settings["ticketing.currency"]
    try:
        errors = []
        amount = money_field(request.POST, "amount", errors)
        if not values["reason"]:
            # A staff top-up is money out of thin air: the ledger must say why.
            errors.append(field_error("reason", "is required: the ledger records why staff added money"))
        require_valid(errors, "The top-up is not valid.")
        entry = wallet.top_up(request.dbsession, user.id, amount, currency, reason=values["reason"],
                              created_by=request.identity.id, enforce_limits=False)
        audit.record(request.dbsession, request.identity.id, "wallet.top_up", "user", user.id,
                     amount=amount, currency=currency, reason=values["reason"], ledger_id=entry.id)
    except Problem as problem:
        errors = rejected(request, problem, fields=TOP_UP_FIELDS)
        return user_page(request, context, {"top_up": errors}, {"top_up": values})
    money = TemplateHelpers(request).money
    flash(request, f"Added {money(amount, currency)} to {user.email}'s wallet; "
                   f"the balance is {money(entry.balance_after, currency)}.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))

