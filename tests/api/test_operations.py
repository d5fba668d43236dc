"""The operations API: off without a token, refuses a wrong one, queues resyncs."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api import create_app
from app.connections import HubSpotCredentials, create_hubspot
from app.db import session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion
from tests.wakers import RecordingWaker

TOKEN = "ops-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _runtime(engine: Engine, tmp_path: Path, token: str | None) -> Runtime:
    settings = load_settings(data_dir=tmp_path, api_token=token)
    rt = Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        create_hubspot(
            session,
            rt.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat"),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
    return rt


def test_without_a_configured_token_the_api_is_off(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, None)))
    answer = client.get("/connections", headers=AUTH)
    assert answer.status_code == 403
    assert "GLENGARRY_API_TOKEN" in answer.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_a_missing_or_wrong_token_is_401(
    fresh_engine: Engine, tmp_path: Path, headers: dict[str, str]
) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    assert client.get("/connections", headers=headers).status_code == 401


def test_connections_are_listed_and_a_resync_is_queued(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path, TOKEN)
    client = TestClient(create_app(runtime))
    (listed,) = client.get("/connections", headers=AUTH).json()
    assert listed["name"] == "acme"
    assert listed["last_run"] is None
    answer = client.post("/connections/acme/resync", json={"full": True}, headers=AUTH)
    assert answer.status_code == 202
    assert client.post("/connections/acme/resync", headers=AUTH).json()["queued"] == "incremental"
    assert cast(RecordingWaker, runtime.wake).syncs == [(listed["id"], True), (listed["id"], False)]
    assert client.get("/connections/acme/runs", headers=AUTH).json() == []


def test_bad_requests_name_the_problem(fresh_engine: Engine, tmp_path: Path) -> None:
    client = TestClient(create_app(_runtime(fresh_engine, tmp_path, TOKEN)))
    assert client.post("/connections/nope/resync", headers=AUTH).status_code == 404
    bad = client.post("/connections/acme/resync", json={"everything": True}, headers=AUTH)
    assert bad.status_code == 422
    assert "everything" in str(bad.json()["detail"])
    assert client.get("/connections/acme/runs?limit=0", headers=AUTH).status_code == 422
