"""`glengarry criteria activate`: make a criteria file the deployment's active version."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.cli import context
from app.criteria_store import activate, read_criteria_file
from app.service import Service


def activate_command(
    file: str = typer.Argument(..., help="A criteria YAML file, or `default`."),
) -> None:
    """Activate FILE and rescore every contact in the background (only changes are written)."""
    text, criteria = read_criteria_file(Path(file) if file != "default" else "default")
    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        result = activate(session, text, runtime.clock.now(), file)
    if result.changed:
        # The workers (serve's consumer, or `glengarry worker`) pick the rescore up.
        Service.wire(runtime).tasks.rescore_all()
    typer.echo(
        json.dumps(
            {
                "version": criteria.version,
                "activated": result.changed,
                "rescore": "queued" if result.changed else "not needed: already active",
            }
        )
    )
