"""`make demo`: the whole pipeline against the HubSpot sandbox, on the embedded default.

A sandbox CRM is seeded from the population generator and served in-process; Glengarry
connects to it as it would to HubSpot, installs its fields, backfills, scores and writes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

from app.connections import HubSpotCredentials, connect_hubspot
from app.models import Connection, Contact, QualificationRecord
from app.runtime import Runtime
from app.sync.run import SyncReport, SyncRunner
from connectors.hubspot.mapping import ENGAGEMENT_OBJECTS
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.population import generate_population

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


def backfill_floor(contacts: int, engagements: int, written: int) -> Floor:
    return Floor(
        list_pages=math.ceil(contacts / 100),
        association_reads=math.ceil(contacts / 1000) * len(ENGAGEMENT_OBJECTS),
        engagement_reads=math.ceil(engagements / 100),
        writes=math.ceil(written / 100),
    )


def sandbox_engagements(sandbox: SandboxServer) -> int:
    return sum(sandbox.store.count(object_type) for object_type in ENGAGEMENT_OBJECTS)


async def run_demo(runtime: Runtime, console: Console, *, contacts: int, seed: int) -> SyncReport:
    end = runtime.clock.now()
    members = generate_population(contacts, seed, end - HISTORY, end)
    console.print(f"[bold]Glengarry demo[/]: a HubSpot sandbox with {contacts:,} contacts")
    with SandboxServer(SandboxConfig(rate_limits="pro", seed=seed), members=members) as sandbox:
        with runtime.sessions.begin() as session:  # a previous demo's connection goes first
            session.execute(delete(Connection).where(Connection.name == DEMO_CONNECTION))
        _, fields = await connect_hubspot(
            runtime,
            name=DEMO_CONNECTION,
            credentials=HubSpotCredentials(token=sandbox.config.token),
            base_url=sandbox.base_url,
        )
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
