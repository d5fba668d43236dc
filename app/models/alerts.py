"""Alerts: where a connection's alerts go, and which conditions are firing (deduplication)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AlertTarget(Base):
    """A Slack-compatible incoming webhook; its URL is a secret, stored encrypted."""

    __tablename__ = "alert_targets"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of {"url": ...}
    reject_share: Mapped[float] = mapped_column(default=0.05)
    inbox_backlog: Mapped[int] = mapped_column(default=1000)
    outbox_lag_minutes: Mapped[float] = mapped_column(default=30.0)
    silent_minutes: Mapped[float] = mapped_column(default=120.0)
    repeat_minutes: Mapped[float] = mapped_column(default=240.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertState(Base):
    """A condition that fired: sent once, repeated at most every `repeat_minutes`, resolved once."""

    __tablename__ = "alert_states"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    condition: Mapped[str] = mapped_column(String(40), primary_key=True)
    since: Mapped[datetime]
    last_sent_at: Mapped[datetime | None]
    detail: Mapped[str] = mapped_column(Text)
