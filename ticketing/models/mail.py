"""Mail the application owes: the outbox, bulk notices to a match's holders, account tokens.

``MailOutbox`` is the durable queue (docs/decisions/0055): a row is written in the same
transaction as the change it reports, so a rolled-back request leaves no mail and a committed
one cannot lose its mail; ``ticketing-mail-sender`` sends the rows and marks them sent.
``message_id`` is chosen when the row is written, so a message sent again after a crash
carries the same Message-ID; ``dedupe_key`` (``receipt:<order id>``...) makes it one message
per event whatever path wrote it.

``MailCampaign`` is one notice to every ticket holder of a match (cancelled, rescheduled):
the sender expands it into outbox rows in batches, in user-id order, remembering the last
user it reached (``cursor_user_id``), so a crash resumes where it stopped and the admin can
show how far it got.

``AccountToken``: an e-mail verification or password reset token, stored as its SHA-256 only.
"""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base

CAMPAIGN_KINDS = ("match_cancelled", "match_rescheduled")
TOKEN_PURPOSES = ("verify_email", "reset_password")


class MailCampaign(Base):
    __tablename__ = "mail_campaigns"
    __table_args__ = (
        CheckConstraint("kind IN ('match_cancelled', 'match_rescheduled')", name="kind_known"),
        Index("ix_mail_campaigns_unfinished", "id", postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    params = mapped_column(JSONB, nullable=False, server_default="{}")
    total: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    enqueued: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cursor_user_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailOutbox(Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_due", "next_attempt_at", "id",
              postgresql_where=text("sent_at IS NULL AND failed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("mail_campaigns.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    # Emptied once sent: a reset link must not outlive its delivery in the database.
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # A message queued on the hot path (the receipt) is not rendered there: its facts are
    # read and its bodies rendered by the sender, from these parameters (services/notices.py).
    params = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountToken(Base):
    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="purpose_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    # The address the token was sent to: verifying it verifies that address, not a later one.
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
