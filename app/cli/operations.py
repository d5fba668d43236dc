"""`glengarry runs`, `cancel`, `rejects` and `explain`: what the operations API shows and does,
from the command line. JSON lines on stdout; a table when stdout is a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from sqlalchemy import select

from app.audit import cli_actor, record
from app.cli import context
from app.cli.explain_tables import explain_tables
from app.connections import find
from app.errors import GlengarryError, InputError
from app.explain import explain
from app.models import Connection, Contact, SyncKind, SyncRun, SyncState
from app.rejects import list_rejects, retry_rejects
from app.syncs import NotCancellable, cancel, progress_of

RUN_COLUMNS = ("id", "kind", "state", "started_at", "finished_at", "progress", "resumes_at")


def _terminal() -> bool:
    return sys.stdout.isatty()


def show_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A JSON line per row, or on a terminal one table of `columns`."""
    if not _terminal():
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


def show_one(
    row: dict[str, Any], tables: Callable[[dict[str, Any]], Sequence[RenderableType]] | None = None
) -> None:
    """One record: a JSON line, or on a terminal a field-and-value table (a row of nine columns
    would not fit 80 characters), what is nested in it shown whole, as indented JSON; or, for
    a record too deep for that (`explain`), the tables `tables` makes of it."""
    if not _terminal():
        typer.echo(json.dumps(row, default=str))
        return
    console = Console()
    if tables is not None:
        for table in tables(row):
            console.print(table)
        return
    table = Table("field", "value", show_header=False)
    for name, value in row.items():
        nested = isinstance(value, dict | list) and value
        table.add_row(name, json.dumps(value, default=str, indent=2) if nested else _cell(value))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)[:80]


def run_row(run: SyncRun, now: datetime) -> dict[str, Any]:
    """A run as `glengarry runs` and `cancel` print it (the fields of `GET /syncs/{id}`)."""
    return {
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


def runs(
    connection: str | None = typer.Argument(
        None, help="Connection name or id; without it, every run (rescores too)."
    ),
    kind: SyncKind | None = typer.Option(None, "--kind", help="Only runs of this kind."),
    follow: int | None = typer.Option(
        None,
        "--follow",
        min=1,
        max=2**31 - 1,
        metavar="RUN_ID",
        help="Show this run's progress until it ends, then print it (a sync, or a rescore).",
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
) -> None:
    """Runs, newest first, with state and progress: a connection's syncs, or with no NAME
    every run, the rescores of every contact (no connection) among them.

    `--follow RUN_ID` exits 0 when the run succeeded or was cancelled, 1 when it failed,
    2 when there is no such run."""
    runtime = context.runtime()
    if follow is not None:
        _follow(follow)
        return
    now = runtime.clock.now()
    query = (
        select(SyncRun, Connection.name)
        .outerjoin(Connection, Connection.id == SyncRun.connection_id)
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    with runtime.sessions() as session:
        if connection is not None:
            query = query.where(SyncRun.connection_id == find(session, connection).id)
        rows = [{"connection": name, **run_row(run, now)} for run, name in session.execute(query)]
    columns = RUN_COLUMNS if connection is not None else ("connection", *RUN_COLUMNS)
    show_rows(rows, (*columns, "error"))


def _follow(run_id: int) -> None:
    # Here, not at the top: `app.cli.sync` prints its answers with this module's `show_one`.
    from app.cli.sync import follow_run

    runtime = context.runtime()
    with runtime.sessions() as session:
        if session.get(SyncRun, run_id) is None:
            raise UnknownRun(f"no sync {run_id}")
    ended = follow_run(runtime, run_id)
    typer.echo(json.dumps(ended, default=str))
    if ended["state"] == SyncState.FAILED:
        raise GlengarryError(f"{ended['kind']} {run_id} failed: {ended['message']}")


class UnknownRun(GlengarryError):
    exit_code = 2  # as an unknown connection


class RunEnded(GlengarryError):
    exit_code = 4  # the run's state refuses it, as `sync` while another runs (the API's 409)


def cancel_command(
    run_id: int = typer.Argument(
        ..., min=1, max=2**31 - 1, help="The run's id (`glengarry sync --queue`, `runs`)."
    ),
) -> None:
    """Cancel a sync, or a criteria rescore, as `POST /syncs/{id}/cancel` does: a queued one at
    once, a running one at its next batch boundary, keeping everything it did so far.

    Prints the run (state `cancelled`, or `cancelling` until the worker reaches the boundary;
    `glengarry runs NAME` shows when it has stopped). Exits 0 when it is cancelled or
    cancelling, 2 when there is no such run, 4 when it has ended already."""
    runtime = context.runtime()
    now = runtime.clock.now()
    try:
        with runtime.sessions.begin() as session:
            run = cancel(session, run_id, now)
            if run is None:
                raise UnknownRun(f"no sync {run_id}")
            owner = session.get(Connection, run.connection_id) if run.connection_id else None
            record(
                session,
                actor=cli_actor(),
                action="sync.cancel",
                at=now,
                connection=owner.name if owner else None,
                target=str(run_id),
                details={"state": run.state},
            )
            row = {"connection": owner.name if owner else None, **run_row(run, now)}
    except NotCancellable as exc:
        raise RunEnded(str(exc)) from None
    show_one(row)


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
        show_one({"connection": found.name, "queued": len(queued)})
        return
    with runtime.sessions() as session:
        found = find(session, connection)
        rows = [asdict(r) for r in list_rejects(session, found.id, limit=limit)]
    show_rows(rows, ("id", "crm_id", "reason", "values", "attempts", "last_attempt_at"))


def explain_command(
    connection: str = typer.Argument(..., help="Connection name or id."),
    crm_id: str = typer.Argument(..., help="The contact's id in the CRM."),
) -> None:
    """Why a contact has its status (JSON; tables on a terminal): signals and points,
    engagement decayed to now, thresholds, next change, override, transitions, what was last
    written."""
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        contact = session.scalars(
            select(Contact).where(Contact.connection_id == found.id, Contact.crm_id == crm_id)
        ).first()
        if contact is None:
            raise InputError(f"no contact {crm_id!r} stored for {found.name}")
        answer = explain(session, contact, runtime.clock.now(), runtime.settings.criteria_file)
    show_one(answer, explain_tables)
