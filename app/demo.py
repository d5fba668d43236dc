"""`make demo`: the whole pipeline against each CRM's sandbox, on the embedded default.

Each CRM's sandbox (`app.demo_sandboxes`, one side per CRM) is seeded from the population
generator and served in-process; Glengarry connects to it as it would to the real one, installs
its fields, backfills, scores and writes back, then keeps the fields current while simulated
sales reps work: webhooks or Outbound Messages arrive at the served app, the worker rescores,
the statuses land in the CRM, and the event-to-field latency is measured there.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from huey import Huey
from huey.api import Task
from rich.console import Console
from rich.table import Table
from sqlalchemy import ColumnElement, delete, func, select

from app.api import create_app
from app.connections import connect
from app.demo_sandboxes import DEMO_CONNECTIONS, DEMO_CRMS, Deliveries, DemoSandbox, demo_sandboxes
from app.models import Connection, Contact, QualificationRecord
from app.runtime import Runtime
from app.service import Service
from app.serving import ServerThread
from app.sync.run import SyncReport, SyncRunner
from app.worker.jobs import pending_counts
from qualification.population import generate_population
from qualification.statuses import Status

LEGACY_CONNECTION = "demo"  # the demo's connection when it ran on one CRM only
HISTORY = timedelta(days=90)


@dataclass(frozen=True)
class Pace:
    """The live part's activity: a burst every `interval` seconds, of `people` (low, high)
    people with `events` (low, high) activities each, drawn from the seed."""

    interval: float = 1.0
    people: tuple[int, int] = (3, 12)
    events: tuple[int, int] = (1, 4)


@dataclass
class Latency:
    """Event-to-field latencies, in seconds: from the activity to Glengarry's write landing in
    the CRM, for the people touched whose write landed."""

    samples: list[float] = field(default_factory=list)
    status_changes: int = 0
    touched: set[str] = field(default_factory=set)  # CRM ids the simulated activity touched

    def percentile(self, share: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


Dump = dict[str, dict[str, Any]]  # CRM id -> Glengarry's fields there, from `/_sandbox/dump`


@dataclass(frozen=True)
class DemoResult:
    """One CRM's run, with what its sandbox says (for tests and the benchmark)."""

    label: str  # the CRM's label
    backfill: SyncReport
    latency: Latency | None  # None: no live part
    deliveries: Deliveries
    attempts: list[dict[str, Any]]  # the sandbox's log of delivery attempts, if it keeps one
    dump_before_live: Dump
    dump_after: Dump
    live_delivered: int  # what `deliveries` counts, during the live part only


async def run_demo(
    runtime: Runtime,
    console: Console,
    *,
    contacts: int,
    seed: int,
    live_seconds: float,
    crms: Sequence[str] = DEMO_CRMS,
    pace: Pace = Pace(),
) -> list[DemoResult]:
    """The demo on each CRM in turn, in one served app and worker."""
    end = runtime.clock.now()
    members = list(generate_population(contacts, seed, end - HISTORY, end))  # seeds each CRM
    churning = {m.contact.id for m in members if m.churn}  # the hidden truth, for the health line
    sides = demo_sandboxes(
        crms, app_secret=secrets.token_urlsafe(24), data_dir=runtime.settings.data_dir
    )
    with runtime.sessions.begin() as session:  # a previous demo's connections go first, all
        # of them: a connection whose sandbox is not served would fail its scheduled syncs
        names = (*DEMO_CONNECTIONS, LEGACY_CONNECTION)
        session.execute(delete(Connection).where(Connection.name.in_(names)))
    service = Service.wire(runtime)
    service.huey.flush()  # a previous demo's wake-ups are stale: the tables are the truth
    worker = RunningJobs(service.huey)
    results = []
    receiver = ServerThread(create_app(runtime, consumer=service.consumer(embedded=True)))
    # Every sandbox serves until the end: the scheduled safety-net sync of each connection
    # (every `sync_interval_minutes`) must find its CRM while the others' parts run.
    with receiver, ExitStack() as sandboxes:
        for side in sides:
            sandboxes.enter_context(side.serve(members, receiver.base_url, seed))
        for side in sides:
            label = side.crm.label
            console.print(f"\n[bold]Glengarry demo[/]: a {label} sandbox with {contacts:,} people")
            report = await _backfill(runtime, console, side, churning)
            before, latency, delivered = _dump(side), None, 0
            if live_seconds > 0:
                latency, delivered = await asyncio.to_thread(
                    _live, runtime, console, side, worker, live_seconds, seed, pace
                )
            results.append(
                DemoResult(
                    label,
                    report,
                    latency,
                    side.deliveries(),
                    side.attempts(),
                    before,
                    _dump(side),
                    delivered,
                )
            )
    if len(results) > 1:
        _print_latencies(console, results)
    return results


@dataclass(frozen=True)
class CustomerHealth:
    """The customers the backfill found at risk, against the population's hidden churn."""

    customers: int
    at_risk: int
    churn_at_risk: float | None  # share of the at-risk customers whose account churns
    churn_all: float | None  # share of all customers whose account churns

    @property
    def share(self) -> float | None:
        return self.at_risk / self.customers if self.customers else None

    @property
    def lift(self) -> float | None:
        if self.churn_at_risk is None or not self.churn_all:
            return None
        return self.churn_at_risk / self.churn_all


def customer_health(statuses: Mapping[str, str], churned: set[str]) -> CustomerHealth:
    """From CRM id -> status and the CRM ids whose account churns after the backfill."""
    customers = [
        crm_id
        for crm_id, status in statuses.items()
        if status in (Status.CUSTOMER_ACTIVE, Status.CUSTOMER_AT_RISK)
    ]
    at_risk = [crm_id for crm_id in customers if statuses[crm_id] == Status.CUSTOMER_AT_RISK]

    def churn(group: list[str]) -> float | None:
        return sum(1 for crm_id in group if crm_id in churned) / len(group) if group else None

    return CustomerHealth(len(customers), len(at_risk), churn(at_risk), churn(customers))


async def _backfill(
    runtime: Runtime, console: Console, side: DemoSandbox, churning: set[str]
) -> SyncReport:
    crm, name = side.crm, side.connection
    settings = side.new_settings()
    connected = await connect(
        runtime, crm, name=name, secrets=settings.secrets, options=settings.options
    )
    fields = connected.fields
    console.print(
        f"connected as {name!r} to {side.connected()}; "
        f"fields: {', '.join(sorted({f.state.value for f in fields}))}"
    )
    report = await SyncRunner(runtime, name, full=True).run()
    _print_statuses(runtime, console, name)
    _print_most_ready(runtime, console, name)
    churned = {side.seeded[i] for i in churning if i in side.seeded}
    _print_customer_health(runtime, console, name, churned)
    _print_calls(console, crm.label, report, side.floor(report))
    return report


class LandingWatch:
    """When Glengarry's write for a touched person lands in the CRM, the event-to-field latency
    is taken; status changes are printed as they land.

    A person touched again before a write of theirs landed is not timed until one lands: their
    first activity may have changed nothing worth writing, and timing the next write from it
    would count the wait between the two touches as latency."""

    def __init__(self, console: Console, names: dict[str, str]) -> None:
        self._console = console
        self._names = names
        self._lock = threading.Lock()
        self.touched_at: dict[str, float] = {}
        self._ambiguous: set[str] = set()
        self.latency = Latency()

    def touched(self, crm_ids: list[str], at: float) -> None:
        with self._lock:
            self.latency.touched.update(crm_ids)
            for crm_id in crm_ids:
                if crm_id in self.touched_at or crm_id in self._ambiguous:
                    self.touched_at.pop(crm_id, None)
                    self._ambiguous.add(crm_id)
                else:
                    self.touched_at[crm_id] = at

    def __call__(self, crm_id: str, status: str | None, who: str | None) -> None:  # CRM's lock
        with self._lock:
            started = self.touched_at.pop(crm_id, None)
            self._ambiguous.discard(crm_id)
            if started is not None:
                self.latency.samples.append(time.monotonic() - started)
            if status is not None:
                self.latency.status_changes += 1
        if status is not None:
            who = self._names.get(crm_id) or who or f"record {crm_id}"
            self._console.print(f"  {time.strftime('%H:%M:%S')}  {who} is now [bold]{status}[/]")


def _live(
    runtime: Runtime,
    console: Console,
    side: DemoSandbox,
    worker: RunningJobs,
    seconds: float,
    seed: int,
    pace: Pace,
) -> tuple[Latency, int]:
    """Simulated activity for `seconds`; the service keeps the CRM fields current. The
    latencies, and the notifications the CRM delivered meanwhile."""
    console.print(
        f"\n[bold]Live[/]: {seconds:.0f} s of simulated activity in {side.crm.label}; status "
        "changes as they land in the CRM:"
    )
    if not _wait_for_quiet(runtime, side, worker, timeout=60):  # the backfill's echoes first
        console.print("[yellow]the backfill's notifications had not settled after 60 s[/]")
    delivered = side.deliveries().delivered
    watch = LandingWatch(console, _names(runtime, side.connection))
    rng = random.Random(seed)  # noqa: S311 - the pace of a demo, not a secret
    with side.watch(watch), side.control() as control:
        deadline = time.monotonic() + seconds
        next_burst = time.monotonic()
        while time.monotonic() < deadline:
            body = {
                "contacts": rng.randint(*pace.people),
                "events_per_contact": rng.randint(*pace.events),
            }
            started = time.monotonic()
            touched = control.post("/simulate", json=body).json()["contact_ids"]
            watch.touched(touched, started)
            next_burst += pace.interval
            # The pace of the activity, not a wait on a condition.
            time.sleep(max(0.0, next_burst - time.monotonic()))
        if not _wait_for_quiet(runtime, side, worker, timeout=30):
            console.print("[yellow]the live part's notifications had not settled after 30 s[/]")
    latency = watch.latency
    if latency.samples:
        console.print(
            f"{latency.status_changes} status changes landed; event-to-field latency over "
            f"{len(latency.samples)} writes: p50 {latency.p50 * 1000:.0f} ms, p99 "
            f"{latency.p99 * 1000:.0f} ms (not timed: people whose activity changed nothing "
            "worth writing, and those touched again before a write landed)."
        )
    else:
        console.print("no write landed during the live phase")
    console.print(f"{side.crm.label} sent: {side.deliveries().line()}.")
    return latency, side.deliveries().delivered - delivered


def _dump(side: DemoSandbox) -> Dump:
    with side.control() as control:
        records = control.get("/dump").json()["records"]
    return {record["id"]: record["fields"] for record in records}


def _names(runtime: Runtime, connection: str) -> dict[str, str]:
    """CRM id -> "First Last (Title, Company)", read once: the watch runs under the CRM's lock."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.crm_id, Contact.properties).where(_of(connection))
        ).all()
    names = {}
    for crm_id, props in rows:
        who = f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip() or crm_id
        role = ", ".join(p for p in (props.get("jobtitle"), props.get("company")) if p)
        names[crm_id] = f"{who} ({role})" if role else who
    return names


def _of(connection: str) -> ColumnElement[bool]:
    """The contacts of one of the demo's connections (the data directory holds one per CRM)."""
    return Contact.connection_id.in_(select(Connection.id).where(Connection.name == connection))


class RunningJobs:
    """How many of the worker's inbox and relay jobs are running, from huey's execute hooks.

    An inbox batch marks its events processed in its commit, and only after it counts them in
    its metrics and relays its writes: an empty inbox alone does not say the worker is done
    (the benchmark's baseline, once taken at that moment, counted the backfill's echoes as
    live events)."""

    NAMES = frozenset({"process_inbox", "relay"})
    HOOK = "demo_running_jobs"

    def __init__(self, huey: Huey) -> None:
        self._lock = threading.Lock()
        self._running = 0
        huey.pre_execute(self.HOOK)(self._started)
        huey.post_execute(self.HOOK)(self._ended)

    def _started(self, task: Task) -> None:
        if task.name in self.NAMES:
            with self._lock:
                self._running += 1

    def _ended(self, task: Task, value: object, exc: BaseException | None) -> None:
        if task.name in self.NAMES:
            with self._lock:
                self._running -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._running == 0


def _wait_for_quiet(
    runtime: Runtime, side: DemoSandbox, worker: RunningJobs, timeout: float
) -> bool:
    """Until the CRM has delivered its notifications, the inbox and outbox are empty and the
    worker has ended the jobs that emptied them; False on time-out."""
    side.flush(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The jobs last: a job running when the tables were read has ended, its counts too.
        if not any(pending_counts(runtime).values()) and side.flush(0.1) and worker.idle:
            return True
        time.sleep(0.1)  # polling the condition with a deadline
    return False


def _print_statuses(runtime: Runtime, console: Console, connection: str) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(QualificationRecord.status, func.count())
            .join(Contact, QualificationRecord.contact_id == Contact.id)
            .where(_of(connection))
            .group_by(QualificationRecord.status)
            .order_by(func.count().desc())
        ).all()
    total = sum(n for _, n in rows) or 1
    table = Table(title="Statuses after the backfill")
    table.add_column("status")
    table.add_column("contacts", justify="right")
    table.add_column("share", justify="right")
    for status, n in rows:
        table.add_row(status, f"{n:,}", f"{n / total:.0%}")
    console.print(table)


def _print_most_ready(runtime: Runtime, console: Console, connection: str, limit: int = 5) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.properties, QualificationRecord.score, QualificationRecord.reasons_text)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(QualificationRecord.status == "sales_ready", _of(connection))
            .order_by(QualificationRecord.score.desc(), Contact.id)
            .limit(limit)
        ).all()
    table = Table(title="Most ready now", show_lines=True)
    table.add_column("contact")
    table.add_column("score", justify="right")
    table.add_column("why")
    for props, score, reasons in rows:
        who = f"{props.get('firstname', '')} {props.get('lastname', '')}".strip()
        title = ", ".join(p for p in (props.get("jobtitle"), props.get("company")) if p)
        table.add_row(f"{who}\n{title}", str(score), reasons)
    console.print(table)


def _print_customer_health(
    runtime: Runtime, console: Console, connection: str, churned: set[str]
) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.crm_id, QualificationRecord.status)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(_of(connection))
        ).all()
    health = customer_health(dict(rows), churned)
    if health.share is None:
        console.print("no customers among the contacts")
        return
    line = (
        f"customers at risk: {health.at_risk:,} of {health.customers:,} ({health.share:.0%}), "
        "from their survey answers, tickets and activity."
    )
    if health.lift is not None and health.churn_at_risk is not None:
        line += (
            f" The population's hidden truth: {health.churn_at_risk:.0%} of them churn in the "
            f"next 90 days against {health.churn_all:.0%} of all customers (lift "
            f"{health.lift:.1f})."
        )
    console.print(line)


def _print_calls(console: Console, label: str, report: SyncReport, floor: str) -> None:
    table = Table(title=f"{label} API calls")
    table.add_column("endpoint")
    table.add_column("calls", justify="right")
    for endpoint, calls in sorted(report.calls_by_endpoint.items()):
        table.add_row(endpoint, f"{calls:,}")
    console.print(table)
    console.print(
        f"{report.api_calls:,} API calls for {report.pulled:,} contacts"
        f"{'; ' + floor if floor else ''}. {report.relay.sent:,} contacts written back; "
        f"took {report.seconds:.1f} s."
    )


def _print_latencies(console: Console, results: Sequence[DemoResult]) -> None:
    table = Table(title="Event-to-field latency, side by side (the live parts)")
    for column in ("CRM", "notifications", "writes timed", "p50", "p99", "statuses"):
        table.add_column(column, justify="left" if column == "CRM" else "right")
    for result in results:
        latency = result.latency
        timed = latency is not None and bool(latency.samples)
        table.add_row(
            result.label,
            f"{result.live_delivered:,}",
            f"{len(latency.samples):,}" if latency is not None else "-",
            f"{latency.p50 * 1000:.0f} ms" if timed and latency else "-",
            f"{latency.p99 * 1000:.0f} ms" if timed and latency else "-",
            f"{latency.status_changes:,}" if latency is not None else "-",
        )
    console.print(table)
