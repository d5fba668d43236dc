"""`glengarry demo`: the main job against a HubSpot sandbox, on the embedded default."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from app.cli import context
from app.demo import run_demo


def demo(
    contacts: int = typer.Option(3000, min=10, max=200_000, help="Contacts in the sandbox CRM."),
    seed: int = typer.Option(7, help="Seed of the generated population."),
    live_seconds: float = typer.Option(
        30, min=0, max=3600, help="Seconds of simulated live activity after the backfill."
    ),
) -> None:
    """Seed a HubSpot sandbox, connect, install fields, backfill and write back; print results."""
    asyncio.run(
        run_demo(
            context.runtime(), Console(), contacts=contacts, seed=seed, live_seconds=live_seconds
        )
    )
