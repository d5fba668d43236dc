from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api import create_app
from app.db import make_engine, session_factory
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault


def _runtime(engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path)
    return Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))


def test_healthz_and_readyz_answer_ok_with_a_reachable_database(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    client = TestClient(create_app(_runtime(migrated_engine, tmp_path)))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_readyz_is_503_and_names_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    # Port 9 (discard) refuses connections: a database that is down.
    engine = make_engine("postgresql://nobody@127.0.0.1:9/none", connect_timeout=1)
    client = TestClient(create_app(_runtime(engine, tmp_path)))
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")


def test_a_plain_request_id_is_echoed_and_a_hostile_one_replaced(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    client = TestClient(create_app(_runtime(migrated_engine, tmp_path)))
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id; " + "y" * 100})
    assert hostile.headers["X-Request-ID"] != "bad id; " + "y" * 100
    assert len(hostile.headers["X-Request-ID"]) == 32
