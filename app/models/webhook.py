"""The webhook inbox: every event stored once, before anything else happens to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class InboxEvent(Base):
    __tablename__ = "webhook_inbox"
    __table_args__ = (
        # The CRM retries deliveries; the dedup key (a hash of the event without its attempt
        # number) makes a retried or duplicated event one row.
        UniqueConstraint("source", "dedup_key"),
        Index("ix_webhook_inbox_unprocessed", "processed_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    dedup_key: Mapped[str] = mapped_column(String(64))
    event: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # A worker's claim on the event; an expired claim (a dead worker) is taken again.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    # The CRM record the event is about: coalescing, and purging on privacy deletion.
    object_id: Mapped[str | None] = mapped_column(String(64))
