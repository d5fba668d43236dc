"""`glengarry runs`, `rejects [--retry]` and `explain`, on a synced connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.models import AuditEntry, Contact, OutboxEntry, SyncRun
from app.runtime import Runtime
from tests.api.test_explain import synced
from tests.cli import Glengarry


@pytest.fixture
async def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return await synced(fresh_engine, tmp_path)


def test_runs_lists_the_connections_syncs(runtime: Runtime, glengarry: Glengarry) -> None:
    done = glengarry("runs", "acme")
    assert done.code == 0, done.stderr
    (run,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (run["kind"], run["state"], run["progress"]["done"]) == ("backfill", "succeeded", 1)
    assert glengarry("runs", "nope").code != 0


def test_explain_says_why(runtime: Runtime, glengarry: Glengarry) -> None:
    done = glengarry("explain", "acme", "501")
    assert done.code == 0, done.stderr
    why = json.loads(done.stdout)
    assert why["contact"]["crm_id"] == "501"
    assert {r["signal"] for r in why["qualification"]["fit_reasons"]} >= {"title_vp"}
    missing = glengarry("explain", "acme", "999")
    assert missing.code != 0
    assert "no contact '999'" in missing.stderr


def test_rejects_are_listed_and_retried(runtime: Runtime, glengarry: Glengarry) -> None:
    with runtime.sessions.begin() as session:
        contact = session.scalars(select(Contact)).one()
        for entry in session.scalars(select(OutboxEntry)):
            session.delete(entry)
        session.flush()
        session.add(
            OutboxEntry(
                connection_id=contact.connection_id,
                contact_id=contact.id,
                field_values={"glengarry_status": "nurture"},
                state="failed",
                attempts=1,
                last_error="INVALID_FIELD: no such property",
            )
        )
    (listed,) = [json.loads(line) for line in glengarry("rejects", "acme").stdout.splitlines()]
    assert (listed["crm_id"], listed["reason"]) == ("501", "INVALID_FIELD: no such property")
    retried = glengarry("rejects", "acme", "--retry")
    assert json.loads(retried.stdout) == {"connection": "acme", "queued": 1}
    assert glengarry("rejects", "acme").stdout == ""
    with runtime.sessions() as session:
        assert session.scalars(select(AuditEntry.action)).all() == ["rejects.retry"]


def test_sync_queue_hands_the_run_to_the_workers(runtime: Runtime, glengarry: Glengarry) -> None:
    queued = glengarry("sync", "acme", "--queue", "--full")
    assert queued.code == 0, queued.stderr
    answer = json.loads(queued.stdout)
    assert answer["state"] == "queued"
    with runtime.sessions() as session:
        run = session.get(SyncRun, answer["run"])
        assert run is not None
        assert (run.kind, run.state) == ("backfill", "queued")
    again = glengarry("sync", "acme", "--queue")
    assert again.code == 4
    assert f"sync {answer['run']} of acme is queued" in again.stderr
