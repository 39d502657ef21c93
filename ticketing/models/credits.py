"""Staff credits to fans' wallets: each one asked for, maybe approved, maybe reversed.

A credit is money the federation gives away, so it is a row of its own with its reason, who
asked, who approved and who reversed it; the wallet ledger only ever gains rows (a credit
adds a ``top_up``, a reversal a ``reversal`` counter-entry), it is never edited.

``staff_credit_days`` is the running total each staff member credited on one day (the
federation's calendar day). The daily cap is enforced by the statement that adds to it
(``... DO UPDATE ... WHERE total + amount <= cap``), so two credits racing cannot together
pass the cap (docs/decisions/0041).
"""
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base

CREDIT_STATUSES = ("pending", "approved", "rejected")


class WalletCredit(Base):
    __tablename__ = "wallet_credits"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
        # Only money that reached the wallet can be taken back.
        CheckConstraint("reversed_at IS NULL OR status = 'approved'", name="reversal_of_approved"),
        # The confirmation form's key: sending the same confirmation twice credits once.
        UniqueConstraint("requested_by", "request_key"),
        Index("ix_wallet_credits_user_id", "user_id"),
        Index("ix_wallet_credits_pending", "requested_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="pending")
    request_key: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ledger_id: Mapped[int | None] = mapped_column(BigInteger)
    reversed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reversal_reason: Mapped[str | None] = mapped_column(String(200))
    reversal_ledger_id: Mapped[int | None] = mapped_column(BigInteger)


class StaffCreditDay(Base):
    """What one staff member credited (pending or approved) on one calendar day."""

    __tablename__ = "staff_credit_days"
    __table_args__ = (CheckConstraint("total >= 0", name="total_not_negative"),)

    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
