"""`glengarry sync`: one sync of a connection in the foreground, with a progress bar."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app.cli import context
from app.sync.run import SyncReport, SyncRunner

stderr = Console(stderr=True)


def sync(
    connection: str = typer.Argument(..., help="Connection name or id."),
    full: bool = typer.Option(False, "--full", help="Re-read every contact, not just changes."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Pull, store and score, but write nothing to the CRM."
    ),
) -> None:
    """Pull -> store -> score -> write back, recording a sync run with its counts."""
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
    result = {"run": report.run_id, "state": report.state.value, **report.counts()}
    if report.message:
        result["message"] = report.message
    if dry_run:
        result["would_write"] = [
            {"contact": crm_id, "values": values} for crm_id, values in report.scoring.write_samples
        ]
    typer.echo(json.dumps(result))
