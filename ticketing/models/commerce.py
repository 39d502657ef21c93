"""Money and purchases: wallets with an append-only ledger, holds, orders, tickets, and
idempotency records.

Invariants enforced here rather than in code:
- a wallet balance never goes negative (CHECK), and every change to it is a ledger row;
- a seat of a match is in at most one valid ticket (partial unique index);
- a hold becomes at most one order (unique hold_id).

A ticket given to another fan keeps its row (its seat's one valid ticket stays one): the
holder (``user_id``) changes and ``code_version`` goes up, so the old code dies; each such
move is a ``TicketTransfer`` row (decision 0058). ``Order.user_id`` stays the payer.
"""
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class LedgerEntry(Base):
    """One money movement. ``amount`` is always positive; ``kind`` says which way it went."""

    __tablename__ = "wallet_ledger"
    __table_args__ = (
        # A reversal takes back a staff credit (models/credits.py), a withdrawal pays out to the
        # fan (services/wallet.py): counter-entries, never edits.
        CheckConstraint("kind IN ('top_up', 'payment', 'refund', 'reversal', 'withdrawal')", name="kind_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_wallet_ledger_user_id_id", "user_id", "id"),
        # The dashboard's refunds per day (services/sales.py): a month of refunds from the index.
        Index("ix_wallet_ledger_refunds_created_at", "created_at", postgresql_where=text("kind = 'refund'"),
              postgresql_include=["amount", "order_id"]),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    order_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    @property
    def payout_reference(self):
        """A withdrawal's payout reference, in the API's answer and in the fan's mail: the
        row's id, so support finds the row from what the fan quotes."""
        return f"PO-{self.id}"


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'released', 'replaced', 'checked_out', 'expired', 'cancelled')",
            name="status_known",
        ),
        Index("ix_holds_user_id_match_id", "user_id", "match_id"),
        # At most one live hold per fan and match (a new one replaces the old: decision 0004).
        Index(
            "uq_holds_one_active_per_fan_match",
            "user_id",
            "match_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_holds_expires_at_active", "expires_at", postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    seat_ids = mapped_column(ARRAY(BigInteger), nullable=False)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="active")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('paid', 'cancelled')", name="status_known"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_match_id", "match_id"),
        # The dashboard's daily chart and the admin date filter (migration 0009). The chart's
        # columns ride along (INCLUDE): a month of orders is read from the index alone.
        Index("ix_orders_created_at", "created_at", postgresql_include=["status", "total", "match_id"]),
        Index("ix_orders_cancelled_at", "cancelled_at", postgresql_where=text("cancelled_at IS NOT NULL"),
              postgresql_include=["status", "total", "match_id"]),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), nullable=False)
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="paid")
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[int | None] = mapped_column(BigInteger)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'void')", name="status_known"),
        # Invariant 1, the last line of defence: one valid ticket per seat of a match.
        Index(
            "uq_tickets_valid_match_seat",
            "match_id",
            "seat_id",
            unique=True,
            postgresql_where=text("status = 'valid'"),
        ),
        Index("ix_tickets_order_id", "order_id"),
        Index("ix_tickets_user_id", "user_id"),
        # Deleting a seat checks this foreign key by seat_id (migration 0007).
        Index("ix_tickets_seat_id", "seat_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), nullable=False)
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), nullable=False)
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, server_default="valid")
    code_version: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class TicketTransfer(Base):
    """A ticket moved from one fan to another: the history, and what the invariants check
    (no ticket is transferred after it was used at the gate). ``created_at`` is the clock at
    the write, not the transaction's start, so it orders against a concurrent gate scan."""

    __tablename__ = "ticket_transfers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), nullable=False)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    from_version: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")
    )


class IdempotencyRecord(Base):
    """The first response to a request sent with an ``Idempotency-Key`` (per user)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'done')", name="state_known"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), nullable=False)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
