"""Sync runs: what each backfill, incremental sync, decay or rescore did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class SyncKind(StrEnum):
    BACKFILL = "backfill"
    INCREMENTAL = "incremental"
    CONTACTS = "contacts"  # the contacts asked for by CRM id, read again and rescored
    DECAY = "decay"
    RESCORE = "rescore"


class SyncState(StrEnum):
    QUEUED = "queued"  # asked for through the API; a worker takes it up
    RUNNING = "running"
    CANCELLING = "cancelling"  # asked to stop: it does at the next batch boundary
    CANCELLED = "cancelled"  # stopped; what was done before is kept
    SUCCEEDED = "succeeded"
    # Finished, but writes were refused: by the CRM (retried, or kept as failed), or all of
    # them because the connection's fields are in conflict. The run's error says which.
    PARTIAL = "partial"
    PAUSED = "paused"  # API budget or the CRM's daily limit reached; resumes later
    FAILED = "failed"


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_connection_started", "connection_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default=SyncState.RUNNING)
    dry_run: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
