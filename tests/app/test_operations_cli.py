"""`glengarry runs`, `rejects [--retry]` and `explain`, on a synced connection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.cli import context
from app.models import ApiUsage, AuditEntry, Contact, FieldInstallState, OutboxEntry, SyncRun
from app.runtime import Runtime
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.api.test_explain import synced
from tests.cli import Glengarry
from tests.hubspot_connections import HubSpotCredentials, create_hubspot


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


def test_a_sync_paused_on_the_budget_says_when_it_resumes(
    fresh_engine: Engine, glengarry: Glengarry
) -> None:
    # The day's budget (1% of a Pro portal's 650,000) is spent already: the limiter refuses the
    # first call, before any reaches the (absent) CRM, and knows when its window frees one.
    cli_runtime = context.runtime()
    today = datetime.now(UTC)
    with cli_runtime.sessions.begin() as session:
        acme = create_hubspot(
            session,
            cli_runtime.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat"),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.01,
        )
        acme.field_state = FieldInstallState.INSTALLED
        session.flush()
        session.add(ApiUsage(connection_id=acme.id, day=today.date(), endpoint="x", calls=6500))
    context.reset()
    done = glengarry("sync", "acme")
    assert done.code == 0, done.stderr
    paused = done.json()
    assert paused["state"] == "paused"
    assert "day limit 6500/day reached" in paused["message"]
    resumes_at = datetime.fromisoformat(paused["resumes_at"])
    assert today + timedelta(days=1) <= resumes_at <= datetime.now(UTC) + timedelta(days=1)
    (run,) = [json.loads(line) for line in glengarry("runs", "acme").stdout.splitlines()]
    assert (run["state"], run["resumes_at"]) == ("paused", paused["resumes_at"])
