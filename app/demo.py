"""`make demo`: the whole pipeline against the HubSpot sandbox, on the embedded default.

A sandbox CRM is seeded from the population generator and served in-process; Glengarry
connects to it as it would to HubSpot, installs its fields, backfills, scores and writes back.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import statistics
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

from app.api import create_app
from app.connections import connect
from app.models import Connection, Contact, QualificationRecord
from app.runtime import Runtime
from app.service import Service
from app.serving import ServerThread
from app.sync.run import SyncReport, SyncRunner
from app.worker.jobs import pending_counts
from connectors.hubspot.crm import CRM as HUBSPOT
from connectors.hubspot.crm import HubSpotCredentials
from connectors.hubspot.mapping import ENGAGEMENT_OBJECTS, SERVICE_OBJECTS
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.sandbox.store import Change
from qualification.population import Member, generate_population
from qualification.statuses import Status

DEMO_CONNECTION = "demo"
HISTORY = timedelta(days=90)


@dataclass(frozen=True)
class Floor:
    """The fewest calls a backfill can make with HubSpot's batch endpoints."""

    list_pages: int
    association_reads: int
    engagement_reads: int
    writes: int

    @property
    def total(self) -> int:
        return self.list_pages + self.association_reads + self.engagement_reads + self.writes


# Everything read through associations: engagements, survey answers and tickets.
ASSOCIATED_OBJECTS = (*ENGAGEMENT_OBJECTS, *SERVICE_OBJECTS)


def backfill_floor(contacts: int, engagements: int, written: int) -> Floor:
    return Floor(
        list_pages=math.ceil(contacts / 100),
        association_reads=math.ceil(contacts / 1000) * len(ASSOCIATED_OBJECTS),
        engagement_reads=math.ceil(engagements / 100),
        writes=math.ceil(written / 100),
    )


def sandbox_engagements(sandbox: SandboxServer) -> int:
    return sum(sandbox.store.count(object_type) for object_type in ASSOCIATED_OBJECTS)


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


class ChurnTruth:
    """Passes the population to the sandbox, noting which members' accounts will churn."""

    def __init__(self, members: Iterable[Member]) -> None:
        self._members = members
        self.churning: set[str] = set()  # population ids

    def __iter__(self) -> Iterator[Member]:
        for member in self._members:
            if member.churn:
                self.churning.add(member.contact.id)
            yield member

    def crm_ids(self, sandbox: SandboxServer) -> set[str]:
        return {sandbox.ids[i] for i in self.churning if i in sandbox.ids}


async def run_demo(
    runtime: Runtime, console: Console, *, contacts: int, seed: int, live_seconds: float
) -> SyncReport:
    end = runtime.clock.now()
    members = ChurnTruth(generate_population(contacts, seed, end - HISTORY, end))
    console.print(f"[bold]Glengarry demo[/]: a HubSpot sandbox with {contacts:,} contacts")
    app_secret = secrets.token_urlsafe(24)  # the sandbox signs its webhooks with it
    service = Service.wire(runtime)
    service.huey.flush()  # a previous demo's wake-ups are stale: the tables are the truth
    receiver = ServerThread(create_app(runtime, consumer=service.consumer(embedded=True)))
    with receiver:
        config = SandboxConfig(
            rate_limits="pro",
            seed=seed,
            client_secret=app_secret,
            webhook_url=f"{receiver.base_url}/webhooks/hubspot/{DEMO_CONNECTION}",
        )
        with SandboxServer(config, members=members) as sandbox:
            report = await _backfill(runtime, console, sandbox, contacts, app_secret)
            _print_customer_health(runtime, console, members.crm_ids(sandbox))
            if live_seconds > 0:
                await asyncio.to_thread(_live, runtime, console, sandbox, live_seconds, seed)
    return report


async def _backfill(
    runtime: Runtime, console: Console, sandbox: SandboxServer, contacts: int, app_secret: str
) -> SyncReport:
    with runtime.sessions.begin() as session:  # a previous demo's connection goes first
        session.execute(delete(Connection).where(Connection.name == DEMO_CONNECTION))
    credentials = HubSpotCredentials(token=sandbox.config.token, app_client_secret=app_secret)
    connected = await connect(
        runtime,
        HUBSPOT,
        name=DEMO_CONNECTION,
        secrets=credentials.to_dict(),
        options=HUBSPOT.settings({"base_url": sandbox.base_url}, new=True).options,
    )
    fields = connected.fields
    console.print(
        f"connected to portal {sandbox.config.portal_id} at {sandbox.base_url}; "
        f"fields: {', '.join(sorted({f.state.value for f in fields}))}"
    )
    report = await SyncRunner(runtime, DEMO_CONNECTION, full=True).run()
    floor = backfill_floor(contacts, sandbox_engagements(sandbox), report.relay.sent)
    _print_statuses(runtime, console)
    _print_most_ready(runtime, console)
    _print_calls(console, report, floor)
    return report


class LandingWatch:
    """Listens to the sandbox CRM: when Glengarry's write for a touched contact lands, the
    event-to-field latency is taken; status changes are printed as they land."""

    def __init__(self, console: Console, names: dict[str, str]) -> None:
        self._console = console
        self._names = names
        self._lock = threading.Lock()
        self.touched_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.status_changes = 0

    def touched(self, crm_ids: list[str], at: float) -> None:
        with self._lock:
            for crm_id in crm_ids:
                self.touched_at.setdefault(crm_id, at)

    def __call__(self, change: Change) -> None:  # called by the sandbox, under its lock
        name = change.property_name or ""
        if change.kind.value != "propertyChange" or not name.startswith("glengarry_"):
            return
        with self._lock:
            started = self.touched_at.pop(change.object_id, None)
            if started is not None:
                self.latencies.append(time.monotonic() - started)
        if name == "glengarry_status":
            self.status_changes += 1
            who = self._names.get(change.object_id, f"contact {change.object_id}")
            self._console.print(
                f"  {time.strftime('%H:%M:%S')}  {who} is now [bold]{change.property_value}[/]"
            )


def _live(
    runtime: Runtime, console: Console, sandbox: SandboxServer, seconds: float, seed: int
) -> None:
    """Simulated activity for `seconds`; the service keeps the CRM fields current."""
    console.print(
        f"\n[bold]Live[/]: {seconds:.0f} s of simulated activity; status changes as they land "
        "in the CRM:"
    )
    _wait_for_quiet(runtime, sandbox, timeout=60)  # the backfill's echoes settle first
    watch = LandingWatch(console, _names(runtime))
    sandbox.store.subscribe(watch)
    rng = random.Random(seed)  # noqa: S311 - the pace of a demo, not a secret
    try:
        with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                body = {"contacts": rng.randint(3, 12), "events_per_contact": rng.randint(1, 4)}
                started = time.monotonic()
                touched = http.post("/_sandbox/simulate", json=body).json()["contact_ids"]
                watch.touched(touched, started)
                time.sleep(1.0)  # the demo's pace: one burst of activity a second
        _wait_for_quiet(runtime, sandbox, timeout=30)
    finally:
        sandbox.store.unsubscribe(watch)
    latencies = sorted(watch.latencies)
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
        console.print(
            f"{watch.status_changes} status changes landed; event-to-field latency over "
            f"{len(latencies)} writes: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
            "(contacts whose activity changed nothing worth writing are not counted)."
        )
    else:
        console.print("no write landed during the live phase")


def _names(runtime: Runtime) -> dict[str, str]:
    """CRM id -> "First Last (Title, Company)", read once: the watch runs under the CRM's lock."""
    with runtime.sessions() as session:
        rows = session.execute(select(Contact.crm_id, Contact.properties)).all()
    names = {}
    for crm_id, props in rows:
        who = f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip() or crm_id
        role = ", ".join(p for p in (props.get("jobtitle"), props.get("company")) if p)
        names[crm_id] = f"{who} ({role})" if role else who
    return names


def _wait_for_quiet(runtime: Runtime, sandbox: SandboxServer, timeout: float) -> None:
    """Until the sandbox has delivered its webhooks and the inbox and outbox are empty."""
    sandbox.flush_webhooks(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pending_counts(runtime).values()) and sandbox.flush_webhooks(0.1):
            return
        time.sleep(0.1)  # polling the condition with a deadline


def _print_statuses(runtime: Runtime, console: Console) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(QualificationRecord.status, func.count())
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


def _print_customer_health(runtime: Runtime, console: Console, churned: set[str]) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.crm_id, QualificationRecord.status).join(
                QualificationRecord, QualificationRecord.contact_id == Contact.id
            )
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


def _print_most_ready(runtime: Runtime, console: Console, limit: int = 5) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Contact.properties, QualificationRecord.score, QualificationRecord.reasons_text)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(QualificationRecord.status == "sales_ready")
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


def _print_calls(console: Console, report: SyncReport, floor: Floor) -> None:
    table = Table(title="HubSpot API calls (batch endpoints only)")
    table.add_column("endpoint")
    table.add_column("calls", justify="right")
    for endpoint, calls in sorted(report.calls_by_endpoint.items()):
        table.add_row(endpoint, f"{calls:,}")
    console.print(table)
    ratio = report.api_calls / floor.total if floor.total else 0.0
    console.print(
        f"{report.api_calls:,} API calls for {report.pulled:,} contacts; the floor is "
        f"{floor.total:,} ({floor.list_pages} list pages + {floor.association_reads} association "
        f"reads + {floor.engagement_reads} engagement reads + {floor.writes} writes): "
        f"{ratio:.2f}x the floor. {report.relay.sent:,} contacts written back; "
        f"took {report.seconds:.1f} s."
    )
