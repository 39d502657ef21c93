"""Matches, their price categories, the draft seating plan and the on-sale seat inventory.

``match_seats`` is the table the rush fights over: one row per (match, seat) created in bulk
when the match is published. Its primary key (match_id, seat_id) is what claims lock; the
partial indexes over available rows are what best-available scans. Seat position columns are
copied in so adjacency needs no join.

Invariant 2 lives in the columns: a held row carries its hold id and expiry, and an expired
hold is simply a ``held`` row whose ``held_until`` is in the past, claimable by the next
buyer (no sweeper needed for correctness): a claim of chosen seats takes it in the statement
that claims, and a best-available hold that sees lapsed seats first makes them available
(committed at once, services/holds.py), then scans.
"""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base

MATCH_STATUSES = ("draft", "on_sale", "closed", "cancelled")
SEAT_STATUSES = ("available", "held", "sold", "blocked")


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'on_sale', 'closed', 'cancelled')", name="status_known"),
        CheckConstraint("lower(home_team) <> lower(away_team)", name="teams_differ"),
        CheckConstraint("sales_open_at < sales_close_at", name="sales_window_ordered"),
        CheckConstraint("sales_close_at <= starts_at", name="sales_close_before_kickoff"),
        CheckConstraint("hold_seconds BETWEEN 30 AND 3600", name="hold_seconds_range"),
        CheckConstraint("max_tickets_per_fan BETWEEN 1 AND 50", name="max_tickets_range"),
        Index("ix_matches_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stadium_id: Mapped[int] = mapped_column(ForeignKey("stadiums.id"), nullable=False, index=True)
    home_team: Mapped[str] = mapped_column(String(120), nullable=False)
    away_team: Mapped[str] = mapped_column(String(120), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sales_open_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sales_close_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refund_cutoff_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hold_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    max_tickets_per_fan: Mapped[int] = mapped_column(Integer, nullable=False, server_default="6")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="draft")
    # Bumped in the same transaction as every seat status change: the seat map's ETag.
    seat_version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    stadium = relationship("Stadium")
    categories = relationship("PriceCategory", order_by="PriceCategory.id", back_populates="match")


class PriceCategory(Base):
    __tablename__ = "price_categories"
    __table_args__ = (
        UniqueConstraint("match_id", "name", name="uq_price_categories_match_id_name"),
        # (match_id, id) is referenced by seating rows so a seat can only get a category of
        # its own match.
        UniqueConstraint("match_id", "id", name="uq_price_categories_match_id_id"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)

    match = relationship("Match", back_populates="categories")


class SeatAssignment(Base):
    """The draft seating plan: which seats will be on sale, in which category, or blocked."""

    __tablename__ = "seat_assignments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["match_id", "category_id"],
            ["price_categories.match_id", "price_categories.id"],
            name="fk_seat_assignments_category",
            ondelete="CASCADE",
        ),
        CheckConstraint("category_id IS NOT NULL OR blocked_reason IS NOT NULL", name="category_or_blocked"),
        # Deleting a seat checks this foreign key by seat_id (migration 0007).
        Index("ix_seat_assignments_seat_id", "seat_id"),
    )

    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), primary_key=True)
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    blocked_reason: Mapped[str | None] = mapped_column(String(40))


class MatchSeat(Base):
    """The live inventory: one row per seat of a published match."""

    __tablename__ = "match_seats"
    __table_args__ = (
        CheckConstraint("status IN ('available', 'held', 'sold', 'blocked')", name="status_known"),
        CheckConstraint(
            "(status = 'held') = (hold_id IS NOT NULL AND held_until IS NOT NULL)",
            name="held_has_hold",
        ),
        CheckConstraint("status <> 'sold' OR order_id IS NOT NULL", name="sold_has_order"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        # Best available scans only free rows, in seat order: not held ones, which pile up in
        # front of the free seats during a rush (a lapsed hold's seats are made available by
        # the hold that is about to scan, services/holds.py; decision 0026).
        Index(
            "ix_match_seats_available",
            "match_id",
            "category_id",
            "section_id",
            "row_index",
            "number",
            postgresql_where=text("status = 'available'"),
        ),
        # The same without a category (best available "anywhere"): stops after the first rows
        # instead of sorting every free seat of the match.
        Index(
            "ix_match_seats_available_layout",
            "match_id",
            "section_id",
            "row_index",
            "number",
            postgresql_where=text("status = 'available'"),
        ),
        Index("ix_match_seats_hold_id", "hold_id", postgresql_where=text("hold_id IS NOT NULL")),
        # "Is this section sold for a match?" and deleting a seat (its foreign key): by seat.
        Index("ix_match_seats_seat_id", "seat_id"),
        # Finds holds that have expired but not been swept: part of the seat map's ETag.
        Index(
            "ix_match_seats_held_until",
            "match_id",
            "held_until",
            postgresql_where=text("status = 'held'"),
        ),
    )

    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), primary_key=True)
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id"), primary_key=True)
    section_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    row_index: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("price_categories.id"))
    price: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    blocked_reason: Mapped[str | None] = mapped_column(String(40))
    hold_id: Mapped[int | None] = mapped_column(BigInteger)
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int | None] = mapped_column(BigInteger)


SEAT_VERSION_SHARDS = 16


class MatchSeatVersion(Base):
    """Change counters for a match's seats, split in shards.

    The seat map's ETag must change with every committed seat change. One counter row per
    match would make every buyer of that match queue on a single row lock until commit, so
    each transaction bumps one of ``SEAT_VERSION_SHARDS`` rows and readers add them up: the
    sum only grows, and a snapshot that sees a seat change sees its bump too.

    The same rows keep the match's tallies as data (decision 0038): seats on sale, sold and
    blocked, paid and cancelled orders and their money. Each transaction that changes them
    adds its delta to the shard it bumps anyway (no extra row lock), and readers add the
    shards up, so a list of matches or the dashboard never counts seats or orders. Held
    seats are not tallied: a hold lapses with time, not with a write; live holds are counted
    from the partial index on held rows (``ix_match_seats_held_until``), which holds only
    seats held right now.
    """

    __tablename__ = "match_seat_versions"

    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    seats: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    sold: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    blocked: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    paid_orders: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    revenue: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    cancelled_orders: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
