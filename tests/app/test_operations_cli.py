"""`glengarry runs`, `rejects [--retry]` and `explain`, on a synced connection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.audit import cli_actor
from app.cli import context, operations
from app.models import ApiUsage, AuditEntry, Contact, FieldInstallState, OutboxEntry, SyncRun
from app.runtime import Runtime
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.api.test_explain import synced
from tests.cli import Glengarry, table_cells, table_rows
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


def test_explain_shows_tables_on_a_terminal(
    runtime: Runtime, glengarry: Glengarry, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = glengarry("explain", "acme", "501").json()["qualification"]
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    done = glengarry("explain", "acme", "501")
    assert done.code == 0, done.stderr
    assert not done.stdout.lstrip().startswith("{")
    cells = table_cells(done.stdout)
    for name in ("status", "score", "fit", "engagement", "next_change_at"):
        assert cells[name] == str(why[name]), name
    assert cells["override"] == ""
    assert cells["thresholds"].startswith(f"fit={why['thresholds']['fit']}, engagement=")
    rows = table_rows(done.stdout)
    # Fit signals with their points, engagement signals decayed to now, the transitions.
    assert ["title_vp", "VP-level title", "+25"] in rows
    assert ["no_company", "no company name", "-5"] in rows
    (now,) = why["engagement_now"]["signals"]
    assert [now["signal"], now["label"], f"{now['points']:+g}"] == next(
        row[:3] for row in rows if len(row) == 4 and row[0] == "email_reply"
    )
    assert any(len(row) == 5 and row[2] == "nurture" for row in rows)
    for title in ("contact 501", "fit signals", "engagement now", "transitions"):
        assert title in done.stdout


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


def test_sync_queue_shows_a_table_on_a_terminal(
    runtime: Runtime, glengarry: Glengarry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    queued = glengarry("sync", "acme", "--queue")
    assert queued.code == 0, queued.stderr
    cells = table_cells(queued.stdout)
    assert cells["state"] == "queued"
    with runtime.sessions() as session:
        run = session.get(SyncRun, int(cells["run"]))
        assert run is not None
        assert run.state == "queued"


def _spent_budget() -> datetime:
    """acme, whose day's budget (1% of a Pro portal's 650,000) is spent already: the limiter
    refuses the first call, before any reaches the (absent) CRM, and knows when its window
    frees one."""
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
    return today


def test_a_sync_paused_on_the_budget_says_when_it_resumes(
    fresh_engine: Engine, glengarry: Glengarry
) -> None:
    today = _spent_budget()
    done = glengarry("sync", "acme")
    assert done.code == 0, done.stderr
    paused = done.json()
    assert paused["state"] == "paused"
    assert "day limit 6500/day reached" in paused["message"]
    resumes_at = datetime.fromisoformat(paused["resumes_at"])
    assert today + timedelta(days=1) <= resumes_at <= datetime.now(UTC) + timedelta(days=1)
    (run,) = [json.loads(line) for line in glengarry("runs", "acme").stdout.splitlines()]
    assert (run["state"], run["resumes_at"]) == ("paused", paused["resumes_at"])


def test_a_sync_shows_its_answer_as_a_table_on_a_terminal(
    fresh_engine: Engine, glengarry: Glengarry, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spent_budget()
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    done = glengarry("sync", "acme")
    assert done.code == 0, done.stderr
    cells = table_cells(done.stdout)
    assert cells["state"] == "paused"
    assert cells["run"].isdigit()
    assert "day limit 6500/day" in cells["message"]
    assert cells["resumes_at"]


def test_cancel_stops_a_queued_run_at_once_and_asks_a_running_one_to_stop(
    runtime: Runtime, glengarry: Glengarry
) -> None:
    queued = glengarry("sync", "acme", "--queue").json()["run"]
    done = glengarry("cancel", str(queued))
    assert done.code == 0, done.stderr
    cancelled = done.json()
    assert (cancelled["id"], cancelled["connection"], cancelled["state"]) == (
        queued,
        "acme",
        "cancelled",
    )
    assert cancelled["finished_at"] is not None
    assert cancelled["error"] == "cancelled before it started"

    again = glengarry("cancel", str(queued))  # it has ended: the API's 409
    assert again.code == 4
    assert f"sync {queued} has ended (cancelled): nothing to cancel" in again.stderr
    unknown = glengarry("cancel", "99999")
    assert (unknown.code, unknown.stdout) == (2, "")
    assert "no sync 99999" in unknown.stderr
    assert glengarry("cancel", "0").code == 2  # not a run id at all (a usage error)

    # A running one is asked to stop: the worker reads `cancelling` at its next batch boundary.
    with runtime.sessions.begin() as session:
        running = session.get(SyncRun, queued - 1)
        assert running is not None
        assert running.state == "succeeded"
        running.state, running.finished_at = "running", None
    stopping = glengarry("cancel", str(queued - 1))
    assert stopping.code == 0, stopping.stderr
    assert (stopping.json()["state"], stopping.json()["finished_at"]) == ("cancelling", None)
    with runtime.sessions() as session:
        stopped = session.get(SyncRun, queued - 1)
        assert stopped is not None
        assert stopped.state == "cancelling"
        log = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.details)
            .where(AuditEntry.action == "sync.cancel")
            .order_by(AuditEntry.id)
        ).all()
    me = cli_actor()
    assert [tuple(row) for row in log] == [
        (me, "sync.cancel", str(queued), {"state": "cancelled"}),
        (me, "sync.cancel", str(queued - 1), {"state": "cancelling"}),
    ]  # the refused ones are not


def test_cancel_shows_a_table_on_a_terminal(
    runtime: Runtime, glengarry: Glengarry, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = glengarry("sync", "acme", "--queue").json()["run"]
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    done = glengarry("cancel", str(queued))
    assert done.code == 0, done.stderr
    cells = {
        parts[0]: parts[1]
        for line in done.stdout.splitlines()
        if len(parts := [p.strip() for p in line.strip("│").split("│")]) == 2
    }
    assert (cells["id"], cells["connection"], cells["state"]) == (str(queued), "acme", "cancelled")
    assert cells["error"] == "cancelled before it started"
