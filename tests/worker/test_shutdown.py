"""Stopping promptly and failing clearly: a stop cancels the running jobs (which give back what
they hold) instead of waiting out a CRM's retries; an unreachable queue is one line."""

from __future__ import annotations

import logging
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
from huey import RedisHuey
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from app.db import session_factory
from app.errors import SecretKeyError
from app.inbox import event_document
from app.models import InboxEvent
from app.runtime import Runtime
from app.service import Service
from app.settings import load_settings
from app.vault import Vault
from app.worker.queue import (
    QueueUnreachable,
    WorkerConsumer,
    _QueueErrorLines,
    _reported,
    wait_for_queue,
)
from connectors.base import ChangeEvent, ChangeKind
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.sync.helpers import NOW


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _events(runtime: Runtime, base_url: str, n: int) -> int:
    with runtime.sessions.begin() as session:
        connection = create_hubspot(
            session,
            runtime.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat-test"),
            base_url=base_url,
            app_type=AppType.UNLIMITED,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        connection.account_id = "1"
        session.flush()
        for i in range(n):
            event = ChangeEvent(f"k{i}", "1", ChangeKind.CREATED, str(i), NOW)
            session.add(
                InboxEvent(
                    source="hubspot",
                    connection_id=connection.id,
                    dedup_key=event.dedup_key,
                    event=event_document(event),
                    received_at=NOW,
                    object_id=event.crm_id,
                )
            )
        return connection.id


def _inbox(runtime: Runtime) -> list[InboxEvent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(InboxEvent)))


def test_a_stop_does_not_wait_out_the_retries_of_an_unreachable_crm(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    # Six attempts a call with 0.5 s doubling backoff: some 15 s of retries against a CRM
    # that refuses every connection, which a stop used to wait for.
    settings = load_settings(data_dir=tmp_path, webhook_coalesce_ms=0, worker_threads=1)
    runtime = Runtime(
        settings, fresh_engine, session_factory(fresh_engine), Vault.from_settings(settings)
    )
    service = Service.wire(runtime, queue_name=f"glengarry-test-{uuid.uuid4().hex[:8]}")
    cid = _events(runtime, f"http://127.0.0.1:{_closed_port()}", 3)
    consumer = service.consumer(embedded=True)
    consumer.start()
    try:
        runtime.wake.inbox(cid)
        deadline = time.monotonic() + 30
        while not all(e.claim_token for e in _inbox(runtime)):  # the job is at work
            assert time.monotonic() < deadline, "the job never claimed the events"
            time.sleep(0.05)  # polling the condition above, with a deadline
    finally:
        started = time.monotonic()
        consumer.stop(graceful=True)
        stopped_in = time.monotonic() - started
        service.huey.flush()
    assert stopped_in < 5, f"the stop took {stopped_in:.1f} s"
    # Stopped, not failed: the events are due again at once, no attempt counted.
    events = _inbox(runtime)
    assert all(e.claim_token is None and e.claimed_until is None for e in events)
    assert all(e.attempts == 0 and e.processed_at is None for e in events)


def test_a_starting_worker_gives_up_on_an_unreachable_queue_in_one_line() -> None:
    port = _closed_port()
    huey = RedisHuey("glengarry-test", url=f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(QueueUnreachable) as failure:
        wait_for_queue(huey, f"redis://127.0.0.1:{port}/0", attempts=3, backoff=0.05)
    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert message.startswith(f"cannot reach the queue at redis://127.0.0.1:{port}/0 after 3")
    assert "Connection refused" in message
    assert "\n" not in message


def test_a_running_worker_stops_when_the_queue_stays_unreachable() -> None:
    port = _closed_port()
    huey = RedisHuey("glengarry-test", url=f"redis://127.0.0.1:{port}/0")
    consumer = WorkerConsumer(huey, label="redis://queue", outage_seconds=0.2, workers=1)
    assert consumer.check_queue() is False  # the first failure starts the count
    deadline = time.monotonic() + 10
    while not consumer.check_queue():
        assert time.monotonic() < deadline
        time.sleep(0.05)  # until the outage outlasts its bound (a condition, with a deadline)
    assert consumer.queue_lost is not None
    assert consumer.queue_lost.startswith("the queue at redis://queue has been unreachable for")


def test_hueys_queue_tracebacks_become_one_line_a_minute() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    def record() -> logging.LogRecord:
        try:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )
        except RedisConnectionError:
            return logging.LogRecord(
                "huey.consumer",
                logging.ERROR,
                "x",
                1,
                "Error reading from queue",
                None,
                sys.exc_info(),
            )

    lines = _QueueErrorLines()
    first = record()
    assert lines.filter(first)
    assert first.exc_info is None
    assert first.getMessage() == (
        "Error reading from queue: ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused."
    )
    assert not lines.filter(record())  # the same again within the minute: dropped


def test_an_expected_job_failure_is_one_error_line_and_a_bug_keeps_its_traceback() -> None:
    with capture_logs() as logs, _reported("process_inbox"):
        raise SecretKeyError("the secret key does not decrypt the credentials of acme")
    assert [(e["event"], e["log_level"]) for e in logs] == [("job failed", "error")]
    assert logs[0]["error"].startswith("SecretKeyError: the secret key does not decrypt")
    with pytest.raises(ZeroDivisionError), _reported("process_inbox"):
        raise ZeroDivisionError
