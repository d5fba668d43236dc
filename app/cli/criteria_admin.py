"""`glengarry criteria activate` and `dry-run`: a criteria file made the deployment's active
version, or tried against the stored contacts first."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import typer

from app.audit import cli_actor, record
from app.cli import context
from app.cli.sync import follow_run
from app.criteria_dry_run import dry_run
from app.criteria_store import activate, active_criteria, read_criteria_file, stored_version
from app.rescores import request_rescore
from app.service import Service


def activate_command(
    file: str = typer.Argument(..., help="A criteria YAML file, or `default`."),
    follow: bool = typer.Option(
        False, "--follow", help="Show the rescore's progress until it ends, then print it."
    ),
) -> None:
    """Activate FILE and rescore every contact in the background (only changes are written).

    Prints the version and the rescore's run (`rescore`: its id and state; null when FILE was
    active already): `glengarry runs --follow ID` follows it, `glengarry cancel ID` stops it
    at a batch boundary. A rescore still queued or running is superseded by this one."""
    text, criteria = read_criteria_file(Path(file) if file != "default" else "default")
    runtime = context.runtime()
    now = runtime.clock.now()
    rescore: dict[str, Any] | None = None
    with runtime.sessions.begin() as session:
        result = activate(session, text, now, file)
        if result.changed:
            run = request_rescore(session, result.version, now, reason="criteria activated")
            rescore = {"id": run.id, "state": run.state}
            record(
                session,
                actor=cli_actor(),
                action="criteria.activate",
                at=now,
                target=criteria.version,
                details={"source": file[:200], "name": criteria.name, "rescore": run.id},
            )
    if rescore is not None:
        # The workers (serve's consumer, or `glengarry worker`) pick it up; had this wake-up
        # been lost, the sweeper finds the queued run within a minute.
        Service.wire(runtime).tasks.rescore_all()
    answer = {"version": criteria.version, "activated": result.changed, "rescore": rescore}
    if follow and rescore is not None:
        answer["rescore"] = follow_run(runtime, rescore["id"], "rescore")
    typer.echo(json.dumps(answer, default=str))


def dry_run_command(
    file: str = typer.Argument(..., help="A candidate criteria YAML file, or `default`."),
    examples: int = typer.Option(3, "--examples", min=0, max=20, help="Examples per change."),
) -> None:
    """Score every stored contact under FILE, writing nothing: how many would change status,
    from what to what, with examples (JSON)."""
    _, criteria = read_criteria_file(Path(file) if file != "default" else "default")
    runtime = context.runtime()
    now = runtime.clock.now()
    with runtime.sessions.begin() as session:
        active = active_criteria(session, now, runtime.settings.criteria_file)
        result = dry_run(session, criteria, now, examples=examples)
    typer.echo(json.dumps({**result.as_json(), "active_version": active.version}))


def diff_command(
    a: str = typer.Argument(..., help="A stored version (its hash, or a unique prefix)."),
    b: str = typer.Argument(..., help="Another."),
) -> None:
    """The two versions' YAML, line by line (a unified diff)."""
    runtime = context.runtime()
    with runtime.sessions() as session:
        left, right = stored_version(session, a), stored_version(session, b)
    typer.echo(
        "".join(
            difflib.unified_diff(
                left.content.splitlines(keepends=True),
                right.content.splitlines(keepends=True),
                fromfile=left.version,
                tofile=right.version,
            )
        ),
        nl=False,
    )
