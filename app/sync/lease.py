"""One sync per connection at a time, across processes and machines.

A lease row with an expiry: taken when absent or expired, renewed while the holder works, and
released at the end. A holder that dies leaves a lease that simply expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import GlengarryError
from app.models import ConnectionLease


class LeaseHeld(GlengarryError):
    """Another process is syncing this connection."""

    exit_code = 3


def new_holder(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(
    sessions: sessionmaker[Session],
    connection_id: int,
    holder: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Take the lease or raise `LeaseHeld` naming its holder and when it expires."""
    with sessions.begin() as session:
        # Through the connection: its result reports the rows the UPDATE touched.
        taken = session.connection().execute(
            update(ConnectionLease)
            .where(
                ConnectionLease.connection_id == connection_id,
                (ConnectionLease.expires_at <= now) | (ConnectionLease.holder == holder),
            )
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
        )
        if taken.rowcount:
            return
    try:
        with sessions.begin() as session:
            session.add(
                ConnectionLease(
                    connection_id=connection_id,
                    holder=holder,
                    acquired_at=now,
                    expires_at=now + ttl,
                )
            )
    except IntegrityError:
        with sessions() as session:
            current = session.execute(
                select(ConnectionLease).where(ConnectionLease.connection_id == connection_id)
            ).scalar_one_or_none()
        detail = (
            f"held by {current.holder} until {current.expires_at.isoformat()}"
            if current
            else "just taken by another process"
        )
        raise LeaseHeld(f"connection {connection_id} is already syncing ({detail})") from None


def renew(
    sessions: sessionmaker[Session],
    connection_id: int,
    holder: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Extend the lease; raise `LeaseHeld` if it expired and someone else took it meanwhile."""
    with sessions.begin() as session:
        kept = session.connection().execute(
            update(ConnectionLease)
            .where(ConnectionLease.connection_id == connection_id, ConnectionLease.holder == holder)
            .values(expires_at=now + ttl)
        )
    if not kept.rowcount:
        raise LeaseHeld(f"connection {connection_id}: lease lost to another process")


def release(sessions: sessionmaker[Session], connection_id: int, holder: str) -> None:
    with sessions.begin() as session:
        session.execute(
            delete(ConnectionLease).where(
                ConnectionLease.connection_id == connection_id, ConnectionLease.holder == holder
            )
        )
