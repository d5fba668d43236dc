"""`glengarry runs`, `rejects` and `explain`: what the operations API shows, from the command
line. JSON lines on stdout; a table when stdout is a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from app.audit import cli_actor, record
from app.cli import context
from app.connections import find
from app.errors import InputError
from app.explain import explain
from app.models import Contact, SyncRun
from app.rejects import list_rejects, retry_rejects
from app.syncs import progress_of


def _show(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not sys.stdout.isatty():
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)[:80]


def runs(
    connection: str = typer.Argument(..., help="Connection name or id."),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
) -> None:
    """The connection's syncs, newest first, with state and progress."""
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions() as session:
        found = find(session, connection)
        rows = [
            {
                "id": run.id,
                "kind": run.kind,
                "state": run.state,
                "dry_run": run.dry_run,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                **progress_of(run, now),
                "counts": run.counts,
                "error": run.error,
            }
            for run in session.scalars(
                select(SyncRun)
                .where(SyncRun.connection_id == found.id)
                .order_by(SyncRun.id.desc())
                .limit(limit)
            )
        ]
    columns = ("id", "kind", "state", "started_at", "finished_at", "progress", "resumes_at")
    _show(rows, (*columns, "error"))


def rejects(
    connection: str = typer.Argument(..., help="Connection name or id."),
    retry: bool = typer.Option(False, "--retry", help="Queue every reject again."),
    limit: int = typer.Option(500, "--limit", min=1, max=10_000),
) -> None:
    """The writes the CRM refused for good, with its reason; `--retry` queues them again."""
    runtime = context.runtime()
    now = runtime.clock.now()
    if retry:
        with runtime.sessions.begin() as session:
            found = find(session, connection)
            queued = retry_rejects(session, found.id, None, now)
            record(
                session,
                actor=cli_actor(),
                action="rejects.retry",
                at=now,
                connection=found.name,
                details={"asked": "all", "queued": len(queued)},
            )
        # The workers' sweeper finds the rows due within a minute; serve's relay too.
        typer.echo(json.dumps({"connection": found.name, "queued": len(queued)}))
        return
    with runtime.sessions() as session:
        found = find(session, connection)
        rows = [asdict(r) for r in list_rejects(session, found.id, limit=limit)]
    _show(rows, ("id", "crm_id", "reason", "values", "attempts", "last_attempt_at"))


def explain_command(
    connection: str = typer.Argument(..., help="Connection name or id."),
    crm_id: str = typer.Argument(..., help="The contact's id in the CRM."),
) -> None:
    """Why a contact has its status (JSON): signals and points, engagement decayed to now,
    thresholds, next change, override, transitions, what was last written."""
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        contact = session.scalars(
            select(Contact).where(Contact.connection_id == found.id, Contact.crm_id == crm_id)
        ).first()
        if contact is None:
            raise InputError(f"no contact {crm_id!r} stored for {found.name}")
        answer = explain(session, contact, runtime.clock.now(), runtime.settings.criteria_file)
    typer.echo(json.dumps(answer, default=str, indent=2 if sys.stdout.isatty() else None))
