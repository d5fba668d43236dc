"""`glengarry serve` and `glengarry worker`: the HTTP service and the queue's workers."""

from __future__ import annotations

import typer
import uvicorn
from prometheus_client import start_http_server

from app.api import create_app
from app.cli import context
from app.logging import get_logger
from app.metrics import REGISTRY
from app.service import Service
from app.worker.queue import QueueUnreachable, WorkerConsumer, queue_label, wait_for_queue

log = get_logger(__name__)


def serve(
    host: str | None = typer.Option(None, help="Address to listen on [default: GLENGARRY_HOST]."),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port to listen on [default: GLENGARRY_PORT]."
    ),
) -> None:
    """Run the service (webhooks, API, health, metrics) in the foreground until stopped.

    On the embedded default the queue's consumer runs inside this process; with
    GLENGARRY_QUEUE_URL set, start `glengarry worker` processes instead.
    """
    service = Service.wire(context.runtime())
    settings = service.runtime.settings
    embedded = service.consumer(embedded=True) if service.embedded else None
    uvicorn.run(
        create_app(service.runtime, consumer=embedded),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # our structlog configuration owns stderr
        access_log=False,
    )


def worker() -> None:
    """Consume the queue: webhook processing, write-back, scheduled syncs and decay.

    Exits non-zero, in one line, when the queue cannot be reached at start (after a few
    attempts) or stays unreachable for a minute while it runs."""
    service = Service.wire(context.runtime())
    settings = service.runtime.settings
    wait_for_queue(service.huey, queue_label(settings))
    if settings.worker_metrics_port:
        # Workers do the processing: their counters are scraped here, not from `serve`.
        start_http_server(settings.worker_metrics_port, addr=settings.host, registry=REGISTRY)
    if service.embedded:
        log.warning(
            "worker on the embedded SQLite queue: `glengarry serve` already consumes it; "
            "set GLENGARRY_QUEUE_URL for the scaled set-up"
        )
    consumer = service.consumer(embedded=False)
    consumer.run()
    if isinstance(consumer, WorkerConsumer) and consumer.queue_lost:
        raise QueueUnreachable(consumer.queue_lost)
