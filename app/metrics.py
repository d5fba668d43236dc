"""Prometheus metrics: counters kept by this process, gauges read from the database at scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.models import Connection, InboxEvent, OutboxEntry, OutboxState

REGISTRY = CollectorRegistry()
# The private registry still carries what the default one would: process CPU, memory and file
# descriptors, the Python version, and garbage collection.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

EVENTS = Counter(
    "glengarry_webhook_events_total",
    "Webhook events by outcome: received, duplicate, ignored (portal not served), processed, "
    "sparse (carrying less than the set-up asks for: re-read all the same).",
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
INBOX_STAGE = Histogram(
    "glengarry_inbox_stage_seconds",
    "Where inbox processing's time goes: waiting (per event, from receipt to its batch's "
    "claim), and per batch claim, crm_read (reads, the API budget's pacing included), "
    "database (storing what was read or carried, and the commit), scoring, write_back.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
INBOX_CONTACTS = Counter(
    "glengarry_inbox_contacts_total",
    "Contacts inbox batches updated, by how: read (from the CRM), carried (the values "
    "their events carried, no CRM call) or named (only the activity records their events "
    "named were read).",
    ["connection", "how"],
    registry=REGISTRY,
)
INBOX_CRM_CALLS = Counter(
    "glengarry_inbox_crm_calls_total",
    "CRM API calls made by inbox batches: read (contacts, activities, outcomes) or write_back.",
    ["connection", "what"],
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
SIGNATURES_REFUSED = Counter(
    "glengarry_webhook_signatures_refused_total",
    "Webhook deliveries refused before parsing, by URL (connection or app), connection (empty "
    "where none is known) and reason: missing, malformed, stale, mismatch, no_secret, "
    "unknown_connection.",
    ["url", "connection", "reason"],
    registry=REGISTRY,
)
WAKEUPS_FAILED = Counter(
    "glengarry_queue_wakeups_failed_total",
    "Work stored but not signalled to the queue (unreachable); the sweeper wakes it within a "
    "minute.",
    ["job"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "glengarry_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "glengarry_http_request_duration_seconds",
    "Time to answer an HTTP request (until the response headers), by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
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
        # Every connection exports every backlog, 0 included: an absent series cannot be told
        # from a scrape that failed, and "staying low" needs a line to watch.
        backlog = [s for s in OutboxState if s is not OutboxState.SENT]
        try:
            with self._sessions() as session:
                names = dict(session.execute(select(Connection.id, Connection.name)).all())
                rows = {(name, state.value): 0 for name in names.values() for state in backlog}
                unprocessed = dict.fromkeys(names.values(), 0)
                for cid, state, n in session.execute(
                    select(OutboxEntry.connection_id, OutboxEntry.state, func.count())
                    .where(OutboxEntry.state != OutboxState.SENT)
                    .group_by(OutboxEntry.connection_id, OutboxEntry.state)
                ):
                    rows[(names.get(cid, str(cid)), state)] = n
                for inbox_cid, n in session.execute(
                    select(InboxEvent.connection_id, func.count())
                    .where(InboxEvent.processed_at.is_(None))
                    .group_by(InboxEvent.connection_id)
                ):
                    unprocessed[names.get(inbox_cid or 0, str(inbox_cid))] = n
        except SQLAlchemyError:
            return  # /readyz reports the database; a scrape must not fail on it
        for (name, state), n in sorted(rows.items()):
            outbox.add_metric([name, state], n)
        for name, n in sorted(unprocessed.items()):
            inbox.add_metric([name], n)
        yield outbox
        yield inbox
