"""Syncs asked for by an operator: queued as a run row first, then taken up by a worker.

The row is the request: a queue that loses the task loses nothing (the sweeper wakes queued
runs again), one connection never has two syncs at once (the API answers 409 with the one
there is), and a cancel is a state the running sync reads at its next batch boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Connection, SyncKind, SyncRun, SyncState
from app.sync.run import fail_abandoned_runs

ACTIVE = (SyncState.QUEUED, SyncState.RUNNING, SyncState.CANCELLING)
FINISHED = (
    SyncState.SUCCEEDED,
    SyncState.PARTIAL,
    SyncState.PAUSED,
    SyncState.FAILED,
    SyncState.CANCELLED,
)
# The API's kinds, as runs record them.
KINDS = {"full": SyncKind.BACKFILL, "incremental": SyncKind.INCREMENTAL, "contacts": "contacts"}


class NotCancellable(Exception):
    def __init__(self, run: SyncRun) -> None:
        super().__init__(f"sync {run.id} has ended ({run.state}): nothing to cancel")
        self.run = run


@dataclass(frozen=True)
class Requested:
    run: SyncRun
    created: bool  # False: `run` is the one already queued or running


def active_run(session: Session, connection_id: int) -> SyncRun | None:
    return session.scalars(
        select(SyncRun)
        .where(SyncRun.connection_id == connection_id, SyncRun.state.in_(ACTIVE))
        .order_by(SyncRun.id)
    ).first()


def request_sync(
    session: Session,
    connection: Connection,
    *,
    kind: str,
    contact_ids: Sequence[str],
    dry_run: bool,
    now: datetime,
) -> Requested:
    """A queued run, unless one is queued or running already (then that one)."""
    # Writing the connection's row first serializes concurrent requests on both databases (a
    # row lock on PostgreSQL, the write lock on SQLite): the second sees the first's run.
    session.execute(
        update(Connection)
        .where(Connection.id == connection.id)
        .values(updated_at=Connection.updated_at)
    )
    # A sync whose process died (its lease lapsed) is no obstacle: it is marked failed here, not
    # a sweep later, so an operator's new request is not refused for a run nobody is running.
    fail_abandoned_runs(session, now, connection.id, holding_lease=False)
    running = active_run(session, connection.id)
    if running is not None:
        return Requested(running, created=False)
    run = SyncRun(
        connection_id=connection.id,
        kind=KINDS[kind],
        state=SyncState.QUEUED,
        dry_run=dry_run,
        started_at=now,
        progress={"done": 0, "contact_ids": list(contact_ids)} if contact_ids else {"done": 0},
    )
    session.add(run)
    session.flush()
    return Requested(run, created=True)


def cancel(session: Session, run_id: int, now: datetime) -> SyncRun | None:
    """A queued run is cancelled at once; a running one is asked to stop (None: no such run)."""
    run = session.get(SyncRun, run_id, with_for_update=True)
    if run is None:
        return None
    if run.state == SyncState.QUEUED:
        run.state, run.finished_at = SyncState.CANCELLED, now
        run.error = "cancelled before it started"
    elif run.state == SyncState.RUNNING:
        run.state = SyncState.CANCELLING
    elif run.state != SyncState.CANCELLING:
        raise NotCancellable(run)
    return run


def progress_of(run: SyncRun, now: datetime) -> dict[str, Any]:
    """done/total, a rate (contacts per second) and an ETA when the total is known."""
    progress = run.progress or {}
    # A sync counts contacts pulled; a rescore (criteria activated), contacts scored.
    done = int(progress.get("done", progress.get("pulled", progress.get("scored", 0))) or 0)
    total = progress.get("total")
    # A resync's total is the contacts stored when it began; the CRM may hold more by now.
    total = max(int(total), done) if isinstance(total, int) else None
    began = progress.get("running_since")
    end = run.finished_at or now
    elapsed = (end - datetime.fromisoformat(began)).total_seconds() if began else 0.0
    rate = round(done / elapsed, 2) if elapsed > 0 and done else None
    eta = None
    if rate and total is not None and run.state in ACTIVE:
        eta = max(0.0, round((total - done) / rate, 1))
    return {
        "progress": {"done": done, "total": total},
        "rate": rate,
        "eta_seconds": eta,
        "resumes_at": progress.get("resumes_at"),
    }
