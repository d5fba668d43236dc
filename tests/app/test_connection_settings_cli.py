"""`glengarry connections pause|resume|delete` and `update --sync-interval`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.models import Connection, Contact
from app.runtime import Runtime
from app.worker import jobs
from tests.api.test_connection_settings import runtime  # noqa: F401 (the fixture)
from tests.cli import Glengarry


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
