"""The audit log: every operator action, by whom (a key's name, or the command line)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEntry

ENV_TOKEN_ACTOR = "GLENGARRY_API_TOKEN"  # noqa: S105 - a name in the log, not a secret  # nosec B105


def cli_actor() -> str:
    """Who ran a command: the operating system's user, as far as it can be told."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no such user in a container's passwd, no USER variable
        user = "unknown"
    return f"cli:{user}"[:100]


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    connection: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One entry, in the caller's transaction: the action and its record commit together."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor[:100],
            action=action,
            connection=connection,
            target=target,
            details=details or {},
        )
    )


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    action: str
    connection: str | None
    target: str | None
    details: dict[str, Any]


def entries(
    session: Session, *, limit: int, before: int | None = None, connection: str | None = None
) -> list[Entry]:
    """Newest first; `before` an id pages back."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if connection is not None:
        query = query.where(AuditEntry.connection == connection)
    return [
        Entry(e.id, e.at, e.actor, e.action, e.connection, e.target, dict(e.details or {}))
        for e in session.scalars(query)
    ]
