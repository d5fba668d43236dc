"""Rescores of every contact (a criteria version activated, a capacity bar moved) as runs.

A rescore is a `SyncRun` of kind `rescore` with no connection, queued in the transaction that
makes it needed and taken up by a worker, as an operator's sync is: listed, followed at
`/syncs/{id}`, cancelled at a batch boundary. Never two at once: a new request supersedes the
rescores before it (a queued one is cancelled, a running one asked to stop at its next batch
boundary), since every one of them rescores everyone under whatever criteria are active, and
the newest is the only one still worth finishing. The new one starts once the old has stopped.

A rescore holds no connection lease: its worker stamps the run (`progress.beat_at`) each
batch, and a running rescore whose stamp is older than the lease TTL was left by a process that
died; the next worker (woken by the sweeper) takes it over from where it stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Contact, SyncKind, SyncRun, SyncState

UNFINISHED = (SyncState.QUEUED, SyncState.RUNNING, SyncState.CANCELLING)
LIVE = (SyncState.RUNNING, SyncState.CANCELLING)
SUPERSEDED = "superseded by rescore"


def _unfinished(session: Session) -> list[SyncRun]:
    """Every rescore not yet ended, oldest first, locked: requests and take-ups serialize on
    these rows (PostgreSQL row locks; SQLite's single writer)."""
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.kind == SyncKind.RESCORE, SyncRun.state.in_(UNFINISHED))
            .order_by(SyncRun.id)
            .with_for_update()
        )
    )


def live_contacts(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Contact).where(Contact.deleted_at.is_(None))
        )
        or 0
    )


def request_rescore(session: Session, version: str, now: datetime, *, reason: str) -> SyncRun:
    """A queued rescore of every contact; the unfinished ones before it are superseded."""
    earlier = _unfinished(session)
    run = SyncRun(
        kind=SyncKind.RESCORE,
        connection_id=None,
        state=SyncState.QUEUED,
        started_at=now,
        progress={
            "criteria_version": version,
            "reason": reason,
            "after_id": 0,
            "done": 0,
            "total": live_contacts(session),
        },
    )
    session.add(run)
    session.flush()
    for old in earlier:
        _supersede(old, run.id, now)
    return run


def _supersede(old: SyncRun, by: int, now: datetime) -> None:
    # In `error`, not `progress`: the running worker rewrites its progress each batch.
    if old.state == SyncState.QUEUED:
        old.state, old.finished_at = SyncState.CANCELLED, now
        old.error = f"superseded by rescore {by} before it started"
    elif old.state == SyncState.RUNNING:
        old.state = SyncState.CANCELLING  # its worker stops at the next batch boundary
        old.error = f"{SUPERSEDED} {by}"


def _beat(run: SyncRun) -> datetime | None:
    beat = (run.progress or {}).get("beat_at")
    return datetime.fromisoformat(beat) if isinstance(beat, str) else None


def is_lapsed(run: SyncRun, now: datetime, ttl: timedelta) -> bool:
    """Running, but its worker has not stamped it within `ttl`: that process died."""
    beat = _beat(run)
    return beat is None or now - beat > ttl


def stopped_message(run: SyncRun) -> str:
    done = int((run.progress or {}).get("done", 0))
    if run.error and run.error.startswith(SUPERSEDED):
        return f"{run.error}: the {done} contacts rescored are kept"
    return f"cancelled at a batch boundary: the {done} contacts rescored are kept"


def take_rescore(session: Session, now: datetime, ttl: timedelta) -> SyncRun | None:
    """The rescore this worker is to carry out now, marked running; None when there is none,
    or another worker is on one (it takes the next up itself when it is done)."""
    rows = _unfinished(session)
    queued = [r for r in rows if r.state == SyncState.QUEUED]
    for run in rows:
        if run.state not in LIVE:
            continue
        if not is_lapsed(run, now, ttl):
            return None
        if run.state == SyncState.CANCELLING or queued:  # it was to stop: it has
            if queued and run.state == SyncState.RUNNING:
                run.error = f"{SUPERSEDED} {queued[-1].id}"
            run.state, run.finished_at = SyncState.CANCELLED, now
            run.error = stopped_message(run)
            continue
        run.progress = {**(run.progress or {}), "beat_at": now.isoformat()}
        return run  # taken over where its worker stopped
    if not queued:
        return None
    # Two requests that raced (neither saw the other's row): the newest is the one to run.
    newest = queued[-1]
    for older in queued[:-1]:
        _supersede(older, newest.id, now)
    newest.state = SyncState.RUNNING
    newest.progress = {
        **(newest.progress or {}),
        "running_since": now.isoformat(),
        "beat_at": now.isoformat(),
        "total": live_contacts(session),
    }
    return newest


def wanted(session: Session, now: datetime, ttl: timedelta) -> bool:
    """A rescore is queued, or running with no live worker: the sweeper wakes one."""
    rows = session.scalars(
        select(SyncRun).where(SyncRun.kind == SyncKind.RESCORE, SyncRun.state.in_(UNFINISHED))
    ).all()
    return any(r.state == SyncState.QUEUED or is_lapsed(r, now, ttl) for r in rows)


def as_counts(progress: dict[str, Any]) -> dict[str, int]:
    keys = ("scored", "status_changes", "to_write")
    return {key: int(progress.get(key, 0)) for key in keys}
