"""Prepaid wallets: the only money in the box office.

Every movement is one append-only ledger row written in the same transaction as the balance
change, so ``balance = top-ups - payments + refunds - reversals - withdrawals`` holds for every
wallet (invariant 4; a reversal takes back a staff credit, services/credits.py).
Debits are one conditional ``UPDATE ... WHERE balance >= :amount RETURNING`` (inside the
checkout's statement, ticketing/services/orders.py): two checkouts racing for the last euro
cannot both succeed, and the CHECK constraint backs it up.
"""
from sqlalchemy import func, select, text

from ticketing.models import LedgerEntry, Wallet
from ticketing.problems import Conflict, PaymentRequired, ValidationFailed, field_error
from ticketing.services import notices
from ticketing.services.prepared import Prepared

MAX_TOP_UP = 100_000  # 1,000.00 in minor units per top-up
MAX_TOP_UP_PER_DAY = 300_000  # 3,000.00 per customer per UTC day
MAX_WITHDRAWAL = 100_000  # 1,000.00 per payout
MAX_WITHDRAWAL_PER_DAY = 200_000  # 2,000.00 per customer per UTC day
#: Ledger kinds that take money out of the wallet (amounts are positive; the kind says which
#: way the money went). The admin's signs and the CSV's negative amounts read this.
OUTGOING_KINDS = frozenset({"payment", "reversal", "withdrawal"})

_ENSURE = text(
    "INSERT INTO wallets (user_id, balance, currency) VALUES (:user_id, 0, :currency) "
    "ON CONFLICT (user_id) DO NOTHING"
)

_LOCK = Prepared("wallet_lock", "SELECT balance, currency FROM wallets WHERE user_id = :user_id FOR UPDATE",
                 {"user_id": "bigint"})


def lock_wallet(dbsession, user_id, currency):
    """Create the wallet if needed and lock it: this row lock serialises one fan's purchases."""
    # Nearly every fan who buys has a wallet already: lock it in one round trip, and create
    # it (then lock it) only when it is missing.
    locked = _LOCK.execute(dbsession, {"user_id": user_id}).one_or_none()
    if locked is not None:
        return locked
    dbsession.execute(_ENSURE, {"user_id": user_id, "currency": currency})
    return _LOCK.execute(dbsession, {"user_id": user_id}).one()


def get_wallet(dbsession, user_id, currency):
    wallet = dbsession.get(Wallet, user_id)
    if wallet is None:
        return {"balance": 0, "currency": currency}
    return {"balance": wallet.balance, "currency": wallet.currency}


def _ledger(dbsession, user_id, kind, amount, balance_after, currency, order_id=None, reason=None, created_by=None):
    entry = LedgerEntry(
        user_id=user_id, kind=kind, amount=amount, balance_after=balance_after, currency=currency,
        order_id=order_id, reason=reason, created_by=created_by,
    )
    dbsession.add(entry)
    dbsession.flush()
    return entry


def record(dbsession, user_id, kind, amount, balance_after, currency, **details):
    """Append one ledger row for a balance change the caller has just made (same transaction)."""
    return _ledger(dbsession, user_id, kind, amount, balance_after, currency, **details)


def top_up(dbsession, user_id, amount, currency, reason=None, created_by=None, enforce_limits=True):
    """Simulated top-up (no gateway). Bounded per top-up and per day for customers."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationFailed("The amount is not valid.",
                               errors=[field_error("amount", "must be a positive whole number of minor units")])
    if enforce_limits and amount > MAX_TOP_UP:
        raise ValidationFailed("The amount is too large.",
                               errors=[field_error("amount", f"at most {MAX_TOP_UP} per top-up")])
    lock_wallet(dbsession, user_id, currency)
    if enforce_limits:
        today = dbsession.execute(
            text(
                "SELECT coalesce(sum(amount), 0)::bigint FROM wallet_ledger WHERE user_id = :u AND kind = 'top_up' "
                "AND created_by IS NULL AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            ),
            {"u": user_id},
        ).scalar_one()
        if today + amount > MAX_TOP_UP_PER_DAY:
            raise ValidationFailed(
                "Daily top-up limit reached.",
                errors=[field_error("amount", f"at most {MAX_TOP_UP_PER_DAY} per day; {MAX_TOP_UP_PER_DAY - today} left today")],
            )
    balance = dbsession.execute(
        text("UPDATE wallets SET balance = balance + :a, updated_at = now() WHERE user_id = :u RETURNING balance"),
        {"a": amount, "u": user_id},
    ).scalar_one()
    return _ledger(dbsession, user_id, "top_up", amount, balance, currency, reason=reason, created_by=created_by)


# What the fan's live holds will cost at checkout: money a withdrawal must leave behind
# (decision 0059). Read after the wallet lock, which every hold and checkout of this fan
# takes first, so no hold appears or is paid for between this sum and the debit.
_RESERVED = text(
    "SELECT coalesce(sum(total), 0)::bigint FROM holds "
    "WHERE user_id = :u AND status = 'active' AND expires_at > now()"
)

_WITHDRAWN_TODAY = text(
    "SELECT coalesce(sum(amount), 0)::bigint FROM wallet_ledger WHERE user_id = :u AND kind = 'withdrawal' "
    "AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)

# The debit is its own check: it only happens while what stays covers the live holds.
_DEBIT_ABOVE_RESERVED = text(
    "UPDATE wallets SET balance = balance - :a, updated_at = now() "
    "WHERE user_id = :u AND balance - :a >= :reserved RETURNING balance"
)


class InsufficientAvailableFunds(Conflict):
    slug, title = "insufficient-available-funds", "Not that much is free to withdraw"


def withdrawal_field_errors(amount):
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return [field_error("amount", "must be a positive whole number of minor units")]
    if amount > MAX_WITHDRAWAL:
        return [field_error("amount", f"at most {MAX_WITHDRAWAL} per withdrawal")]
    return []


def withdraw(dbsession, user_id, amount, currency):
    """Pay ``amount`` out of the fan's wallet to their (simulated) bank account.

    The balance never drops below what the fan's live holds need at checkout, and never
    below zero; at most MAX_WITHDRAWAL per payout and MAX_WITHDRAWAL_PER_DAY per UTC day.
    Returns the ledger row, and queues the fan's receipt of it. The payout itself is
    simulated: the ledger row is the record that it was sent (its id is the payout reference)."""
    errors = withdrawal_field_errors(amount)
    if errors:
        raise ValidationFailed("The amount is not valid.", errors=errors)
    lock_wallet(dbsession, user_id, currency)
    today = dbsession.execute(_WITHDRAWN_TODAY, {"u": user_id}).scalar_one()
    if today + amount > MAX_WITHDRAWAL_PER_DAY:
        raise ValidationFailed(
            "Daily withdrawal limit reached.",
            errors=[field_error("amount", f"at most {MAX_WITHDRAWAL_PER_DAY} per day; "
                                          f"{max(0, MAX_WITHDRAWAL_PER_DAY - today)} left today")],
        )
    reserved = dbsession.execute(_RESERVED, {"u": user_id}).scalar_one()
    balance = dbsession.execute(_DEBIT_ABOVE_RESERVED, {"a": amount, "u": user_id, "reserved": reserved}).scalar()
    if balance is None:
        current = get_wallet(dbsession, user_id, currency)["balance"]
        available = max(0, current - reserved)
        raise InsufficientAvailableFunds(
            f"The wallet holds {current}, of which {reserved} is kept for your live holds; "
            f"at most {available} can be withdrawn.",
            errors=[field_error("amount", f"at most {available} available")],
            extra={"balance": current, "reserved": reserved, "available": available},
        )
    entry = _ledger(dbsession, user_id, "withdrawal", amount, balance, currency, reason="payout (simulated)")
    # The fan's receipt, with the payout itself, whoever calls this: money leaving an account
    # is always told to its owner (services/notices.py).
    notices.withdrawal_paid(dbsession, entry)
    return entry


def raise_short(dbsession, user_id, amount, currency):
    """402: the conditional debit found the balance short of ``amount``."""
    current = get_wallet(dbsession, user_id, currency)["balance"]
    raise PaymentRequired(
        f"The wallet holds {current} and this costs {amount}; top up first.",
        extra={"balance": current, "amount": amount},
    )


def refund(dbsession, user_id, amount, currency, order_id, created_by=None, reason=None):
    if amount <= 0:
        return None
    lock_wallet(dbsession, user_id, currency)
    balance = dbsession.execute(
        text("UPDATE wallets SET balance = balance + :a, updated_at = now() WHERE user_id = :u RETURNING balance"),
        {"a": amount, "u": user_id},
    ).scalar_one()
    return _ledger(dbsession, user_id, "refund", amount, balance, currency, order_id=order_id,
                   created_by=created_by, reason=reason)


def transactions(dbsession, user_id, limit, offset):
    query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = dbsession.execute(query.order_by(LedgerEntry.id.desc()).limit(limit).offset(offset)).scalars().all()
    return rows, total
