"""Who may use the operations API (API keys) and what operators did (the audit log)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class Scope(StrEnum):
    """Each scope includes the ones before it: operate can read, admin can operate."""

    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        order = list(Scope)
        return order.index(self) >= order.index(needed)


class ApiKey(Base):
    """A key is `glg_<prefix>_<secret>`: the prefix finds the row, the secret is only stored as
    an scrypt hash with a salt of its own, so the database never holds a usable key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names stay taken after a revocation: the audit log names keys, and must stay unambiguous.
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    salt: Mapped[str] = mapped_column(String(64))  # hex
    hash: Mapped[str] = mapped_column(String(128))  # hex scrypt digest
    scope: Mapped[str] = mapped_column(String(10))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One operator action. Names, not foreign keys: an entry outlives its key and connection."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # a key's name, or how the CLI was run
    action: Mapped[str] = mapped_column(String(40))
    connection: Mapped[str | None] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
