"""A CRM connection and the state the sync keeps for it: cursors, lease, API usage."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class FieldInstallState(StrEnum):
    NOT_INSTALLED = "not_installed"
    INSTALLED = "installed"
    CONFLICT = "conflict"  # a field exists with the wrong type; reported, never overwritten


class Connection(Base):
    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("kind", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # a CRM of the registry (`app.crms`)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # HubSpot portal id or Salesforce org id, read from the CRM when connecting.
    account_id: Mapped[str | None] = mapped_column(String(64))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token, never plain text
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    field_state: Mapped[str] = mapped_column(String(20), default=FieldInstallState.NOT_INSTALLED)
    field_report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    writes_enabled: Mapped[bool] = mapped_column(default=True)
    # Share of the CRM's daily API allocation the sync may spend.
    api_budget_share: Mapped[float] = mapped_column(default=0.5)
    # Kinds of CRM record the connection may not read (a scope or licence missing), with why,
    # as its connector last said: the report says "scope missing" instead of showing a zero.
    unavailable: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Paused: no scheduled or requested sync, no inbox processing; webhooks are still stored.
    paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Its own scheduled-sync interval; None is GLENGARRY_SYNC_INTERVAL_MINUTES.
    sync_interval_seconds: Mapped[int | None]
    # Deleted without purge: unknown to every lookup, its stored data kept.
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncCursor(Base):
    """How far a connection's incremental sync has stored each object type."""

    __tablename__ = "sync_cursors"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)  # a CRM's own: JSON with a mark per stream
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectionLease(Base):
    """One sync per connection at a time, across processes and machines; expires with its holder."""

    __tablename__ = "connection_leases"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiUsage(Base):
    """CRM API calls per connection, day and endpoint: the budget and the figures read from it."""

    __tablename__ = "api_usage"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(120), primary_key=True)
    calls: Mapped[int] = mapped_column(default=0)
    rate_limited: Mapped[int] = mapped_column(default=0)
