"""`glengarry demo`: the main job against a HubSpot sandbox, in a data directory of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from app.cli import context
from app.demo import run_demo
from app.runtime import Runtime
from app.settings import load_settings

DEMO_DIR = "demo"


def demo(
    contacts: int = typer.Option(3000, min=10, max=200_000, help="Contacts in the sandbox CRM."),
    seed: int = typer.Option(7, help="Seed of the generated population."),
    live_seconds: float = typer.Option(
        30, min=0, max=3600, help="Seconds of simulated live activity after the backfill."
    ),
    data_dir: Path | None = typer.Option(
        None,
        help="Where the demo keeps its database, queue and key "
        "[default: GLENGARRY_DATA_DIR/demo, e.g. .glengarry/demo].",
    ),
) -> None:
    """Seed a HubSpot sandbox, connect, install fields, backfill and write back; print results.

    The demo runs on the embedded default in a data directory of its own: it never meets your
    connections, your database (GLENGARRY_DATABASE_URL) or your queue (GLENGARRY_QUEUE_URL)."""
    base = context.settings()  # logging, and where the data directory is
    settings = load_settings(
        data_dir=data_dir or base.data_dir / DEMO_DIR, database_url=None, queue_url=None
    )
    runtime = Runtime.from_settings(settings)
    try:
        asyncio.run(
            run_demo(runtime, Console(), contacts=contacts, seed=seed, live_seconds=live_seconds)
        )
    finally:
        runtime.engine.dispose()
