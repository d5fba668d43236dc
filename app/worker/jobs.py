"""Worker jobs: plain async functions over the runtime. The huey tasks only call them.

Every job reads what to do from the tables (inbox, outbox, qualifications, cursors), so a job
that is lost or run twice changes nothing: the sweeper and the schedules pick the work up again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import connections
from app.claims import Heartbeat, skip_locked
from app.connection_settings import ConnectionPaused, due_for_sync
from app.criteria_store import active_criteria, store_capacity_bar
from app.crms import crm_for
from app.errors import GlengarryError
from app.inbox import document_event
from app.logging import bound, get_logger
from app.metrics import (
    EVENTS,
    INBOX_CONTACTS,
    INBOX_CRM_CALLS,
    INBOX_STAGE,
    PROCESSING_LAG,
    WRITES,
)
from app.models import (
    Connection,
    ConnectionLease,
    Contact,
    InboxEvent,
    OutboxEntry,
    OutboxState,
    QualificationRecord,
    SyncRun,
    SyncState,
    Transition,
)
from app.rescores import request_rescore, wanted
from app.runtime import Runtime
from app.sync.lease import LeaseHeld
from app.sync.outcomes import read_outcomes, record_unavailable, store_outcomes, unavailable_of
from app.sync.run import SyncFailed, SyncRunner, fail_abandoned_runs, relay_policy
from app.sync.scoring import ScoreCounts, rescore_due, score_contacts
from app.sync.store import (
    apply_carried,
    mark_deleted,
    property_times,
    store_activities,
    store_contacts,
)
from app.sync.usage import UsageCounter
from app.sync.writeback import RelayResult, relay_outbox
from app.worker.events import Carry, Held, Named, plan
from app.worker.rescore import rescore_all
from connectors.base import CrmActivity, CrmContact, CrmOutcome, ReadsNamed
from connectors.crm import Crm
from connectors.errors import AllocationSpent, ConnectorError, TokenEndpointUnavailable
from qualification.capacity import size_bar
from qualification.criteria import CapacityBar
from qualification.statuses import Status

log = get_logger(__name__)
RETRY_BACKOFF_MAX = timedelta(hours=1)  # between attempts at an inbox event that failed
INBOX_BATCH = 1_000
DECAY_BATCH = 5_000
LOCK_CHUNK = 1_000  # contacts locked per statement (a batch holds at most INBOX_BATCH events)
_WEEK = timedelta(days=7)
# leads a capacity bar chooses among, once past the fit and engagement thresholds
_CAPACITY_CANDIDATES = (Status.SALES_READY.value, Status.POOR_FIT.value, Status.NURTURE.value)


@dataclass
class InboxResult:
    events: int = 0
    echoes: int = 0
    read: int = 0
    deleted: int = 0
    purged: int = 0
    carried: int = 0  # contacts updated from the values their events carried, no CRM read
    stale: int = 0  # carried events older than the value held: nothing applied
    named: int = 0  # contacts whose named activity records were read, not the contacts
    scoring: ScoreCounts | None = None
    relay: RelayResult | None = None
    error: str | None = None


def claim_inbox(
    session: Session,
    connection_id: int,
    now: datetime,
    max_attempts: int,
    ttl: timedelta,
    limit: int = INBOX_BATCH,
) -> tuple[str, list[Row[Any]]]:
    """Claim the connection's due events in this transaction, oldest first, for `ttl`.

    Events another worker is claiming right now are skipped, never waited for (see
    `app.claims.skip_locked`); the rows are (id, event document, dedup key, received_at)."""
    token = uuid.uuid4().hex
    due = skip_locked(
        select(InboxEvent.id, InboxEvent.event, InboxEvent.dedup_key, InboxEvent.received_at)
        .where(
            InboxEvent.connection_id == connection_id,
            InboxEvent.processed_at.is_(None),
            InboxEvent.attempts < max_attempts,
            or_(InboxEvent.claimed_until.is_(None), InboxEvent.claimed_until <= now),
        )
        .order_by(InboxEvent.received_at, InboxEvent.id)
        .limit(limit)
    )
    rows = list(session.execute(due).all())
    if rows:
        session.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_([row.id for row in rows]))
            .values(claim_token=token, claimed_until=now + ttl)
            .execution_options(synchronize_session=False)
        )
    return token, rows


@dataclass(frozen=True)
class _Claim:
    token: str
    ids: list[int]


async def process_inbox(runtime: Runtime, connection_id: int) -> InboxResult:
    """Coalesce the connection's waiting events per contact, read those contacts in batches,
    rescore, queue the write-back, and send it; batch after batch until none is waiting."""
    total = InboxResult(scoring=ScoreCounts(), relay=RelayResult())
    if _is_stopped(runtime, connection_id):
        return total
    while True:
        batch = await _process_batch(runtime, connection_id)
        if batch.events == 0 or batch.error is not None:
            total.error = batch.error
            return total
        total.events += batch.events
        total.echoes += batch.echoes
        total.read += batch.read
        total.deleted += batch.deleted
        total.purged += batch.purged
        total.carried += batch.carried
        total.stale += batch.stale
        total.named += batch.named
        if batch.scoring is not None and total.scoring is not None:
            total.scoring.add(batch.scoring)
        if batch.relay is not None and total.relay is not None:
            total.relay.add(batch.relay)
            if batch.relay.spent is not None:  # the rest waits too: no call spent on refusals
                return total


async def _process_batch(runtime: Runtime, connection_id: int) -> InboxResult:
    result = InboxResult()
    rt = runtime
    ttl = timedelta(seconds=rt.settings.claim_ttl_seconds)
    started = time.perf_counter()
    with rt.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return result
        claimed_at = rt.clock.now()
        token, rows = claim_inbox(
            session, connection_id, claimed_at, rt.settings.inbox_max_attempts, ttl
        )
        if not rows:
            return result
        session.expunge(connection)
    INBOX_STAGE.labels("claim").observe(time.perf_counter() - started)
    for row in rows:
        INBOX_STAGE.labels("waiting").observe(
            max(0.0, (claimed_at - row.received_at).total_seconds())
        )
    claim = _Claim(token, [row.id for row in rows])
    result.events = len(rows)
    with bound(connection=connection.name, job="inbox", events=len(rows)):
        try:
            with Heartbeat(
                lambda: _renew_inbox(rt, claim, ttl), ttl.total_seconds() / 3, what="inbox"
            ):
                await _work(rt, connection, claim, rows, result)
            # One line per batch of events, never one per event.
            scoring = result.scoring or ScoreCounts()
            log.info(
                "webhook events processed",
                echoes=result.echoes,
                read=result.read,
                deleted=result.deleted,
                scored=scoring.scored,
                status_changes=scoring.status_changes,
                to_write=scoring.to_write,
            )
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            _release_inbox(rt, claim, None)  # stopped, not failed: due again at once
            raise
        except AllocationSpent as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            retry = exc.retry_at(rt.clock.now(), SWEEP_EVERY)
            _release_inbox(rt, claim, result.error, waits_until=retry)
            log.warning(
                "inbox processing waits: the API allocation is spent; events kept, uncharged",
                error=result.error,
                retry_at=retry.isoformat(),
            )
        except TokenEndpointUnavailable as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            retry = rt.clock.now() + SWEEP_EVERY  # however long it lasts: a try a minute
            _release_inbox(rt, claim, result.error, waits_until=retry)
            log.warning(
                "inbox processing waits: the token endpoint gives no login; events kept, uncharged",
                error=result.error,
                retry_at=retry.isoformat(),
            )
        except (ConnectorError, GlengarryError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            _release_inbox(rt, claim, result.error)
            log.warning("inbox processing failed; events kept for retry", error=result.error)
        except BaseException as exc:  # the database, Redis, a bug: released all the same
            _release_inbox(rt, claim, f"{type(exc).__name__}: {exc}")
            raise
    return result


async def _work(
    rt: Runtime,
    connection: Connection,
    claim: _Claim,
    rows: Sequence[Row[Any]],
    result: InboxResult,
) -> None:
    connection_id = connection.id
    claimed = [(document_event(r.event, r.dedup_key), r.received_at) for r in rows]
    with rt.sessions.begin() as session:
        active = active_criteria(session, rt.clock.now(), rt.settings.criteria_file)
        crm_ids = {event.crm_id for event, _ in claimed}
        known = {
            c.crm_id: Held(
                c.properties,
                c.crm_modified_at,
                property_times(c.property_times),
                deleted=c.deleted_at is not None,
            )
            for c in session.scalars(
                select(Contact).where(
                    Contact.connection_id == connection_id, Contact.crm_id.in_(crm_ids)
                )
            )
        }
    criteria_properties = sorted(active.criteria.contact_properties)
    crm = crm_for(connection.kind)
    carry: Carry | None = None
    named: Named | None = None
    if rt.settings.carry_event_values:
        carry = partial(crm.carried, criteria_properties=criteria_properties)
        named = crm.named_record
    todo = plan([event for event, _ in claimed], known, carry, named)
    result.echoes = todo.echoes
    usage = UsageCounter(connection_id, connection.name)
    connector = connections.open_connector(
        rt, connection, properties=criteria_properties, usage=usage
    )
    if todo.named and (todo.reread or not isinstance(connector, ReadsNamed)):
        todo.read_named_whole()
    try:
        started = time.perf_counter()
        fetched: list[CrmContact] = []
        activities: list[CrmActivity] = []
        outcomes: list[CrmOutcome] = []
        if todo.reread:
            fetched = list(await connector.read_contacts(sorted(todo.reread)))
            activities = list(await connector.activities(fetched)) if fetched else []
            outcomes = await read_outcomes(connector, fetched)
        if todo.named and isinstance(connector, ReadsNamed):
            named_records = {crm_id: sorted(refs) for crm_id, refs in todo.named.items()}
            activities += await connector.named_activities(named_records)
        read_calls = usage.total_calls
        stored = time.perf_counter()
        INBOX_STAGE.labels("crm_read").observe(stored - started)
        at = rt.clock.now()

        def store_and_score() -> tuple[float, float, int]:
            """The batch's writing transaction, off the event loop: the loop is shared with the
            process's other jobs, whose CRM calls would otherwise wait for this database work
            and scoring."""
            with rt.sessions.begin() as session:
                _lock_contacts(
                    session,
                    connection_id,
                    {*todo.reread, *todo.carried, *todo.named, *todo.deleted, *todo.purged},
                )
                gone = todo.deleted | (todo.reread - {c.crm_id for c in fetched})
                result.deleted = _mark_deleted(session, connection_id, gone, at)
                result.purged = _purge(session, connection_id, todo.purged)
                carried = apply_carried(session, connection_id, todo.carried, at)
                ids = store_contacts(session, connection_id, fetched, at)
                ids.update({crm_id: row.id for crm_id, row in carried.items()})
                ids.update(_held_ids(session, connection_id, set(todo.named) - set(ids)))
                derived = _property_activities(crm, carried.values())
                store_activities(session, connection_id, ids, [*activities, *derived])
                store_outcomes(session, connection_id, ids, outcomes, at)
                unavailable = unavailable_of(connector)
                record_unavailable(session, connection_id, unavailable, complete=False)
                result.read = len(fetched)
                result.carried = len(carried)
                result.named = len(todo.named)
                result.stale = todo.stale
                scoring = time.perf_counter()
                result.scoring = score_contacts(
                    session,
                    connection_id,
                    ids.values(),
                    active.criteria,
                    at,
                    enqueue=connection.writes_enabled,
                )
                scored = time.perf_counter()
                session.execute(
                    update(InboxEvent)
                    .where(InboxEvent.id.in_(claim.ids), InboxEvent.claim_token == claim.token)
                    .values(processed_at=at, claim_token=None, claimed_until=None, error=None)
                    .execution_options(synchronize_session=False)
                )
                usage.flush(session, at.date())
            return scoring, scored, len(carried)

        scoring, scored, carried_count = await asyncio.to_thread(store_and_score)
        committed = time.perf_counter()
        INBOX_STAGE.labels("scoring").observe(scored - scoring)
        INBOX_STAGE.labels("database").observe((scoring - stored) + (committed - scored))
        for _, received in claimed:
            PROCESSING_LAG.observe(max(0.0, (at - received).total_seconds()))
        EVENTS.labels(connection.name, "processed").inc(len(claimed))
        INBOX_CONTACTS.labels(connection.name, "read").inc(len(fetched))
        INBOX_CONTACTS.labels(connection.name, "carried").inc(carried_count)
        INBOX_CONTACTS.labels(connection.name, "named").inc(len(todo.named))
        INBOX_CRM_CALLS.labels(connection.name, "read").inc(read_calls)
        if connection.writes_enabled:
            result.relay = await relay_outbox(
                rt.sessions, connector, connection_id, rt.clock.now, relay_policy(rt)
            )
            _report_writes(connection.name, result.relay)
            INBOX_STAGE.labels("write_back").observe(time.perf_counter() - committed)
        INBOX_CRM_CALLS.labels(connection.name, "write_back").inc(usage.total_calls - read_calls)
    finally:
        await connector.aclose()


def _lock_contacts(session: Session, connection_id: int, crm_ids: set[str]) -> None:
    """Lock the batch's stored contacts, in one order, before anything is stored: a batch of
    another worker holding events of the same contact waits for this one's commit, and then
    scores with what it stored (activities read alone are not read again from the CRM). On
    SQLite, writing transactions are serialized already."""
    wanted = sorted(crm_ids)
    for start in range(0, len(wanted), LOCK_CHUNK):
        session.execute(
            select(Contact.id)
            .where(
                Contact.connection_id == connection_id,
                Contact.crm_id.in_(wanted[start : start + LOCK_CHUNK]),
            )
            .order_by(Contact.crm_id)
            .with_for_update()
        ).all()


def _held_ids(session: Session, connection_id: int, crm_ids: set[str]) -> dict[str, int]:
    """Stored ids of live contacts whose named activities were read (they are rescored)."""
    if not crm_ids:
        return {}
    rows = session.execute(
        select(Contact.crm_id, Contact.id).where(
            Contact.connection_id == connection_id,
            Contact.crm_id.in_(crm_ids),
            Contact.deleted_at.is_(None),
        )
    )
    return {row.crm_id: row.id for row in rows}


def _property_activities(crm: Crm, contacts: Iterable[Contact]) -> list[CrmActivity]:
    """The activities carried values hold (a new last email open, ...), derived as a read
    derives them: their ids come from the property and its value, so none is counted twice."""
    return [
        activity
        for row in contacts
        for activity in crm.property_activities(
            CrmContact(
                row.crm_id,
                row.properties,
                row.crm_modified_at or row.updated_at,
                kind=row.kind,
            )
        )
    ]


def _renew_inbox(runtime: Runtime, claim: _Claim, ttl: timedelta) -> None:
    with runtime.sessions.begin() as session:
        session.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_(claim.ids), InboxEvent.claim_token == claim.token)
            .values(claimed_until=runtime.clock.now() + ttl)
            .execution_options(synchronize_session=False)
        )


def _release_inbox(
    runtime: Runtime, claim: _Claim, error: str | None, *, waits_until: datetime | None = None
) -> None:
    """Give the events back. A stop (no `error`) makes them due at once; a failure counts an
    attempt and makes them due again after a backoff; a spent API allocation or a token
    endpoint giving no login (`waits_until`) is no fault of the events: it counts none,
    however long it lasts (an event out of attempts would never be processed), and makes them
    due then. Nothing is dropped; if the release itself fails (the database is down), the claim
    lapses within its TTL."""
    now = runtime.clock.now()
    try:
        with runtime.sessions.begin() as session:
            for event in session.scalars(
                select(InboxEvent).where(
                    InboxEvent.id.in_(claim.ids), InboxEvent.claim_token == claim.token
                )
            ):
                event.claim_token = None
                if error is None:
                    event.claimed_until = None
                    continue
                event.error = error[:2000]
                if waits_until is not None:
                    event.claimed_until = waits_until
                    continue
                event.attempts += 1
                event.claimed_until = now + min(
                    timedelta(seconds=5 * 2**event.attempts), RETRY_BACKOFF_MAX
                )
    except SQLAlchemyError as exc:
        log.warning(
            "could not release inbox events; their claim lapses by itself",
            events=len(claim.ids),
            error=type(exc).__name__,
        )


def _mark_deleted(session: Session, connection_id: int, crm_ids: set[str], at: datetime) -> int:
    return mark_deleted(session, connection_id, crm_ids, at)


def _purge(session: Session, connection_id: int, crm_ids: set[str]) -> int:
    """Privacy deletion: the contact, its activities, qualifications, history and raw events."""
    if not crm_ids:
        return 0
    session.execute(
        delete(InboxEvent).where(
            InboxEvent.connection_id == connection_id,
            InboxEvent.object_id.in_(crm_ids),
        )
    )
    purged = session.execute(
        delete(Contact)
        .where(Contact.connection_id == connection_id, Contact.crm_id.in_(crm_ids))
        .returning(Contact.id)
    ).all()
    return len(purged)


def _report_writes(name: str, relay: RelayResult) -> None:
    """Count the writes; say, as a warning, that a spent allocation holds the rest back (the
    rows wait uncharged: no fault of the rows, nor a failed job)."""
    WRITES.labels(name, "sent").inc(relay.sent)
    WRITES.labels(name, "retrying").inc(relay.retrying)
    WRITES.labels(name, "failed").inc(relay.failed)
    if relay.spent is not None and relay.waits_until is not None:
        log.warning(
            "writes wait: the API allocation is spent; rows kept, uncharged",
            connection=name,
            error=f"{type(relay.spent).__name__}: {relay.spent}",
            retry_at=relay.waits_until.isoformat(),
        )


async def relay(runtime: Runtime, connection_id: int) -> RelayResult:
    with runtime.sessions() as session:
        connection = session.get(Connection, connection_id)
        # Writes off, or paused: the rows wait, and no connector is opened for nothing.
        if connection is None or not connection.writes_enabled or connection.paused:
            return RelayResult()
        session.expunge(connection)
    connector = connections.open_connector(runtime, connection)
    try:
        result = await relay_outbox(
            runtime.sessions, connector, connection_id, runtime.clock.now, relay_policy(runtime)
        )
    finally:
        await connector.aclose()
    _report_writes(connection.name, result)
    return result


async def incremental_sync(
    runtime: Runtime, connection_id: int, full: bool = False, run_id: int | None = None
) -> SyncState | None:
    """The safety net for missed webhooks; skipped while another process holds the lease (a
    queued run stays queued: the sweeper wakes it again). A failed run has said why in its row
    and its one log line: nothing more to raise."""
    try:
        runner = SyncRunner(runtime, str(connection_id), full=full, run_id=run_id, take_queued=True)
        report = await runner.run()
    except (LeaseHeld, ConnectionPaused):  # a queued run waits for the lease, or the resume
        return None
    except SyncFailed:
        return SyncState.FAILED
    return report.state


async def decay(runtime: Runtime, connection_id: int) -> ScoreCounts:
    """Rescore exactly the contacts whose `next_change_at` has passed (an indexed query)."""
    total = ScoreCounts()
    now = runtime.clock.now()
    while True:
        with runtime.sessions.begin() as session:
            active = active_criteria(session, now, runtime.settings.criteria_file)
            due = list(
                session.scalars(
                    select(QualificationRecord.contact_id)
                    .join(Contact, Contact.id == QualificationRecord.contact_id)
                    .where(
                        QualificationRecord.next_change_at <= now,
                        QualificationRecord.criteria_version == active.version,
                        Contact.connection_id == connection_id,
                    )
                    .order_by(QualificationRecord.next_change_at)
                    .limit(DECAY_BATCH)
                )
            )
            if not due:
                break
            connection = session.get(Connection, connection_id)
            enqueue = connection is not None and connection.writes_enabled
            counts = rescore_due(session, connection_id, due, active.criteria, now, enqueue=enqueue)
            total.add(counts)
            if counts.scored < len(due):  # rows that could not move on: stop, do not spin
                break
    if total.to_write:
        runtime.wake.relay(connection_id)
    return total


async def recompute_capacity(runtime: Runtime) -> CapacityBar | None:
    """Size the active criteria's capacity bar from the current qualifications and last
    week's entries into sales_ready, keep it beside the version, and when it moved rescore
    every contact (which writes only those whose status, reasons or score changed)."""
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        active = active_criteria(session, now, runtime.settings.criteria_file)
        criteria = active.criteria
        if criteria.capacity is None:
            return None
        thr = criteria.thresholds
        figure = (
            QualificationRecord.conversion_probability
            if criteria.ranked_by == "probability"
            else QualificationRecord.score
        )
        eligible = session.scalars(
            select(figure).where(
                QualificationRecord.criteria_version == active.version,
                figure.is_not(None),
                or_(
                    QualificationRecord.status == Status.SALES_READY.value,
                    (QualificationRecord.status.in_(_CAPACITY_CANDIDATES))
                    & (QualificationRecord.fit >= thr.fit)
                    & (QualificationRecord.engagement >= thr.engagement),
                ),
            )
        ).all()
        entered = session.scalar(
            select(func.count())
            .select_from(Transition)
            .where(
                Transition.to_status == Status.SALES_READY.value,
                Transition.criteria_version == active.version,
                Transition.at > now - _WEEK,
            )
        )
        previous = criteria.capacity_bar
        values = [float(value) for value in eligible if value is not None]
        bar = size_bar(criteria, values, float(entered or 0), now, previous)
        store_capacity_bar(session, active.version, bar)
        moved = previous is None or bar.threshold != previous.threshold
        if moved:  # a run like an activation's: listed, followed, superseding an older one
            request_rescore(session, active.version, now, reason="capacity bar moved")
    log.info("capacity bar", threshold=bar.threshold, by=bar.by, entered=entered)
    if moved:
        await rescore_all(runtime)
    return bar


def due_syncs(runtime: Runtime) -> list[int]:
    """The connections a scheduled sync is due for now (`app.connection_settings`)."""
    default = runtime.settings.sync_interval_minutes * 60
    with runtime.sessions() as session:
        return due_for_sync(session, runtime.clock.now(), default)


def _is_stopped(runtime: Runtime, connection_id: int) -> bool:
    """Paused or deleted: its stored webhook events wait (for a resume) instead of running."""
    with runtime.sessions() as session:
        row = session.get(Connection, connection_id)
        return row is None or row.paused or row.deleted_at is not None


SWEEP_EVERY = timedelta(minutes=1)  # the sweeper's schedule (app.worker.queue)


def sweep(runtime: Runtime) -> dict[str, list[int]]:
    """Re-wake what huey may have lost: due inbox events and due outbox rows, per connection;
    and mark failed the syncs whose process died (left `running`, their lease expired).

    Work whose claim or backoff ends before the next sweep gets a wake-up at that moment, so
    the events of a worker that died are taken over when its claim lapses, not a minute later.
    """
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        abandoned = fail_abandoned_runs(session, now)
    soon = now + SWEEP_EVERY
    waiting = (
        InboxEvent.processed_at.is_(None),
        InboxEvent.attempts < runtime.settings.inbox_max_attempts,
        InboxEvent.connection_id.is_not(None),
    )
    with runtime.sessions() as session:
        inbox = list(
            session.scalars(
                select(InboxEvent.connection_id)
                .where(
                    *waiting,
                    or_(InboxEvent.claimed_until.is_(None), InboxEvent.claimed_until <= now),
                )
                .distinct()
            )
        )
        inbox_later = session.execute(
            select(InboxEvent.connection_id, func.min(InboxEvent.claimed_until))
            .where(*waiting, InboxEvent.claimed_until > now, InboxEvent.claimed_until <= soon)
            .group_by(InboxEvent.connection_id)
        ).all()
        # A paused connection's rows wait for the resume, which wakes its relay.
        paused = select(Connection.id).where(Connection.paused.is_(True))
        pending = (
            OutboxEntry.state == OutboxState.PENDING,
            OutboxEntry.connection_id.not_in(paused),
        )
        outbox = list(
            session.scalars(
                select(OutboxEntry.connection_id)
                .where(*pending, OutboxEntry.next_attempt_at <= now)
                .distinct()
            )
        )
        outbox_later = session.execute(
            select(OutboxEntry.connection_id, func.min(OutboxEntry.next_attempt_at))
            .where(*pending, OutboxEntry.next_attempt_at > now, OutboxEntry.next_attempt_at <= soon)
            .group_by(OutboxEntry.connection_id)
        ).all()
    for connection_id in inbox:
        if connection_id is not None:
            runtime.wake.inbox(connection_id)
    for connection_id, at in inbox_later:
        if connection_id is not None and at is not None and connection_id not in inbox:
            runtime.wake.inbox(connection_id, delay=_seconds_until(at, now))
    for connection_id in outbox:
        runtime.wake.relay(connection_id)
    _wake_queued_syncs(runtime, now)
    _wake_rescore(runtime, now)
    for connection_id, at in outbox_later:
        if connection_id not in outbox:
            runtime.wake.relay(connection_id, delay=_seconds_until(at, now))
    return {
        "inbox": [c for c in inbox if c is not None],
        "outbox": outbox,
        "abandoned_runs": abandoned,
    }


def _wake_queued_syncs(runtime: Runtime, now: datetime) -> None:
    """Syncs queued through the API whose wake-up was lost, or that waited for another sync's
    lease: woken again (the run row is the request; the queue only says 'look now')."""
    live = select(ConnectionLease.connection_id).where(ConnectionLease.expires_at > now)
    stopped = select(Connection.id).where(Connection.paused.is_(True))  # deleted ones too
    with runtime.sessions() as session:
        queued = session.execute(
            select(SyncRun.connection_id, func.min(SyncRun.id))
            .where(
                SyncRun.state == SyncState.QUEUED,
                SyncRun.connection_id.not_in(live),
                SyncRun.connection_id.not_in(stopped),
            )
            .group_by(SyncRun.connection_id)
        ).all()
    for connection_id, run_id in queued:
        if connection_id is not None:
            runtime.wake.sync_run(connection_id, run_id)
    if queued:
        log.info("queued syncs woken again", runs=[run_id for _, run_id in queued])


def _wake_rescore(runtime: Runtime, now: datetime) -> None:
    """A rescore queued whose wake-up was lost, or left running by a process that died."""
    with runtime.sessions() as session:
        due = wanted(session, now, timedelta(seconds=runtime.settings.lease_ttl_seconds))
    if due:
        runtime.wake.rescore_all()
        log.info("queued rescore woken again")


def _seconds_until(at: datetime, now: datetime) -> float:
    # A little after the moment: the claim must have lapsed when the job looks.
    return max(0.0, (at - now).total_seconds()) + 0.5


def prune_inbox(runtime: Runtime) -> int:
    cutoff = runtime.clock.now() - timedelta(days=runtime.settings.inbox_retention_days)
    with runtime.sessions.begin() as session:
        return len(
            session.execute(
                delete(InboxEvent)
                .where(InboxEvent.processed_at.is_not(None), InboxEvent.processed_at < cutoff)
                .returning(InboxEvent.id)
            ).all()
        )


def pending_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        inbox = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.processed_at.is_(None))
        )
        outbox = session.scalar(
            select(func.count())
            .select_from(OutboxEntry)
            .where(OutboxEntry.state == OutboxState.PENDING)
        )
    return {"inbox": inbox or 0, "outbox": outbox or 0}


__all__ = [
    "InboxResult",
    "decay",
    "due_syncs",
    "incremental_sync",
    "process_inbox",
    "prune_inbox",
    "recompute_capacity",
    "relay",
    "rescore_all",
    "sweep",
]
