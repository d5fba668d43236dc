"""`glengarry serve`: the HTTP service (health, webhooks, operations API)."""

from __future__ import annotations

import typer
import uvicorn

from app.api import create_app
from app.cli import context


def serve(
    host: str | None = typer.Option(None, help="Address to listen on [default: GLENGARRY_HOST]."),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port to listen on [default: GLENGARRY_PORT]."
    ),
) -> None:
    """Run the service in the foreground until stopped."""
    runtime = context.runtime()
    settings = runtime.settings
    uvicorn.run(
        create_app(runtime),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # our structlog configuration owns stderr
        access_log=False,
    )
