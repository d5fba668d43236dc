"""`glengarry verify CONNECTION`: does the CRM hold what Glengarry says it wrote?"""

from __future__ import annotations

import asyncio
import json

import typer

from app.cli import context
from app.verify import verify as check
from connectors.errors import ConnectorError

COULD_NOT_CHECK = 2


def verify(
    connection: str = typer.Argument(..., help="Connection name or id."),
    sample: int | None = typer.Option(
        None, "--sample", min=1, help="Check this many contacts, chosen at random."
    ),
) -> None:
    """Read the CRM's Glengarry fields back in batches and compare them with the stored
    qualifications; print one JSON object (`checked`, `drift` counts per field, `examples`).

    Exits 0 with no drift, 1 with drift, 2 when the CRM could not be read."""
    runtime = context.runtime()
    try:
        report = asyncio.run(check(runtime, connection, sample=sample))
    except ConnectorError as exc:
        typer.echo(json.dumps({"checked": 0, "error": str(exc)}))
        raise typer.Exit(COULD_NOT_CHECK) from None
    typer.echo(json.dumps(report.to_json()))
    raise typer.Exit(1 if report.drift else 0)
