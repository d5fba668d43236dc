"""`glengarry demo`: the main job against each CRM's sandbox, in a data directory of its own."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from app.cli import context
from app.demo import run_demo
from app.demo_sandboxes import DEMO_CRMS
from app.runtime import Runtime
from app.settings import load_settings

DEMO_DIR = "demo"


class DemoCrm(StrEnum):
    """Which sandbox CRMs the demo runs: one of the registry's, or all of them in turn."""

    hubspot = "hubspot"
    salesforce = "salesforce"
    both = "both"


def crms_of(choice: DemoCrm) -> tuple[str, ...]:
    return DEMO_CRMS if choice is DemoCrm.both else (choice.value,)


def demo(
    crm: DemoCrm = typer.Option(DemoCrm.both, help="The sandbox CRM to run the demo on."),
    contacts: int = typer.Option(3000, min=10, max=200_000, help="People in each sandbox CRM."),
    seed: int = typer.Option(7, help="Seed of the generated population."),
    live_seconds: float = typer.Option(
        20,
        min=0,
        max=3600,
        help="Seconds of simulated live activity after each CRM's backfill.",
    ),
    data_dir: Path | None = typer.Option(
        None,
        help="Where the demo keeps its database, queue and key "
        "[default: GLENGARRY_DATA_DIR/demo, e.g. .glengarry/demo].",
    ),
) -> None:
    """Seed a sandbox CRM, connect, install fields, backfill and write back, then keep the
    fields current while simulated sales reps work; print results and latencies.

    The demo runs on the embedded default in a data directory of its own: it never meets your
    connections, your database (GLENGARRY_DATABASE_URL) or your queue (GLENGARRY_QUEUE_URL)."""
    base = context.settings()  # logging, and where the data directory is
    settings = load_settings(
        data_dir=data_dir or base.data_dir / DEMO_DIR, database_url=None, queue_url=None
    )
    runtime = Runtime.from_settings(settings)
    try:
        asyncio.run(
            run_demo(
                runtime,
                Console(),
                crms=crms_of(crm),
                contacts=contacts,
                seed=seed,
                live_seconds=live_seconds,
            )
        )
    finally:
        runtime.engine.dispose()
