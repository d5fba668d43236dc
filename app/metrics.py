"""Prometheus metrics: counters kept by this process, gauges read from the database at scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.models import Connection, InboxEvent, OutboxEntry, OutboxState

REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "glengarry_webhook_events_total",
    "Webhook events by outcome: received, duplicate, ignored (portal not served), processed.",
    ["connection", "outcome"],
    registry=REGISTRY,
)
LAST_WEBHOOK = Gauge(
    "glengarry_last_webhook_received_timestamp_seconds",
    "When the last webhook delivery for a connection was received.",
    ["connection"],
    registry=REGISTRY,
)
PROCESSING_LAG = Histogram(
    "glengarry_event_processing_lag_seconds",
    "From receiving an event to having its contact rescored and queued for write-back.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
API_CALLS = Counter(
    "glengarry_crm_api_calls_total",
    "CRM API calls by connection and HTTP status (0: no answer).",
    ["connection", "status"],
    registry=REGISTRY,
)
SYNC_SECONDS = Histogram(
    "glengarry_sync_duration_seconds",
    "Wall time of sync runs by kind.",
    ["kind", "state"],
    buckets=(1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
WRITES = Counter(
    "glengarry_writeback_total",
    "Write-back outcomes: sent, retrying, failed.",
    ["connection", "outcome"],
    registry=REGISTRY,
)


class BacklogCollector(Collector):
    """Outbox depth and failures, and the unprocessed inbox: the same for every process."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "glengarry_outbox_rows",
            "Write-back outbox rows by state.",
            labels=["connection", "state"],
        )
        inbox = GaugeMetricFamily(
            "glengarry_inbox_unprocessed",
            "Webhook events not yet processed.",
            labels=["connection"],
        )
        try:
            with self._sessions() as session:
                names = dict(session.execute(select(Connection.id, Connection.name)).all())
                for cid, state, n in session.execute(
                    select(OutboxEntry.connection_id, OutboxEntry.state, func.count())
                    .where(OutboxEntry.state != OutboxState.SENT)
                    .group_by(OutboxEntry.connection_id, OutboxEntry.state)
                ):
                    outbox.add_metric([names.get(cid, str(cid)), state], n)
                for inbox_cid, n in session.execute(
                    select(InboxEvent.connection_id, func.count())
                    .where(InboxEvent.processed_at.is_(None))
                    .group_by(InboxEvent.connection_id)
                ):
                    inbox.add_metric([names.get(inbox_cid or 0, str(inbox_cid))], n)
        except SQLAlchemyError:
            return  # /readyz reports the database; a scrape must not fail on it
        yield outbox
        yield inbox
