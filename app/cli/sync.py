"""`glengarry sync`: one sync of a connection in the foreground, with a progress bar."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app.cli import context
from app.errors import GlengarryError
from app.models import SyncState
from app.sync.run import SyncReport, SyncRunner

stderr = Console(stderr=True)


def sync(
    connection: str = typer.Argument(..., help="Connection name or id."),
    full: bool = typer.Option(False, "--full", help="Re-read every contact, not just changes."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Pull and score, and show a sample of what would be written; store nothing.",
    ),
) -> None:
    """Pull -> store -> score -> write back, recording a sync run with its counts.

    Exits 0 when every write landed, 3 when the run finished but writes were refused (by the
    CRM, or for fields in conflict: the message says which), 1 when it failed."""
    runtime = context.runtime()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("pulling contacts", total=None)

        def progress(report: SyncReport) -> None:
            bar.update(
                task,
                description=f"pulled {report.pulled:,} · scored {report.scoring.scored:,} · "
                f"status changes {report.scoring.status_changes:,} · "
                f"API calls {report.api_calls:,}",
            )

        runner = SyncRunner(runtime, connection, full=full, dry_run=dry_run, progress=progress)
        report = asyncio.run(runner.run())
    result: dict[str, Any] = {"run": report.run_id, "state": report.state.value, **report.counts()}
    if report.message:
        result["message"] = report.message
    if dry_run:
        samples = report.scoring.write_samples
        # A sample, and it says so: the first writes of all those the run would make.
        result["would_write_sample"] = f"{len(samples)} of {report.scoring.to_write}"
        result["would_write"] = [
            {"contact": crm_id, "values": values} for crm_id, values in samples
        ]
    typer.echo(json.dumps(result))
    if report.state is SyncState.PARTIAL:
        raise WritesRefused(f"sync of {connection} finished, but {report.message}")


class WritesRefused(GlengarryError):
    """The run finished, but not every write landed: a script must not read it as success."""

    exit_code = 3
