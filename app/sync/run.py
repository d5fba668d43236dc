"""One sync of one connection: pull -> store -> score -> write back, under the connection's lease.

Contacts arrive in pages; activities are read for groups of up to 1,000 contacts (the
association batch size), and each group is stored, scored and queued for write-back in one
transaction together with the cursor it reaches, so a crash resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import connections
from app.audit import record
from app.claims import Heartbeat
from app.connection_settings import refuse_paused
from app.criteria_store import active_criteria
from app.errors import GlengarryError
from app.logging import bound, get_logger
from app.metrics import SYNC_SECONDS
from app.models import (
    Connection,
    ConnectionLease,
    Contact,
    SyncCursor,
    SyncKind,
    SyncRun,
    SyncState,
)
from app.runtime import Runtime
from app.sync import lease
from app.sync.lease import LeaseHeld
from app.sync.outcomes import (
    probe_unavailable,
    read_outcomes,
    record_unavailable,
    store_outcomes,
    unavailable_of,
)
from app.sync.scoring import ScoreCounts, score_contacts
from app.sync.store import reconcile, store_activities, store_contacts
from app.sync.usage import UsageCounter
from app.sync.writeback import RelayPolicy, RelayResult, relay_outbox
from connectors.base import Connector, CrmContact, Reconciling
from connectors.errors import AllocationSpent, ConnectorError
from qualification.criteria import Criteria

log = get_logger(__name__)
CONTACTS = "contacts"
ACTIVITY_GROUP = 1_000


class SyncFailed(GlengarryError):
    pass


class SyncCancelled(Exception):
    """Raised at the batch boundary where a sync finds it was asked to stop."""


@dataclass
class SyncReport:
    run_id: int
    state: SyncState
    pulled: int = 0
    outcomes: int = 0
    scoring: ScoreCounts = field(default_factory=ScoreCounts)
    relay: RelayResult = field(default_factory=RelayResult)
    api_calls: int = 0
    rate_limited: int = 0
    calls_by_endpoint: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""
    reconciled: int = 0  # stored contacts found absent from the CRM and marked deleted
    resumes_at: datetime | None = None  # paused on an API budget: when it is to go on
    # What a progress bar counts to (the run's `progress.total`), None while it is unknown.
    total: int | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "pulled": self.pulled,
            "outcomes": self.outcomes,
            "scored": self.scoring.scored,
            "status_changes": self.scoring.status_changes,
            "to_write": self.scoring.to_write,
            "written": self.relay.sent,
            "write_failed": self.relay.failed,
            "write_retrying": self.relay.retrying,
            "api_calls": self.api_calls,
            "rate_limited": self.rate_limited,
            "reconciled": self.reconciled,
        }


Progress = Callable[[SyncReport], None]


def relay_policy(runtime: Runtime) -> RelayPolicy:
    return RelayPolicy(
        batch_size=400,  # one claim feeds four concurrent batch updates of 100
        max_attempts=runtime.settings.writeback_max_attempts,
        backoff=timedelta(seconds=runtime.settings.writeback_backoff_seconds),
        claim_for=timedelta(seconds=runtime.settings.claim_ttl_seconds),
    )


class SyncRunner:
    def __init__(
        self,
        runtime: Runtime,
        connection_ref: str,
        *,
        full: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
        connector_factory: Callable[..., Connector] = connections.open_connector,
        run_id: int | None = None,
        take_queued: bool = False,
        actor: str | None = None,
    ) -> None:
        self.runtime = runtime
        # A run queued through the API: the one named, or (a worker's scheduled sync) the oldest
        # queued. A sync run from the command line does what its own options say.
        self.run_id = run_id
        self.take_queued = take_queued
        self.contact_ids: list[str] = []
        self.ref = connection_ref
        self.full = full
        self.dry_run = dry_run
        self.progress = progress
        self._factory = connector_factory
        self.holder = lease.new_holder("sync")
        # An operator's own sync (the command line): its run is audited as theirs.
        self.actor = actor

    async def run(self) -> SyncReport:
        rt = self.runtime
        now = rt.clock.now
        with rt.sessions.begin() as session:
            connection = connections.find(session, self.ref)
            # Paused: nothing runs, not even a run queued before the pause (it waits, queued,
            # for the resume).
            refuse_paused(connection)
            active = active_criteria(session, now(), rt.settings.criteria_file)
            stored = session.get(SyncCursor, (connection.id, CONTACTS))
            connection_id, writes_enabled = connection.id, connection.writes_enabled
            session.expunge(connection)
        ttl = timedelta(seconds=rt.settings.lease_ttl_seconds)
        # The lease first: a sync refused for another holder leaves no run row behind.
        lease.acquire(rt.sessions, connection_id, self.holder, now(), ttl)
        ended: SyncReport | None = None
        try:
            with rt.sessions.begin() as session:
                # Holding the lease, any run still `running` here was left by a process that
                # died (its lease expired): it is marked failed, not left running for good.
                fail_abandoned_runs(session, now(), connection_id)
                run = self._queued(session, connection_id)
                run_is_new = run is None
                if run is not None and run.state != SyncState.QUEUED:
                    # Cancelled while it waited (or taken up by another worker already).
                    ended = SyncReport(run.id, SyncState(run.state), message=run.error or "")
                    run = None
                elif run is None:
                    run = SyncRun(connection_id=connection_id, dry_run=self.dry_run)
                    session.add(run)
                else:  # what the operator asked for decides
                    self.dry_run = run.dry_run
                    self.full = run.kind == SyncKind.BACKFILL
                    self.contact_ids = [str(i) for i in run.progress.get("contact_ids", [])]
                kind = SyncKind.BACKFILL if stored is None or self.full else SyncKind.INCREMENTAL
                if self.contact_ids:
                    kind = SyncKind.CONTACTS
                cursor = None if self.full or stored is None else stored.cursor
                if run is not None:
                    run.kind, run.state, run.started_at = kind, SyncState.RUNNING, now()
                    # What a progress bar counts to: the ids asked for; for a full resync,
                    # the contacts stored (it re-reads them all; a first backfill has none to
                    # count, so its total stays unknown). One assignment: a query between an
                    # assignment and an in-place change would flush the first half only.
                    total: int | None = None
                    if self.contact_ids:
                        total = len(self.contact_ids)
                    elif kind == SyncKind.BACKFILL and stored is not None:
                        total = _stored_contacts(session, connection_id) or None
                    run.progress = {
                        **(run.progress or {}),
                        "done": 0,
                        "running_since": now().isoformat(),
                        **({"total": total} if total is not None else {}),
                    }
                    session.flush()
                    report = SyncReport(run.id, SyncState.RUNNING, total=total)
                    if self.actor is not None and run_is_new:
                        record(
                            session,
                            actor=self.actor,
                            action="sync.start",
                            at=now(),
                            connection=connection.name,
                            target=str(run.id),
                            details={"kind": kind.value, "dry_run": self.dry_run},
                        )
        except BaseException:
            _release(rt, connection_id, self.holder)
            raise
        if ended is not None:  # released once the transaction has ended (SQLite: one writer)
            _release(rt, connection_id, self.holder)
            return ended
        usage = UsageCounter(connection_id, connection.name)
        started = time.perf_counter()
        enqueue = writes_enabled and not self.dry_run
        connector: Connector | None = None
        keep_lease = Heartbeat(
            lambda: self._keep_lease(connection_id, ttl),
            ttl.total_seconds() / 3,
            what="sync lease",
        )
        failure: BaseException | None = None
        with bound(connection=connection.name, sync_run=report.run_id):
            try:
                with keep_lease:
                    log.info("sync started", kind=kind.value, dry_run=self.dry_run)
                    # Built inside: credentials that cannot be decrypted fail the run, which
                    # then releases its lease like any other failure.
                    connector = self._factory(
                        rt,
                        connection,
                        properties=sorted(active.criteria.contact_properties),
                        usage=usage,
                    )
                    if self.contact_ids:
                        asked = await connector.read_contacts(self.contact_ids)
                        await self._store(
                            connector,
                            connection,
                            asked,
                            None,
                            active.criteria,
                            usage,
                            report,
                            enqueue,
                        )
                    else:
                        await self._pull(
                            connector, connection, cursor, active.criteria, usage, report, enqueue
                        )
                    if not self.dry_run:
                        # A whole sync asked for every kind: what it could not read replaces
                        # what was kept (a scope granted since clears); even one that read
                        # nobody, where the connector can tell without reading.
                        await probe_unavailable(connector)
                        with rt.sessions.begin() as session:
                            record_unavailable(
                                session, connection_id, unavailable_of(connector), complete=True
                            )
                    if enqueue:
                        report.relay = await relay_outbox(
                            rt.sessions, connector, connection_id, now, relay_policy(rt)
                        )
                        if report.relay.spent is not None:  # writes wait: the run pauses
                            raise report.relay.spent
                    # Refused writes (by the CRM, or all of them for fields in conflict) are no
                    # success.
                    report.message = report.relay.refused
                    report.state = SyncState.PARTIAL if report.message else SyncState.SUCCEEDED
            except SyncCancelled:
                report.state = SyncState.CANCELLED
                report.message = (
                    f"cancelled at a batch boundary: the {report.pulled} contacts done are kept"
                )
            except AllocationSpent as exc:
                report.state, report.message = SyncState.PAUSED, str(exc)
                report.resumes_at = self._resumes_at(exc, connection)
            except (ConnectorError, GlengarryError) as exc:
                report.state, report.message = SyncState.FAILED, f"{type(exc).__name__}: {exc}"
                if isinstance(exc, LeaseHeld):
                    failure = exc
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit) as exc:
                report.state = SyncState.FAILED
                report.message = "interrupted: the process was stopped before the sync ended"
                failure = exc
            except BaseException as exc:  # the database, a bug: the run says so all the same
                report.state, report.message = SyncState.FAILED, f"{type(exc).__name__}: {exc}"
                failure = exc
            finally:
                if connector is not None:
                    await connector.aclose()
                report.seconds = time.perf_counter() - started
                report.api_calls, report.rate_limited = usage.total_calls, usage.total_rate_limited
                self._finish(report, usage)
                _release(rt, connection_id, self.holder)
            self._log_outcome(report)
        if failure is not None:
            raise failure
        if report.state is SyncState.FAILED:
            raise SyncFailed(f"sync of {connection.name} failed: {report.message}")
        return report

    def _resumes_at(self, exc: AllocationSpent, connection: Connection) -> datetime:
        """When the budget frees calls, where the connector knows it (its own moving window);
        otherwise (a CRM's rolling or time-zoned day) the next scheduled try. The schedule
        waits for it either way (`connection_settings.due_for_sync`)."""
        if exc.resumes_at is not None:
            return exc.resumes_at
        default = self.runtime.settings.sync_interval_minutes * 60
        interval = connection.sync_interval_seconds or default
        return self.runtime.clock.now() + timedelta(seconds=interval)

    def _keep_lease(self, connection_id: int, ttl: timedelta) -> None:
        try:
            lease.renew(
                self.runtime.sessions, connection_id, self.holder, self.runtime.clock.now(), ttl
            )
        except LeaseHeld as exc:  # the run notices at its next step and ends
            log.warning("sync lease lost", error=str(exc))

    @staticmethod
    def _log_outcome(report: SyncReport) -> None:
        """One line: info when it succeeded, a warning when paused, an error naming the reason
        when it failed (never a traceback for a CRM's or a credential's failure)."""
        if report.state is SyncState.FAILED:
            log.error("sync failed", reason=report.message, **report.counts())
        elif report.state is SyncState.PAUSED:
            resumes_at = report.resumes_at.isoformat() if report.resumes_at else None
            log.warning(
                "sync paused", reason=report.message, resumes_at=resumes_at, **report.counts()
            )
        else:
            log.info("sync finished", state=report.state.value, **report.counts())

    async def _pull(
        self,
        connector: Connector,
        connection: Connection,
        cursor: str | None,
        criteria: Criteria,
        usage: UsageCounter,
        report: SyncReport,
        enqueue: bool,
    ) -> None:
        # The next page is fetched while the current group is stored and scored.
        pages = connector.contacts(cursor).__aiter__()
        upcoming = asyncio.ensure_future(anext(pages, None))
        group: list[CrmContact] = []
        reached: str | None = None
        try:
            while (batch := await upcoming) is not None:
                if batch.reconcile:
                    # Read before the next page is asked for: the CRM's list of every live id
                    # is compared with what is stored before anything newer is.
                    await self._reconcile(connector, connection.id, report)
                upcoming = asyncio.ensure_future(anext(pages, None))
                group.extend(batch.contacts)
                reached = batch.cursor or reached
                if len(group) >= ACTIVITY_GROUP:
                    await self._store(
                        connector, connection, group, reached, criteria, usage, report, enqueue
                    )
                    group, reached = [], None
            if group or reached:
                await self._store(
                    connector, connection, group, reached, criteria, usage, report, enqueue
                )
        finally:
            upcoming.cancel()

    async def _reconcile(
        self, connector: Connector, connection_id: int, report: SyncReport
    ) -> None:
        """The CRM forgot deletions (its recycle bin was emptied): whatever is stored here and
        absent from its full list of live ids is marked deleted, never written again."""
        if not isinstance(connector, Reconciling):
            log.warning("the CRM asked for a reconcile its connector cannot list ids for")
            return
        live = await connector.live_crm_ids()
        if self.dry_run:
            return
        with self.runtime.sessions.begin() as session:
            report.reconciled = reconcile(session, connection_id, live, self.runtime.clock.now())
        log.info("reconciled with the CRM's live ids", marked_deleted=report.reconciled)

    async def _store(
        self,
        connector: Connector,
        connection: Connection,
        contacts: Sequence[CrmContact],
        cursor: str | None,
        criteria: Criteria,
        usage: UsageCounter,
        report: SyncReport,
        enqueue: bool,
    ) -> None:
        rt = self.runtime
        live = [c for c in contacts if not c.archived]
        activities = await connector.activities(live) if live else []
        outcomes = await read_outcomes(connector, live)
        at = rt.clock.now()
        with rt.sessions() as session:
            transaction = session.begin()
            ids = store_contacts(session, connection.id, contacts, at)
            store_activities(session, connection.id, ids, activities)
            stored_outcomes = store_outcomes(session, connection.id, ids, outcomes, at)
            scored = score_contacts(
                session, connection.id, ids.values(), criteria, at, enqueue=enqueue
            )
            report.scoring.add(scored)
            if self.dry_run:
                # A dry run leaves no trace but its report: what it stored to score is rolled
                # back, the cursor included, so the next real run sees (and writes) it all.
                transaction.rollback()
                transaction = session.begin()
            elif cursor is not None:
                row = session.get(SyncCursor, (connection.id, CONTACTS))
                if row is None:
                    session.add(
                        SyncCursor(connection_id=connection.id, object_type=CONTACTS, cursor=cursor)
                    )
                else:
                    row.cursor = cursor
            usage.flush(session, at.date())
            run = session.get(SyncRun, report.run_id)
            report.pulled += len(contacts)
            report.outcomes += stored_outcomes
            report.api_calls = usage.total_calls
            cancelled = run is not None and run.state == SyncState.CANCELLING
            if run is not None:
                run.progress = {
                    **(run.progress or {}),
                    "done": report.pulled,
                    "pulled": report.pulled,
                    "scored": report.scoring.scored,
                }
            transaction.commit()
        lease.renew(
            rt.sessions,
            connection.id,
            self.holder,
            rt.clock.now(),
            timedelta(seconds=rt.settings.lease_ttl_seconds),
        )
        log.info(  # one line per batch of contacts, never one per contact
            "sync batch stored",
            contacts=len(contacts),
            done=report.pulled,
            status_changes=scored.status_changes,
            to_write=scored.to_write,
        )
        if self.progress is not None:
            self.progress(report)
        if cancelled:  # this batch is kept; the next is not started
            raise SyncCancelled

    def _queued(self, session: Session, connection_id: int) -> SyncRun | None:
        """The run this sync is to carry out: the one asked for, else the oldest queued."""
        if self.run_id is not None:
            return session.get(SyncRun, self.run_id, with_for_update=True)
        if not self.take_queued:
            return None
        return session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id, SyncRun.state == SyncState.QUEUED)
            .order_by(SyncRun.id)
            .limit(1)
            .with_for_update()
        ).first()

    def _finish(self, report: SyncReport, usage: UsageCounter) -> None:
        rt = self.runtime
        report.calls_by_endpoint = dict(usage.totals)
        try:
            with rt.sessions.begin() as session:
                usage.flush(session, rt.clock.now().date())
                run = session.get(SyncRun, report.run_id)
                if run is not None:
                    SYNC_SECONDS.labels(run.kind, report.state.value).observe(report.seconds)
                    run.state = report.state
                    run.finished_at = rt.clock.now()
                    if report.state in (SyncState.SUCCEEDED, SyncState.PARTIAL):
                        # Finished: what was done is the whole (contacts added or deleted in
                        # the CRM during the run make the first total an estimate).
                        done = (run.progress or {}).get("done", report.pulled)
                        run.progress = {**(run.progress or {}), "total": done}
                    run.counts = report.counts()
                    run.error = report.message or None
                    if report.resumes_at is not None:
                        resumes = report.resumes_at.isoformat()
                        run.progress = {**(run.progress or {}), "resumes_at": resumes}
        except SQLAlchemyError as exc:
            # The database is gone: the next run (or the sweeper) marks this one failed once
            # its lease has expired.
            log.warning("could not record the sync's end", error=type(exc).__name__)


ABANDONED = "abandoned: the process running it stopped (its lease expired)"


def _stored_contacts(session: Session, connection_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.connection_id == connection_id, Contact.deleted_at.is_(None))
        )
        or 0
    )


def fail_abandoned_runs(
    session: Session,
    now: datetime,
    connection_id: int | None = None,
    *,
    holding_lease: bool = True,
) -> list[int]:
    """Mark failed the syncs left `running` by a process that died.

    With `connection_id` (and `holding_lease`), the caller holds that connection's lease, so
    every running sync of it is another's, abandoned. Otherwise the sweeper's view, for every
    connection or the one named: running syncs whose connection has no live lease. Rescores (no
    connection) resume by themselves and are left alone."""
    query = select(SyncRun).where(
        SyncRun.state.in_([SyncState.RUNNING, SyncState.CANCELLING]),
        SyncRun.kind.in_([SyncKind.BACKFILL, SyncKind.INCREMENTAL, SyncKind.CONTACTS]),
        SyncRun.connection_id.is_not(None),
    )
    if connection_id is not None:
        query = query.where(SyncRun.connection_id == connection_id)
    if connection_id is None or not holding_lease:
        live = select(ConnectionLease.connection_id).where(ConnectionLease.expires_at > now)
        query = query.where(SyncRun.connection_id.not_in(live))
    failed = []
    for run in session.scalars(query.with_for_update()):
        run.state, run.finished_at, run.error = SyncState.FAILED, now, ABANDONED
        failed.append(run.id)
    if failed:
        log.warning("marked abandoned syncs failed", runs=failed)
    return failed


def _release(runtime: Runtime, connection_id: int, holder: str) -> None:
    try:
        lease.release(runtime.sessions, connection_id, holder)
    except SQLAlchemyError as exc:
        log.warning("could not release the sync lease; it expires", error=type(exc).__name__)


def latest_run(runtime: Runtime, connection_id: int) -> SyncRun | None:
    with runtime.sessions() as session:
        return session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        ).first()
