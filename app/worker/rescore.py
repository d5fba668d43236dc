"""The rescore job: carries out the queued rescore runs (`app.rescores`) one after another,
in batches, resumable from the run row, stopping at a batch boundary when asked to."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from app.criteria_store import active_criteria
from app.logging import bound, get_logger
from app.models import Connection, Contact, SyncRun, SyncState
from app.rescores import as_counts, stopped_message, take_rescore
from app.runtime import Runtime
from app.sync.scoring import score_contacts

log = get_logger(__name__)
RESCORE_BATCH = 1_000


def _ttl(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.lease_ttl_seconds)


async def rescore_all(runtime: Runtime) -> int:
    """Every rescore queued (or left running by a process that died), oldest request
    superseded by the newest; the contacts rescored. Nothing when another worker is on one."""
    scored = 0
    while True:
        with runtime.sessions.begin() as session:
            run = take_rescore(session, runtime.clock.now(), _ttl(runtime))
            run_id = run.id if run is not None else None
        if run_id is None:
            break
        with bound(sync_run=run_id):
            scored += await _carry_out(runtime, run_id)
    if scored:
        with runtime.sessions() as session:
            connection_ids = list(
                session.scalars(
                    select(Connection.id)
                    .where(Connection.deleted_at.is_(None), Connection.paused.is_(False))
                    .order_by(Connection.id)
                )
            )
        for connection_id in connection_ids:
            runtime.wake.relay(connection_id)
    return scored


async def _carry_out(runtime: Runtime, run_id: int) -> int:
    now = runtime.clock.now
    with runtime.sessions.begin() as session:
        # The criteria active when it starts (or resumes): a later activation supersedes it.
        active = active_criteria(session, now(), runtime.settings.criteria_file)
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.progress = {**run.progress, "criteria_version": active.version}
    log.info("rescore started", criteria_version=active.version)
    scored = 0
    while True:
        with runtime.sessions.begin() as session:
            # Read without a lock: a cancel (or a superseding activation) only sets the state,
            # and this transaction writes the progress alone until the run ends.
            run = session.get(SyncRun, run_id)
            if run is None or run.state not in (SyncState.RUNNING, SyncState.CANCELLING):
                return scored
            progress = dict(run.progress or {})
            if run.state == SyncState.CANCELLING:
                run.state, run.finished_at = SyncState.CANCELLED, now()
                run.error, run.counts = stopped_message(run), as_counts(progress)
                log.info("rescore stopped", reason=run.error)
                return scored
            batch = session.execute(
                select(Contact.id, Contact.connection_id, Connection.writes_enabled)
                .join(Connection, Connection.id == Contact.connection_id)
                .where(Contact.id > int(progress.get("after_id", 0)), Contact.deleted_at.is_(None))
                .order_by(Contact.id)
                .limit(RESCORE_BATCH)
            ).all()
            if not batch:
                done = int(progress.get("done", 0))
                run.state, run.finished_at = SyncState.SUCCEEDED, now()
                run.progress = {**progress, "total": done}
                run.counts = as_counts(progress)
                log.info("rescore finished", **run.counts)
                return scored
            by_connection: dict[tuple[int, bool], list[int]] = {}
            for contact_id, connection_id, writes in batch:
                by_connection.setdefault((connection_id, writes), []).append(contact_id)
            at = now()
            counts = {key: int(progress.get(key, 0)) for key in as_counts(progress)}
            for (connection_id, writes), ids in by_connection.items():
                result = score_contacts(
                    session, connection_id, ids, active.criteria, at, enqueue=writes
                )
                counts["scored"] += result.scored
                counts["status_changes"] += result.status_changes
                counts["to_write"] += result.to_write
            scored += len(batch)
            done = int(progress.get("done", progress.get("scored", 0))) + len(batch)
            run.progress = {
                **progress,
                **counts,
                "after_id": batch[-1][0],
                "done": done,
                # Contacts added since it began: the total grows with what is done.
                "total": max(int(progress.get("total") or 0), done),
                "beat_at": now().isoformat(),
            }
        log.info("rescore batch", contacts=len(batch), done=done)
        await asyncio.sleep(0)  # a batch boundary: let the loop's other work (and a stop) in
