"""Rows the sync tests start from."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.models import Connection, FieldInstallState

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def add_connection(session: Session, name: str = "acme") -> int:
    connection = Connection(
        kind="hubspot",
        name=name,
        account_id=f"portal-{name}",
        credentials=b"x",
        options={},
        field_state=FieldInstallState.INSTALLED,  # as `connect` leaves a working connection
    )
    session.add(connection)
    session.flush()
    return connection.id
