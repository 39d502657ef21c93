"""The waiting room of a match: its settings and pace, the fans' places, and its calls.

A place's ``order_key`` is its place in line: a uniformly random number in (0, 1) for a fan
who joined before sales opened (so arriving at 09:59:59 is no worse than at 09:50; one whose
join reached the app late draws among the keys not called yet), and ``1 + n`` for the n-th fan
who joined after (first come, first served). Calling the next fans
means marking the lowest keys not yet called (``called_at``); ``serving_key`` on the room is
the highest key called so far, the "now serving" number of a deli counter. One place per fan
and match is the database's promise (``uq_queue_places_match_id_user_id``). The ``n`` of the
fans who join after the opening comes from a sequence per room (``queue_numbers_<match id>``):
no row lock, so thousands of joins a second do not queue on one counter.
"""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base

MODES = ("fixed", "adaptive")


class WaitingRoom(Base):
    __tablename__ = "waiting_rooms"
    __table_args__ = (
        CheckConstraint("mode IN ('fixed', 'adaptive')", name="mode_known"),
        CheckConstraint("admit_per_minute BETWEEN 1 AND 100000", name="admit_per_minute_range"),
        CheckConstraint("max_shopping BETWEEN 1 AND 100000", name="max_shopping_range"),
        CheckConstraint("shopping_seconds BETWEEN 60 AND 7200", name="shopping_seconds_range"),
    )

    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # fixed: admit_per_minute fans are called a minute; adaptive: fans are called while fewer
    # than max_shopping called fans are still within their shopping time and have not bought.
    mode: Mapped[str] = mapped_column(String(10), nullable=False, server_default="fixed")
    admit_per_minute: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    max_shopping: Mapped[int] = mapped_column(Integer, nullable=False, server_default="500")
    # How long a called fan may shop: the admission expires this long after the call.
    shopping_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="600")
    # When fans may start joining (before sales open); None: as soon as the room is on.
    opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # The pace's state, kept by services/waiting_room.py under this row's lock; how many joined
    # before sales opened is counted once, at the first advance after the opening.
    joined_before_opening: Mapped[int | None] = mapped_column(BigInteger)
    called: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    serving_key: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    credit: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class QueuePlace(Base):
    __tablename__ = "queue_places"
    __table_args__ = (
        UniqueConstraint("match_id", "user_id", name="uq_queue_places_match_id_user_id"),
        UniqueConstraint("match_id", "order_key", name="uq_queue_places_match_id_order_key"),
        # The next fans to call: the lowest keys not called yet.
        Index("ix_queue_places_waiting", "match_id", "order_key", postgresql_where=text("called_at IS NULL")),
        # Called fans still shopping (the adaptive pace counts them).
        Index("ix_queue_places_shopping", "match_id", "called_at",
              postgresql_where=text("called_at IS NOT NULL AND done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("waiting_rooms.match_id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    order_key: Mapped[float] = mapped_column(Float, nullable=False)
    # When the fan's join reached nginx (their place in time), and when the app took it
    # (later when nginx held it to pace a rush's joins).
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WaitingRoomCall(Base):
    """Each time the room called fans: how many, up to which key (the admin's chart)."""

    __tablename__ = "waiting_room_calls"
    __table_args__ = (Index("ix_waiting_room_calls_match_id_called_at", "match_id", "called_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("waiting_rooms.match_id", ondelete="CASCADE"), nullable=False)
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    up_to_key: Mapped[float] = mapped_column(Float, nullable=False)
