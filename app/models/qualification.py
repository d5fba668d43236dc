"""The current qualification of each contact, its history, and the criteria versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class QualificationRecord(Base):
    __tablename__ = "qualifications"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_since: Mapped[datetime]
    score: Mapped[int]
    fit: Mapped[int]
    engagement: Mapped[int]
    # Decayed sums per activity type at `computed_at`: decay needs no activity re-read.
    engagement_state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reasons: Mapped[list[Any]] = mapped_column(JSONType)
    reasons_text: Mapped[str] = mapped_column(Text)
    criteria_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime]
    # When decay alone will next move the status or the score: the decay job's index.
    next_change_at: Mapped[datetime | None] = mapped_column(index=True)
    conversion_probability: Mapped[float | None]
    written_values: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    written_at: Mapped[datetime | None]


class Transition(Base):
    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_contact_at", "contact_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    criteria_version: Mapped[str] = mapped_column(String(64))
    # The score and conversion probability the contact had on entering `to_status`: what the
    # effectiveness report's forecast and calibration table read as of a past instant.
    score: Mapped[int | None]
    conversion_probability: Mapped[float | None]
    # The contact's stored properties at the change: live calibration reads a past instant
    # from these, not from today's values (null on rows older than migration 0007).
    properties: Mapped[dict[str, Any] | None]


class CriteriaVersion(Base):
    __tablename__ = "criteria_versions"
    # At most one active version, whatever races: a unique index over the active rows alone.
    __table_args__ = (
        Index(
            "uq_criteria_versions_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)  # content hash
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=False, index=True)
    activated_at: Mapped[datetime | None]
    # The capacity bar recomputed on schedule (qualification.criteria.CapacityBar.to_dict):
    # beside the version, outside its content hash.
    capacity_bar: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
