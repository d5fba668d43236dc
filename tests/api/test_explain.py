"""Why a contact has its status, after a real sync: signals and points, engagement decayed to
now (it falls as the clock moves), thresholds, transitions, what was written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.api import create_app
from app.clock import ManualClock
from app.db import session_factory
from app.models import Connection
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import SyncRunner
from app.vault import Vault
from connectors.base import ContactBatch, CrmActivity, CrmContact, FieldWrite, WriteOutcome
from tests.sync.helpers import NOW, add_connection
from tests.wakers import RecordingWaker

TOKEN = "explain-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
VP = {"email": "vp@acme.test", "jobtitle": "VP Sales", "industry": "COMPUTER_SOFTWARE"}


class Crm:
    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        yield ContactBatch([CrmContact("501", VP, NOW - timedelta(days=1))], "c1")

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        return [
            CrmActivity(f"reply-{i}", "501", "email_reply", NOW - timedelta(days=i)) for i in (1, 2)
        ]

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        return WriteOutcome([], {})

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def runtime(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    return await synced(fresh_engine, tmp_path)


async def synced(fresh_engine: Engine, tmp_path: Path) -> Runtime:
    """Two connections; acme synced once: one VP contact with two email replies."""
    settings = load_settings(data_dir=tmp_path, api_token=TOKEN)
    rt = Runtime(
        settings,
        fresh_engine,
        session_factory(fresh_engine),
        Vault.from_settings(settings),
        ManualClock(NOW),
    )
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        add_connection(session, "acme")
        add_connection(session, "other")
        for connection in session.scalars(select(Connection)):
            connection.writes_enabled = False
    crm = Crm()
    await SyncRunner(rt, "acme", connector_factory=lambda *_a, **_k: crm).run()
    return rt


def test_a_contact_is_explained(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    answer = client.get("/connections/acme/contacts/501/qualification", headers=ADMIN)
    assert answer.status_code == 200
    body = answer.json()
    assert body["contact"]["crm_id"] == "501"
    why = body["qualification"]
    assert why["status"] in {"sales_ready", "poor_fit", "nurture"}
    signals = {r["signal"]: r["points"] for r in why["fit_reasons"]}
    assert signals["title_vp"] == 25
    assert signals["icp_industry"] == 20
    assert why["thresholds"]["fit"] >= 0
    assert why["criteria_active"] is True
    (reply,) = why["engagement_now"]["signals"]
    assert reply["signal"] == "email_reply"
    assert why["transitions"][0]["to"] == why["status"]
    assert why["transitions"][0]["from"] is None
    assert why["written"] == {"values": None, "at": None}
    # The same contact by its own id; and its engagement has faded a week later.
    later = client.get(f"/contacts/{body['contact']['id']}/qualification", headers=ADMIN).json()
    assert later["qualification"]["engagement_now"] == why["engagement_now"]
    cast(ManualClock, runtime.clock).advance(timedelta(days=7))
    faded = client.get(f"/contacts/{body['contact']['id']}/qualification", headers=ADMIN).json()
    now = faded["qualification"]["engagement_now"]
    assert 0 < now["points"] < why["engagement_now"]["points"]


def test_unknown_contacts_and_other_connections_are_404(runtime: Runtime, glengarry: Any) -> None:
    client = TestClient(create_app(runtime))
    assert client.get("/contacts/999/qualification", headers=ADMIN).status_code == 404
    assert client.get("/connections/acme/contacts/9/qualification", headers=ADMIN).status_code == (
        404
    )
    made = glengarry("apikey", "create", "--name", "o", "--scope", "read", "--connection", "other")
    bound = {"Authorization": f"Bearer {made.json()['key']}"}
    assert client.get("/contacts/1/qualification", headers=bound).status_code == 404
    assert client.get(
        "/connections/acme/contacts/501/qualification", headers=bound
    ).status_code == (404)
    assert client.get("/contacts/1/qualification").status_code == 401


def test_contacts_are_listed_filtered_and_paged(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    (row,) = client.get("/connections/acme/contacts", headers=ADMIN).json()["contacts"]
    assert (row["crm_id"], row["email"]) == ("501", "vp@acme.test")
    status = row["status"]
    for query, found in (
        (f"status={status}", 1),
        ("status=disqualified", 0),
        ("q=VP%40", 1),
        ("q=50", 1),
        ("q=%25", 0),  # a literal %, not a wildcard
        ("q=_", 0),
        (f"cursor={row['id']}", 0),
    ):
        page = client.get(f"/connections/acme/contacts?{query}", headers=ADMIN).json()
        assert len(page["contacts"]) == found, query
        assert page["next_cursor"] is None
    for bad in ("q=a%00b", "cursor=x", "status=Nope!", "limit=0"):
        assert client.get(f"/connections/acme/contacts?{bad}", headers=ADMIN).status_code == 422
    assert client.get("/connections/other/contacts", headers=ADMIN).json()["contacts"] == []
