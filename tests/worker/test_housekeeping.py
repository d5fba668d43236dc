"""The sweeper re-wakes what the queue may have lost; the inbox is pruned after its retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, select

from app.clock import ManualClock
from app.db import session_factory
from app.models import InboxEvent, OutboxEntry, OutboxState
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.store import store_contacts
from app.vault import Vault
from app.worker import jobs
from connectors.base import CrmContact
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker


def _runtime(engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, inbox_retention_days=30)
    rt = Runtime(
        settings, engine, session_factory(engine), Vault.from_settings(settings), ManualClock(NOW)
    )
    rt.wake = RecordingWaker()
    return rt


def _event(connection_id: int, key: str, **columns: object) -> InboxEvent:
    return InboxEvent(
        source="hubspot", connection_id=connection_id, dedup_key=key, event={}, **columns
    )


def test_the_sweeper_wakes_connections_with_due_work_only(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    with rt.sessions.begin() as session:
        idle, waiting, writing = (add_connection(session, n) for n in ("idle", "wait", "write"))
        session.add(_event(idle, "done", received_at=NOW, processed_at=NOW))
        session.add(
            _event(idle, "claimed", received_at=NOW, claimed_until=NOW + timedelta(minutes=1))
        )
        session.add(_event(waiting, "new", received_at=NOW))
        ids = store_contacts(session, writing, [CrmContact("1", {}, NOW)], NOW)
        session.add(
            OutboxEntry(
                connection_id=writing,
                contact_id=ids["1"],
                field_values={},
                state=OutboxState.PENDING,
                next_attempt_at=NOW - timedelta(seconds=1),
            )
        )
    assert jobs.sweep(rt) == {"inbox": [waiting], "outbox": [writing], "abandoned_runs": []}
    assert cast(RecordingWaker, rt.wake).inboxes == [waiting]
    assert cast(RecordingWaker, rt.wake).relays == [writing]


def test_processed_events_older_than_the_retention_are_pruned(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _runtime(fresh_engine, tmp_path)
    with rt.sessions.begin() as session:
        conn = add_connection(session)
        session.add(_event(conn, "old", received_at=NOW, processed_at=NOW - timedelta(days=31)))
        session.add(_event(conn, "recent", received_at=NOW, processed_at=NOW - timedelta(days=29)))
        session.add(_event(conn, "unprocessed-old", received_at=NOW - timedelta(days=90)))
    assert jobs.prune_inbox(rt) == 1
    with rt.sessions() as session:
        kept = set(session.scalars(select(InboxEvent.dedup_key)))
    assert kept == {"recent", "unprocessed-old"}
