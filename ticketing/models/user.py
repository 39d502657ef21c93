"""Accounts: users with a role, and the refresh tokens issued to them.

Refresh tokens are stored only as SHA-256 hashes and grouped in families: each refresh
rotates the token (the old row is marked ``rotated_at``), and presenting a rotated token
again revokes the whole family, because only a thief would replay it.
"""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base

ROLES = ("customer", "staff", "admin")
STAFF_ROLES = ("staff", "admin")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'staff', 'admin')", name="role_known"),
        CheckConstraint("email = lower(email)", name="email_normalised"),
        CheckConstraint("locale IN ('en', 'sl')", name="locale_known"),
        # Case-insensitive uniqueness is the database's promise, not only the signup code's.
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        # Staff search "contains" on e-mail or name (ILIKE '%...%'): trigram indexes
        # (pg_trgm, migration 0009) instead of reading every user.
        Index("ix_users_email_trgm", "email", postgresql_using="gin", postgresql_ops={"email": "gin_trgm_ops"}),
        Index("ix_users_full_name_trgm", "full_name", postgresql_using="gin",
              postgresql_ops={"full_name": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="customer")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    # Admin sessions carry the generation they were opened in; logout and role changes move it
    # on, which ends every session opened before (a signed cookie cannot be revoked itself).
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Set when the owner follows the verification link (decision 0056 says what an
    # unverified account may do); cleared when the address changes.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The language of the mail the account gets: 'en' or 'sl'.
    locale: Mapped[str] = mapped_column(String(5), nullable=False, server_default="en")
    # Set when the owner deleted the account: its personal data is gone, its orders and
    # ledger stay for the accounts (decision 0057).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    refresh_tokens = relationship("RefreshToken", back_populates="user", passive_deletes=True)

    @property
    def email_verified(self):
        return self.email_verified_at is not None

    @property
    def is_staff(self):
        return self.role in STAFF_ROLES


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_id = mapped_column(Uuid, nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user = relationship("User", back_populates="refresh_tokens")
