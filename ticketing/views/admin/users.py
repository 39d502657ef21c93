"""Users: search, one user's account, role changes (admins only), staff wallet credits (with
their caps, confirmation and approval: services/credits.py), disabling accounts, opening
staff accounts, and a password reset link sent to the account's own address.

Who may change a role, credit a wallet or disable an account is the context's ``__acl__``
(roles: admins only, nobody their own; credits: only a customer's wallet; disabling: staff
disable fans, admins anyone but themselves), so the page shows a form only when the request
``has_permission`` for it, and the POST view requires that same permission.
"""
import secrets

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models.user import ROLES, STAFF_ROLES
from ticketing.money import audit_amount, major_units, money_in_words
from ticketing.problems import Problem
from ticketing.resources.admin import AdminUser, Users
from ticketing.services import accounts, audit, credits, orders, recovery, wallet

from .forms import flash, keyset_paged, money_field, paged, rejected, require_valid, text_field

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
            "errors": errors, "filtered": bool(q or role),
            "may_create_staff": request.has_permission("user:create", context)}


def user_page(request, context, forms=None, values=None):
    user = context.user
    currency = request.registry.settings["ticketing.currency"]
    ledger, ledger_pager = paged(request, lambda limit, offset: wallet.transactions(
        request.dbsession, user.id, limit, offset), size=10)
    recent_orders, order_count = orders.list_orders(request.dbsession, user_id=user.id, limit=10)
    user_credits = credits.credits_of(request.dbsession, user.id)
    named = [e.created_by for e in ledger if e.created_by]
    named += [who for c in user_credits for who in (c.requested_by, c.decided_by, c.reversed_by) if who]
    return {
        "user": user,
        "roles": ROLES,
        "balance": wallet.get_wallet(request.dbsession, user.id, currency),
        "ledger": ledger,
        "ledger_pager": ledger_pager,
        "staff_names": accounts.users_by_id(request.dbsession, named),
        "orders": recent_orders,
        "order_count": order_count,
        "matches": {o.match_id: orders.get_match(request.dbsession, o.match_id) for o in recent_orders},
        "may_set_role": request.has_permission("user:set_role", context),
        "may_top_up": request.has_permission("user:top_up", context),
        "may_send_reset": request.has_permission("user:send_password_reset", context),
        "may_set_active": request.has_permission("user:set_active", context),
        "may_approve": request.has_permission("credit:approve", context),
        "may_reverse": request.has_permission("credit:reverse", context),
        "credits": user_credits,
        "credit_rules": credits.CreditRules.from_settings(request.registry.settings),
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
    """Two steps: the form's values are checked and shown back, with the amount in words, for
    a confirmation; only the confirmation (``confirm=yes``, with the key it was given) credits.
    Above the approval threshold the credit waits for an administrator (services/credits.py)."""
    user = context.user
    values = {name: text_field(request.POST, name, 200) for name in TOP_UP_FIELDS}
    currency = request.registry.settings["ticketing.currency"]
    rules = credits.CreditRules.from_settings(request.registry.settings)
    staff_id = request.identity.id
    try:
        errors = []
        amount = money_field(request.POST, "amount", errors)
        errors += credits.credit_errors(rules, amount, values["reason"], currency)
        confirmed = request.POST.get("confirm") == "yes"
        if not errors and not confirmed:
            # Said early, with the other errors; the confirmation's own statement is the check
            # (and a confirmation sent twice must find its credit, not this message).
            used = credits.credited_today(request.dbsession, rules, staff_id)
            if used + amount > rules.daily_max:
                errors.append(credits.daily_cap_error(rules, used, currency))
        require_valid(errors, "The credit is not valid.")
        if not confirmed:
            request.override_renderer = "admin/users/credit_confirm.jinja2"
            return {
                "user": user, "amount": amount, "currency": currency, "reason": values["reason"],
                "amount_text": rules.money(amount, currency), "amount_words": money_in_words(amount, currency),
                "amount_input": str(major_units(amount, currency)),
                "needs_approval": rules.needs_approval(amount),
                "approval_above": rules.money(rules.approval_above, currency),
                "request_key": secrets.token_urlsafe(24),
            }
        credit, created = credits.request_credit(
            request.dbsession, rules, user_id=user.id, amount=amount, currency=currency, reason=values["reason"],
            staff_id=staff_id, request_key=text_field(request.POST, "request_key", credits.REQUEST_KEY_LENGTH + 1))
        if created:  # a confirmation sent twice returns the first credit, audited then
            audit.record(request.dbsession, staff_id,
                         "wallet.credit" if credit.status == "approved" else "wallet.credit.pending",
                         "user", user.id, **audit_amount(credit.amount, credit.currency), reason=credit.reason,
                         credit_id=credit.id)
    except Problem as problem:
        errors = rejected(request, problem, fields=TOP_UP_FIELDS)
        return user_page(request, context, {"top_up": errors}, {"top_up": values})
    text = rules.money(credit.amount, credit.currency)
    if credit.status == "pending":
        flash(request, f"The credit of {text} to {user.email}'s wallet waits for an administrator's approval "
                       f"(more than {rules.money(rules.approval_above, currency)}).")
    else:
        balance = wallet.get_wallet(request.dbsession, user.id, currency)["balance"]
        flash(request, f"Added {text} to {user.email}'s wallet; the balance is {rules.money(balance, currency)}.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))


@view_config(route_name="admin.user.active", context=AdminUser, permission="user:set_active",
             request_method="POST")
def set_active(context, request):
    """Disable or enable an account; a disabled account's sessions and tokens end at once."""
    user = context.user
    active = request.POST.get("active") == "yes"
    if accounts.set_active(request.dbsession, user, active):
        audit.record(request.dbsession, request.identity.id, "user.enable" if active else "user.disable",
                     "user", user.id, email=user.email)
        flash(request, f"{user.email} can log in again." if active else
              f"{user.email} is disabled: they cannot log in, and their sessions and tokens stopped working.")
    else:
        flash(request, f"{user.email} already is {'enabled' if active else 'disabled'}.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))


NEW_STAFF_FIELDS = ("email", "full_name", "role", "password")


@view_config(route_name="admin.users.new", context=Users, permission="user:create",
             request_method="GET", renderer="admin/users/new.jinja2")
def new_staff_form(context, request):
    return {"values": {"role": "staff"}, "staff_roles": STAFF_ROLES}


@view_config(route_name="admin.users.new", context=Users, permission="user:create",
             request_method="POST", renderer="admin/users/new.jinja2")
def create_staff(context, request):
    values = {name: text_field(request.POST, name, 254) for name in NEW_STAFF_FIELDS}
    password = request.POST.get("password") or ""  # not trimmed: spaces may be part of it
    try:
        user = accounts.create_staff(request.dbsession, values["email"], values["full_name"], password,
                                     values["role"], bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"])
        audit.record(request.dbsession, request.identity.id, "user.create", "user", user.id,
                     email=user.email, role=user.role)
    except Problem as problem:
        errors = rejected(request, problem, fields=NEW_STAFF_FIELDS)
        return {"values": {**values, "password": ""}, "errors": errors, "staff_roles": STAFF_ROLES}
    flash(request, f"{user.email} can now log in as {user.role}. Give them the password in person.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))


@view_config(route_name="admin.user.password_reset", context=AdminUser, permission="user:send_password_reset",
             request_method="POST")
def send_password_reset(context, request):
    """Mail the fan a reset link (to their own address: staff never see or set a password)."""
    user = context.user
    sent = recovery.request_password_reset(request.dbsession, user,
                                           request.registry.settings["auth.password_reset_ttl_seconds"])
    if sent:
        audit.record(request.dbsession, request.identity.id, "user.password_reset_sent", "user", user.id,
                     email=user.email)
        flash(request, f"A link to set a new password is on its way to {user.email}. It works once, for "
                       f"{request.registry.settings['auth.password_reset_ttl_seconds'] // 60} minutes.")
    else:
        flash(request, "This account is closed: no link was sent.")
    return HTTPSeeOther(request.route_url("admin.user", user_id=user.id))
