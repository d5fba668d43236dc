"""`glengarry sync`: one sync of a connection in the foreground, with a progress bar."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from app.audit import cli_actor, record
from app.cli import context
from app.cli.operations import show_one
from app.connection_settings import refuse_paused
from app.connections import find
from app.errors import GlengarryError
from app.models import SyncRun, SyncState
from app.runtime import Runtime
from app.service import Service
from app.sync.run import SyncReport, SyncRunner
from app.syncs import FINISHED, progress_of, request_sync

stderr = Console(stderr=True)


def sync(
    connection: str = typer.Argument(..., help="Connection name or id."),
    full: bool = typer.Option(False, "--full", help="Re-read every contact, not just changes."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Pull and score, and show a sample of what would be written; store nothing.",
    ),
    queue: bool = typer.Option(
        False,
        "--queue",
        help="Hand the sync to the workers and print its run id (JSON; a table on a terminal).",
    ),
    follow: bool = typer.Option(
        False, "--follow", help="With --queue: show its progress until it ends."
    ),
) -> None:
    """Pull -> store -> score -> write back, recording a sync run with its counts.

    Exits 0 when every write landed, 3 when the run finished but writes were refused (by the
    CRM, or for fields in conflict: the message says which), 1 when it failed, 5 when the
    connection is paused (nothing runs)."""
    runtime = context.runtime()
    if queue:
        _queue(connection, full=full, dry_run=dry_run, follow=follow)
        return
    with _bar() as bar:
        task = bar.add_task("pulling contacts", total=None)

        def progress(report: SyncReport) -> None:
            # A resync counts to the contacts stored (a count and an ETA); a first backfill
            # has none to count, so its bar pulses with the count until the end.
            total = max(report.total, report.pulled) if report.total is not None else None
            bar.update(
                task,
                completed=report.pulled,
                total=total,
                description=f"pulled {report.pulled:,} · scored {report.scoring.scored:,} · "
                f"status changes {report.scoring.status_changes:,} · "
                f"API calls {report.api_calls:,}",
            )

        runner = SyncRunner(
            runtime, connection, full=full, dry_run=dry_run, progress=progress, actor=cli_actor()
        )
        report = asyncio.run(runner.run())
    result: dict[str, Any] = {"run": report.run_id, "state": report.state.value, **report.counts()}
    if report.message:
        result["message"] = report.message
    if report.resumes_at is not None:  # paused on the API budget
        result["resumes_at"] = report.resumes_at.isoformat()
    if dry_run:
        samples = report.scoring.write_samples
        # A sample, and it says so: the first writes of all those the run would make.
        result["would_write_sample"] = f"{len(samples)} of {report.scoring.to_write}"
        result["would_write"] = [
            {"contact": crm_id, "values": values} for crm_id, values in samples
        ]
    show_one(result)
    if report.state is SyncState.PARTIAL:
        raise WritesRefused(f"sync of {connection} finished, but {report.message}")


class WritesRefused(GlengarryError):
    """The run finished, but not every write landed: a script must not read it as success."""

    exit_code = 3


def _bar() -> Progress:
    """A bar with a count and an ETA once the total is known (a pulse until then)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


FOLLOW_EVERY_SECONDS = 0.5


def _queue(connection: str, *, full: bool, dry_run: bool, follow: bool) -> None:
    """Queue a run as `POST /connections/{name}/syncs` does; with `follow`, read its row until
    it ends (the workers carry it out: `serve` or `glengarry worker`)."""
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        found = find(session, connection)
        refuse_paused(found)
        asked = request_sync(
            session,
            found,
            kind="full" if full else "incremental",
            contact_ids=(),
            dry_run=dry_run,
            now=now,
        )
        run_id, state = asked.run.id, asked.run.state
        if asked.created:
            record(
                session,
                actor=cli_actor(),
                action="sync.start",
                at=now,
                connection=found.name,
                target=str(run_id),
                details={"kind": "full" if full else "incremental", "dry_run": dry_run},
            )
    if not asked.created:
        raise SyncRunning(f"sync {run_id} of {connection} is {state}: one at a time")
    Service.wire(runtime).tasks.incremental_sync(found.id, False, run_id)
    if not follow:
        show_one({"run": run_id, "state": state})
        return
    ended = follow_run(runtime, run_id)
    show_one(ended)
    if ended["state"] == SyncState.FAILED:
        raise GlengarryError(f"sync {run_id} of {connection} failed: {ended['message']}")


def follow_run(runtime: Runtime, run_id: int, label: str = "sync") -> dict[str, Any]:
    """Read a run's row until it ends, with a progress bar on stderr (the workers carry it
    out: `serve` or `glengarry worker`); what it ended as."""
    with _bar() as bar:
        task = bar.add_task(f"{label} {run_id}", total=None)
        while True:
            with runtime.sessions() as session:
                run = session.get(SyncRun, run_id)
                if run is None:
                    raise GlengarryError(f"no sync {run_id}")
                shown = progress_of(run, runtime.clock.now())
                kind, state, counts, error = run.kind, run.state, dict(run.counts or {}), run.error
                resumes_at = shown["resumes_at"]
            done, total = shown["progress"]["done"], shown["progress"]["total"]
            bar.update(task, description=f"{kind} {run_id}: {state}", completed=done, total=total)
            if state in FINISHED:
                break
            time.sleep(FOLLOW_EVERY_SECONDS)
    ended = {"run": run_id, "kind": kind, "state": state, **counts, "message": error}
    if resumes_at is not None:
        ended["resumes_at"] = resumes_at
    return ended


class SyncRunning(GlengarryError):
    exit_code = 4
