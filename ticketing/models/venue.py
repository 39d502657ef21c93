"""Stadiums and their seat layouts: stadium -> section -> seat (row label, number, x/y).

Seats are created in bulk from a compact section spec, never one ORM object per seat. The
drawing geometry is documented in :mod:`ticketing.services.stadiums`.
"""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base


class Stadium(Base):
    __tablename__ = "stadiums"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    city: Mapped[str] = mapped_column(String(120), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False, server_default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    sections = relationship("Section", back_populates="stadium", order_by="Section.position")


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (
        UniqueConstraint("stadium_id", "name", name="uq_sections_stadium_id_name"),
        CheckConstraint("seat_count > 0", name="seat_count_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stadium_id: Mapped[int] = mapped_column(
        ForeignKey("stadiums.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    origin_x: Mapped[int] = mapped_column(Integer, nullable=False)
    origin_y: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    seat_count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    stadium = relationship("Stadium", back_populates="sections")


class Seat(Base):
    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("section_id", "row_label", "number", name="uq_seats_section_row_number"),
        CheckConstraint("number > 0", name="number_positive"),
        Index("ix_seats_stadium_id_section_id", "stadium_id", "section_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stadium_id: Mapped[int] = mapped_column(
        ForeignKey("stadiums.id", ondelete="CASCADE"), nullable=False
    )
    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), nullable=False
    )
    row_label: Mapped[str] = mapped_column(String(20), nullable=False)
    row_index: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    x: Mapped[int] = mapped_column(Integer, nullable=False)
    y: Mapped[int] = mapped_column(Integer, nullable=False)
