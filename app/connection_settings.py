"""Pause, resume and delete a connection, and which connections a scheduled sync is due for.

Shared by the operations API and the CLI; each change is one transaction with its audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit import record
from app.errors import GlengarryError, InputError
from app.models import Connection, SyncRun
from app.models.sync import SyncKind, SyncState

# Shorter would spend the API budget on empty polls; longer than a day is not a safety net.
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 86_400
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_interval(text: str) -> int:
    """'30m', '2h', '90s' or plain seconds: the interval in seconds, within bounds."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:], 0)
    number = value[:-1] if unit else value
    if not (number.isascii() and number.isdigit()):
        raise InputError(f"sync interval {text!r}: use a number with s, m or h (e.g. 30m)")
    seconds = int(number) * (unit or 1)
    check_interval(seconds)
    return seconds


def check_interval(seconds: int) -> None:
    if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
        raise InputError(
            f"sync interval {seconds}s: between {MIN_INTERVAL_SECONDS}s and {MAX_INTERVAL_SECONDS}s"
        )


# Of the CRM's daily API allocation: a connection spending none could never sync, and more
# than all of it is not there to spend. The command line and the API check the same bounds.
MAX_BUDGET_SHARE = 1.0


def check_budget_share(share: float) -> None:
    if not 0 < share <= MAX_BUDGET_SHARE:  # NaN fails too
        raise InputError(
            f"API budget share {share:g}: more than 0 and at most {MAX_BUDGET_SHARE:g} "
            "(a share of the CRM's daily allocation, e.g. 0.25)"
        )


def set_budget_share(
    session: Session, connection: Connection, share: float, *, actor: str, at: datetime
) -> bool:
    """The share of the CRM's daily allocation this connection's syncs may spend; the rate
    limiter is rebuilt for it at the next call (`app.ratelimits` keys limiters by it)."""
    check_budget_share(share)
    if connection.api_budget_share == share:
        return False
    record(
        session,
        actor=actor,
        action="connection.settings",
        at=at,
        connection=connection.name,
        details={"setting": "api_budget_share", "from": connection.api_budget_share, "to": share},
    )
    connection.api_budget_share = share
    return True


class ConnectionPaused(GlengarryError):
    """A sync asked for a paused connection: none runs until it is resumed."""

    exit_code = 5


def refuse_paused(connection: Connection) -> None:
    """The command line's refusal (the API answers 409 `connection_paused` instead)."""
    if connection.paused:
        raise ConnectionPaused(
            f"connection {connection.name!r} is paused: no sync runs until "
            f"`glengarry connections resume {connection.name}`"
        )


def set_writes(
    session: Session, connection: Connection, enabled: bool, *, actor: str, at: datetime
) -> bool:
    """Write-back on, or off (shadow mode: scoring goes on); True when that changed."""
    if connection.writes_enabled == enabled:
        return False
    record(
        session,
        actor=actor,
        action="writes.on" if enabled else "writes.off",
        at=at,
        connection=connection.name,
        details={"setting": "writes_enabled", "from": connection.writes_enabled, "to": enabled},
    )
    connection.writes_enabled = enabled
    return True


def set_paused(
    session: Session, connection: Connection, paused: bool, *, actor: str, at: datetime
) -> bool:
    """Pause or resume; True when that changed something (only a change is audited)."""
    if connection.paused == paused:
        return False
    connection.paused = paused
    record(
        session,
        actor=actor,
        action="connection.pause" if paused else "connection.resume",
        at=at,
        connection=connection.name,
    )
    return True


def set_interval(
    session: Session, connection: Connection, seconds: int | None, *, actor: str, at: datetime
) -> bool:
    """The connection's own sync interval (None: the default again)."""
    if seconds is not None:
        check_interval(seconds)
    if connection.sync_interval_seconds == seconds:
        return False
    record(
        session,
        actor=actor,
        action="connection.settings",
        at=at,
        connection=connection.name,
        details={
            "setting": "sync_interval_seconds",
            "from": connection.sync_interval_seconds,
            "to": seconds,
        },
    )
    connection.sync_interval_seconds = seconds
    return True


@dataclass(frozen=True)
class Deleted:
    name: str
    purged: bool


def delete_connection(
    session: Session, connection: Connection, *, purge: bool, actor: str, at: datetime
) -> Deleted:
    """Without purge the connection is marked deleted: its work stops and every lookup (API,
    CLI, webhooks) misses it, its stored data is kept. With purge the row goes, and with it,
    through ON DELETE CASCADE, everything of the connection, in the caller's one transaction."""
    name = connection.name
    record(
        session,
        actor=actor,
        action="connection.delete",
        at=at,
        connection=name,
        details={"purge": purge},
    )
    if purge:
        session.execute(delete(Connection).where(Connection.id == connection.id))
        session.expire_all()
    else:
        connection.deleted_at = at
        connection.paused = True
    return Deleted(name, purge)


_SCHEDULED = (SyncKind.INCREMENTAL, SyncKind.BACKFILL)
# The schedule ticks each minute and a run starts a few seconds after its tick: without slack
# a 5-minute interval would sync every 6 minutes.
TICK_SLACK = timedelta(seconds=30)


def due_for_sync(session: Session, now: datetime, default_seconds: int) -> list[int]:
    """Live, unpaused connections whose interval (their own, or the default) has elapsed since
    their last sync run started; one never synced is due. One whose latest run paused on the
    API budget waits for its `resumes_at` (trying sooner would only spend calls on refusals)."""
    last = (
        select(SyncRun.connection_id, func.max(SyncRun.started_at).label("at"))
        .where(SyncRun.kind.in_(_SCHEDULED))
        .group_by(SyncRun.connection_id)
        .subquery()
    )
    rows = session.execute(
        select(Connection.id, Connection.sync_interval_seconds, last.c.at)
        .outerjoin(last, last.c.connection_id == Connection.id)
        .where(Connection.deleted_at.is_(None), Connection.paused.is_(False))
        .order_by(Connection.id)
    ).all()
    due = []
    for connection_id, own, at in rows:
        interval = timedelta(seconds=own or default_seconds)
        if at is None or now - at >= interval - TICK_SLACK:
            due.append(connection_id)
    waiting = _budget_waits(session, due, now)
    return [c for c in due if c not in waiting]


def _budget_waits(session: Session, connection_ids: list[int], now: datetime) -> set[int]:
    """Of these connections, those whose latest run paused on the budget resumes after `now`."""
    if not connection_ids:
        return set()
    latest = (
        select(func.max(SyncRun.id))
        .where(SyncRun.connection_id.in_(connection_ids))
        .group_by(SyncRun.connection_id)
    )
    paused = session.execute(
        select(SyncRun.connection_id, SyncRun.progress).where(
            SyncRun.id.in_(latest), SyncRun.state == SyncState.PAUSED
        )
    ).all()
    waiting = set()
    for connection_id, progress in paused:
        resumes = (progress or {}).get("resumes_at")
        if resumes and datetime.fromisoformat(resumes) > now:
            waiting.add(connection_id)
    return waiting
