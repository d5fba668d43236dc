"""The write-back outbox: qualification values waiting to reach the CRM, never dropped."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # out of attempts: kept, with the CRM's reason, for a person to see


class OutboxEntry(Base):
    __tablename__ = "writeback_outbox"
    __table_args__ = (
        Index("ix_writeback_outbox_pending", "state", "next_attempt_at"),
        Index("ix_writeback_outbox_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    field_values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(10), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]  # the CRM's last refusal (rejects show it)
    # Set by the relay that took the row; `next_attempt_at` doubles as the claim's expiry, so a
    # relay that dies leaves rows that simply fall due again.
    claim_token: Mapped[str | None] = mapped_column(String(32))
