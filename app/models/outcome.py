"""What became of each contact, as the CRM records it: the labels the effectiveness report and
live calibration compare qualifications against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class OutcomeRecord(Base):
    __tablename__ = "outcomes"
    __table_args__ = (
        # Re-reading the same outcome (a resync, a webhook racing a sync) is one row; a lifecycle
        # outcome has no deal and keys on "" (a NULL would never collide in a unique index).
        UniqueConstraint("connection_id", "contact_id", "kind", "deal_key"),
        Index("ix_outcomes_connection_occurred", "connection_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # connectors.base.OutcomeKind
    deal_key: Mapped[str] = mapped_column(String(64), default="")  # the deal's CRM id, or ""
    # When it happened in the CRM (the report's point in time), not when Glengarry read it.
    occurred_at: Mapped[datetime]
    amount: Mapped[float | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
