"""Staff credits to fans' wallets, with the controls money given away needs.

A credit is asked for with a reason. It is refused above the per-credit cap, and when it
would take the staff member's credits of the day past the daily cap. Up to the approval
threshold the money moves at once; above it the credit waits until an administrator other
than the requester approves it (four eyes), or rejects it. An applied credit can be
reversed, with a reason, by a counter-entry in the ledger; nothing in the ledger is edited.

The guarantees, each kept by one statement rather than by a read followed by a write:
- the daily cap: the conditional upsert on ``staff_credit_days`` (``DO UPDATE ... WHERE
  total + amount <= cap``) is the check, so two credits racing cannot together pass it;
- one decision per credit, one reversal per credit: ``UPDATE ... WHERE status = 'pending'``
  / ``WHERE reversed_at IS NULL`` changes one row once;
- a reversal never takes the wallet below zero: the debit is ``WHERE balance >= amount``;
- a confirmation sent twice credits once: ``(requested_by, request_key)`` is unique.

Lock order: the credit row, then the staff member's day row, then the wallet.
"""
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, text

from ticketing import money
from ticketing.models import WalletCredit
from ticketing.problems import Conflict, NotFound, ValidationFailed, field_error
from ticketing.services import wallet

REQUEST_KEY_LENGTH = 64


@dataclass(frozen=True)
class CreditRules:
    """The caps (minor units), the calendar the daily cap counts in, and how money reads."""

    per_credit_max: int
    daily_max: int
    approval_above: int
    zone: str = "Europe/Ljubljana"
    locale: str = money.DEFAULT_LOCALE

    @classmethod
    def from_settings(cls, settings):
        zone = settings.get("admin.timezone") or "Europe/Ljubljana"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):  # as forms.local_zone: UTC rather than fail
            zone = "UTC"
        return cls(
            per_credit_max=int(settings["wallet.staff_credit_max"]),
            daily_max=int(settings["wallet.staff_credit_daily_max"]),
            approval_above=int(settings["wallet.staff_credit_approval_above"]),
            zone=zone,
            locale=str(money.locale_of(settings)),
        )

    def money(self, minor, currency):
        return money.format_money(minor, currency, self.locale)

    def needs_approval(self, amount):
        return amount > self.approval_above


def credit_errors(rules, amount, reason, currency):
    """Every rule the form's values break, before anything is written (shown all at once)."""
    errors = []
    if amount is not None:
        if amount <= 0:
            errors.append(field_error("amount", "must be more than zero"))
        elif amount > rules.per_credit_max:
            errors.append(field_error(
                "amount", f"must be at most {rules.money(rules.per_credit_max, currency)} for one credit"))
    if not (reason or "").strip():
        errors.append(field_error("reason", "is required: the ledger records why staff added money"))
    return errors


def credited_today(dbsession, rules, staff_id):
    """What ``staff_id`` has credited today (pending and applied), in minor units."""
    return dbsession.execute(
        text("SELECT coalesce(sum(total), 0) FROM staff_credit_days "
             "WHERE staff_id = :s AND day = (now() AT TIME ZONE :zone)::date"),
        {"s": staff_id, "zone": rules.zone},
    ).scalar_one()


def daily_cap_error(rules, used, currency):
    left = max(rules.daily_max - used, 0)
    return field_error(
        "amount",
        f"would pass your daily limit of {rules.money(rules.daily_max, currency)}: "
        f"you have credited {rules.money(used, currency)} today, {rules.money(left, currency)} is left",
    )


# The daily cap's check and update in one statement. The insert path needs no WHERE: a
# first credit of the day is at most the per-credit cap, which the form checked (and a cap
# above the daily cap is refused below, in Python, before this runs).
_ADD_TO_DAY = text(
    """
    INSERT INTO staff_credit_days AS d (staff_id, day, total)
    VALUES (:s, (now() AT TIME ZONE :zone)::date, :a)
    ON CONFLICT (staff_id, day) DO UPDATE SET total = d.total + excluded.total
    WHERE d.total + excluded.total <= :cap
    RETURNING total
    """
)


def request_credit(dbsession, rules, *, user_id, amount, currency, reason, staff_id, request_key):
    """Record a credit; apply it now when within the approval threshold.

    Returns ``(credit, created)``: sending the same ``request_key`` again returns the first
    credit unchanged, with ``created`` false."""
    reason = (reason or "").strip()
    errors = credit_errors(rules, amount, reason, currency)
    if not request_key or len(request_key) > REQUEST_KEY_LENGTH:
        # Not a field anyone typed: the confirmation page's key is missing (the admin shows
        # this as a general error, not next to a field).
        errors.append(field_error("", "The confirmation has expired: start again from the credit form."))
    if errors:
        raise ValidationFailed("The credit is not valid.", errors=errors)
    existing = dbsession.execute(
        select(WalletCredit).where(WalletCredit.requested_by == staff_id, WalletCredit.request_key == request_key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    if amount > rules.daily_max:
        raise ValidationFailed("The credit is not valid.", errors=[daily_cap_error(rules, 0, currency)])
    if dbsession.execute(_ADD_TO_DAY, {"s": staff_id, "zone": rules.zone, "a": amount,
                                       "cap": rules.daily_max}).first() is None:
        used = credited_today(dbsession, rules, staff_id)
        raise ValidationFailed("Your daily credit limit is reached.", errors=[daily_cap_error(rules, used, currency)])
    credit = WalletCredit(user_id=user_id, amount=amount, currency=currency, reason=reason, status="pending",
                          requested_by=staff_id, request_key=request_key)
    dbsession.add(credit)
    dbsession.flush()
    if not rules.needs_approval(amount):
        _apply(dbsession, credit.id, decided_by=staff_id)
    dbsession.refresh(credit)
    return credit, True


def _apply(dbsession, credit_id, decided_by, *, must_differ=False):
    """pending -> approved, and the money into the wallet, once."""
    row = dbsession.execute(
        text(
            "UPDATE wallet_credits SET status = 'approved', decided_by = :by, decided_at = now() "
            "WHERE id = :id AND status = 'pending' AND (NOT :differ OR requested_by <> :by) "
            "RETURNING user_id, amount, currency, reason, requested_by"
        ),
        {"id": credit_id, "by": decided_by, "differ": must_differ},
    ).first()
    if row is None:
        raise _why_not_pending(dbsession, credit_id, decided_by, must_differ)
    # The ledger says who added the money (the requester); the credit row says who approved it.
    entry = wallet.top_up(dbsession, row.user_id, row.amount, row.currency, reason=row.reason,
                          created_by=row.requested_by, enforce_limits=False)
    dbsession.execute(text("UPDATE wallet_credits SET ledger_id = :l WHERE id = :id"),
                      {"l": entry.id, "id": credit_id})
    return entry


def _why_not_pending(dbsession, credit_id, actor_id, must_differ):
    credit = dbsession.get(WalletCredit, credit_id, populate_existing=True)
    if credit is None:
        return NotFound("There is no such credit.")
    if credit.status != "pending":
        return Conflict(f"This credit has already been {credit.status}.")
    if must_differ and credit.requested_by == actor_id:
        return Conflict("You asked for this credit: another administrator must approve it.")
    return Conflict("This credit cannot be approved now.")


def approve_credit(dbsession, credit_id, admin_id):
    """An administrator (not the requester) approves a pending credit: the money moves."""
    entry = _apply(dbsession, credit_id, admin_id, must_differ=True)
    return dbsession.get(WalletCredit, credit_id, populate_existing=True), entry


def reject_credit(dbsession, rules, credit_id, admin_id):
    """A pending credit is turned down; it no longer counts towards the requester's day."""
    row = dbsession.execute(
        text(
            "UPDATE wallet_credits SET status = 'rejected', decided_by = :by, decided_at = now() "
            "WHERE id = :id AND status = 'pending' "
            "RETURNING requested_by, amount, (requested_at AT TIME ZONE :zone)::date AS day"
        ),
        {"id": credit_id, "by": admin_id, "zone": rules.zone},
    ).first()
    if row is None:
        raise _why_not_pending(dbsession, credit_id, admin_id, False)
    dbsession.execute(
        text("UPDATE staff_credit_days SET total = total - :a WHERE staff_id = :s AND day = :d"),
        {"a": row.amount, "s": row.requested_by, "d": row.day},
    )
    return dbsession.get(WalletCredit, credit_id, populate_existing=True)


def reverse_credit(dbsession, rules, credit_id, staff_id, reason):
    """Take an applied credit back with a counter-entry (kind ``reversal``), once.

    Refused when the fan has already spent the money: the wallet never goes negative."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("The reversal is not valid.",
                               errors=[field_error("reason", "is required: the ledger records why money was taken back")])
    row = dbsession.execute(
        text(
            "UPDATE wallet_credits SET reversed_at = now(), reversed_by = :by, reversal_reason = :r "
            "WHERE id = :id AND status = 'approved' AND reversed_at IS NULL "
            "RETURNING user_id, amount, currency"
        ),
        {"id": credit_id, "by": staff_id, "r": reason[:200]},
    ).first()
    if row is None:
        credit = dbsession.get(WalletCredit, credit_id, populate_existing=True)
        if credit is None:
            raise NotFound("There is no such credit.")
        if credit.reversed_at is not None:
            raise Conflict("This credit has already been reversed.")
        raise Conflict(f"Only a credit that reached the wallet can be reversed; this one is {credit.status}.")
    wallet.lock_wallet(dbsession, row.user_id, row.currency)
    balance = dbsession.execute(
        text("UPDATE wallets SET balance = balance - :a, updated_at = now() "
             "WHERE user_id = :u AND balance >= :a RETURNING balance"),
        {"a": row.amount, "u": row.user_id},
    ).scalar_one_or_none()
    if balance is None:
        held = wallet.get_wallet(dbsession, row.user_id, row.currency)["balance"]
        raise Conflict(
            f"The fan has already spent part of this credit: the wallet holds {rules.money(held, row.currency)}, "
            f"the credit was {rules.money(row.amount, row.currency)}. Nothing was taken back.")
    entry = wallet.record(dbsession, row.user_id, "reversal", row.amount, balance, row.currency,
                          reason=reason[:200], created_by=staff_id)
    dbsession.execute(text("UPDATE wallet_credits SET reversal_ledger_id = :l WHERE id = :id"),
                      {"l": entry.id, "id": credit_id})
    return dbsession.get(WalletCredit, credit_id, populate_existing=True), entry


def credits_of(dbsession, user_id, limit=20):
    """A fan's credits, newest first."""
    return dbsession.execute(
        select(WalletCredit).where(WalletCredit.user_id == user_id).order_by(WalletCredit.id.desc()).limit(limit)
    ).scalars().all()


def list_credits(dbsession, *, status=None, limit=50, offset=0):
    """Staff credits, newest first (pending ones: oldest first, the order to decide them in)."""
    query = select(WalletCredit)
    if status:
        query = query.where(WalletCredit.status == status)
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    order = WalletCredit.id.asc() if status == "pending" else WalletCredit.id.desc()
    rows = dbsession.execute(query.order_by(order).limit(limit).offset(offset)).scalars().all()
    return rows, total
