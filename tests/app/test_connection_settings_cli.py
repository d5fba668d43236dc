"""`glengarry connections pause|resume|delete` and `update --sync-interval|--budget-share`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, func, select

from app.cli import operations
from app.models import AuditEntry, Connection, Contact, SyncRun
from app.ratelimits import limiter_for
from app.runtime import Runtime
from app.worker import jobs
from connectors.http import RateLimiter
from tests.api.test_connection_settings import runtime  # noqa: F401 (the fixture)
from tests.cli import Glengarry, table_cells, table_rows
from tests.wakers import RecordingWaker


def _row(rt: Runtime, name: str) -> Connection | None:
    with rt.sessions() as session:
        return session.scalar(select(Connection).where(Connection.name == name))


def test_pause_resume_and_unknown(runtime: Runtime, glengarry: Glengarry) -> None:  # noqa: F811
    assert glengarry("connections", "pause", "acme").json() == {"name": "acme", "paused": True}
    row = _row(runtime, "acme")
    assert row is not None
    assert row.paused
    assert row.id not in jobs.due_syncs(runtime)
    assert glengarry("connections", "resume", "acme").json()["paused"] is False
    assert glengarry("connections", "pause", "nope").code == 2


def test_pause_resume_and_delete_show_a_table_on_a_terminal(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    for command, paused in (("pause", "True"), ("resume", "False")):
        done = glengarry("connections", command, "acme")
        assert done.code == 0, done.stderr
        assert "{" not in done.stdout
        assert table_cells(done.stdout) == {"name": "acme", "paused": paused}
    deleted = glengarry("connections", "delete", "acme", "--yes")
    assert deleted.code == 0, deleted.stderr
    assert table_cells(deleted.stdout) == {"name": "acme", "deleted": "True", "purged": "False"}


def test_the_connection_list_and_the_writes_switch_show_tables_on_a_terminal(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = glengarry("connections", "list")
    assert piped.code == 0, piped.stderr
    assert piped.json()["name"] == "acme"  # a JSON line each, off a terminal
    monkeypatch.setattr(operations, "_terminal", lambda: True)
    listed = glengarry("connections", "list")
    assert listed.code == 0, listed.stderr
    assert "{" not in listed.stdout
    assert "writes_enabled" in listed.stdout  # the header
    assert ["acme", "hubspot"] in [row[:2] for row in table_rows(listed.stdout)]
    writes = glengarry("connections", "writes", "acme", "--off")
    assert writes.code == 0, writes.stderr
    assert table_cells(writes.stdout) == {"name": "acme", "writes_enabled": "False"}


def test_update_sets_the_sync_interval(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    tmp_path: Path,
) -> None:
    env = {"GLENGARRY_DATA_DIR": str(tmp_path)}  # the runtime's secret key decrypts acme
    bad = glengarry("connections", "update", "acme", "--sync-interval", "5s", env=env)
    assert bad.code != 0
    done = glengarry("connections", "update", "acme", "--sync-interval", "30m", env=env)
    assert done.code == 0, done.stderr
    assert "sync_interval_seconds" in done.json()["changed"]
    row = _row(runtime, "acme")
    assert row is not None
    assert row.sync_interval_seconds == 1800


@pytest.mark.parametrize("purge", [False, True])
def test_delete_asks_unless_yes_and_purges_only_when_told(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    fresh_engine: Engine,
    tmp_path: Path,
    purge: bool,
) -> None:
    acme = _row(runtime, "acme")
    assert acme is not None
    with runtime.sessions.begin() as session:
        session.add(Contact(connection_id=acme.id, crm_id="1", properties={}))
    extra = ["--purge"] if purge else []
    asked = glengarry("connections", "delete", "acme", *extra, input="n\n")
    assert asked.code != 0
    assert _row(runtime, "acme") is not None
    done = glengarry("connections", "delete", "acme", *extra, "--yes")
    assert done.json() == {"name": "acme", "deleted": True, "purged": purge}
    assert glengarry("connections", "show", "acme").code == 2
    with runtime.sessions() as session:
        contacts = session.scalar(
            select(func.count()).select_from(Contact).where(Contact.connection_id == acme.id)
        )
    assert contacts == (0 if purge else 1)
    assert (_row(runtime, "acme") is None) is purge


@pytest.mark.parametrize("share", ["0", "-0.5", "1.5", "nan"])
def test_update_refuses_a_budget_share_outside_its_bounds(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    tmp_path: Path,
    share: str,
) -> None:
    env = {"GLENGARRY_DATA_DIR": str(tmp_path)}
    refused = glengarry("connections", "update", "acme", "--budget-share", share, env=env)
    assert refused.code == 2
    assert "more than 0 and at most 1" in refused.stderr
    row = _row(runtime, "acme")
    assert row is not None
    assert row.api_budget_share == 0.5


def test_update_sets_the_budget_share_audited_and_the_limiter_follows_it(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    tmp_path: Path,
) -> None:
    row = _row(runtime, "acme")
    assert row is not None
    limiters: dict[Any, RateLimiter] = {}

    def day_limit(connection: Connection) -> str:
        limiter = limiter_for(runtime.settings, limiters, connection)
        (day,) = [limit for limit in limiter.buckets["general"] if limit.scope == "day"]
        return day.rate

    assert day_limit(row) == "325000/day"  # half a Pro portal's 650,000
    env = {"GLENGARRY_DATA_DIR": str(tmp_path)}
    done = glengarry("connections", "update", "acme", "--budget-share", "0.005", env=env)
    assert done.code == 0, done.stderr
    assert done.json()["changed"] == ["api_budget_share"]
    row = _row(runtime, "acme")
    assert row is not None
    assert row.api_budget_share == 0.005
    # The process's limiters are keyed by the share: the next call draws on the new budget.
    assert day_limit(row) == "3250/day"
    with runtime.sessions() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.connection, entry.details) == (
        "connection.settings",
        "acme",
        {"setting": "api_budget_share", "from": 0.5, "to": 0.005},
    )
    assert entry.actor.startswith("cli:")
    same = glengarry("connections", "update", "acme", "--budget-share", "0.005", env=env)
    assert same.json()["changed"] == []


def test_sync_refuses_a_paused_connection_and_a_queued_run_waits_for_the_resume(
    runtime: Runtime,  # noqa: F811
    glengarry: Glengarry,
    tmp_path: Path,
) -> None:
    env = {"GLENGARRY_DATA_DIR": str(tmp_path)}
    queued = glengarry("sync", "acme", "--queue", env=env).json()["run"]
    assert glengarry("connections", "pause", "acme").code == 0
    for extra in ((), ("--queue",), ("--full", "--dry-run")):
        refused = glengarry("sync", "acme", *extra, env=env)
        assert refused.code == 5, extra
        assert refused.stdout == ""
        assert (
            "connection 'acme' is paused: no sync runs until `glengarry connections resume acme`"
            in refused.stderr
        )
    with runtime.sessions() as session:
        runs = session.execute(select(SyncRun.id, SyncRun.state)).all()
    assert [tuple(r) for r in runs] == [(queued, "queued")]  # none started, none added
    # A worker woken for the run queued before the pause leaves it queued; the sweeper does not
    # wake it again until the connection is resumed.
    waker = cast(RecordingWaker, runtime.wake)
    acme = _row(runtime, "acme")
    assert acme is not None
    assert asyncio.run(jobs.incremental_sync(runtime, acme.id, run_id=queued)) is None
    waker.sync_runs.clear()
    jobs.sweep(runtime)
    assert waker.sync_runs == []
    assert glengarry("connections", "resume", "acme").code == 0
    jobs.sweep(runtime)
    assert waker.sync_runs == [(acme.id, queued)]
    with runtime.sessions() as session:
        assert session.scalar(select(SyncRun.state).where(SyncRun.id == queued)) == "queued"
