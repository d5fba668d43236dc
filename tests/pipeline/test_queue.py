"""The real queue: huey's consumer beside the web server wakes the jobs on its own.

SQLite pass: the embedded SqliteHuey file. PostgreSQL pass: RedisHuey (127.0.0.1:6379),
as in the scaled set-up.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.api import create_app
from app.db import session_factory
from app.models import Contact, InboxEvent, QualificationRecord
from app.runtime import Runtime
from app.service import Service
from app.serving import ServerThread
from app.settings import load_settings
from app.sync.run import SyncRunner
from app.vault import Vault
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.sandbox.simulate import simulate
from tests.conftest import BACKEND, REDIS_URL
from tests.hubspot_connections import HubSpotCredentials, connect_hubspot
from tests.pipeline.conftest import population

SECRET = "queue-test-secret"


def _runtime(engine: Engine, tmp_path: Path) -> Runtime:
    settings = load_settings(
        data_dir=tmp_path,
        queue_url=REDIS_URL if BACKEND == "postgresql" else None,
        webhook_coalesce_ms=50,
        worker_threads=2,
    )
    return Runtime(settings, engine, session_factory(engine), Vault.from_settings(settings))


def _settled(runtime: Runtime, sandbox: SandboxServer, touched: list[str]) -> bool:
    with runtime.sessions() as session:
        waiting = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.processed_at.is_(None))
        )
        written = dict(
            session.execute(
                select(Contact.crm_id, QualificationRecord.written_values)
                .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
                .where(Contact.crm_id.in_(touched))
            ).all()
        )
    if waiting:
        return False
    for crm_id in touched:
        values = written.get(crm_id) or {}
        obj = sandbox.store.get("contacts", crm_id)
        if obj is None or obj.properties.get("glengarry_score") != values.get("glengarry_score"):
            return False
    return True


async def test_webhooks_are_processed_by_the_consumer_without_being_asked(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(fresh_engine, tmp_path)
    service = Service.wire(runtime, queue_name=f"glengarry-test-{uuid.uuid4().hex[:8]}")
    consumer = service.consumer(embedded=True)
    try:
        with ServerThread(create_app(runtime, consumer=consumer)) as receiver:
            config = SandboxConfig(
                rate_limits="off",
                client_secret=SECRET,
                webhook_url=f"{receiver.base_url}/webhooks/hubspot/acme",
            )
            with SandboxServer(config, members=population()) as sandbox:
                await connect_hubspot(
                    runtime,
                    name="acme",
                    credentials=HubSpotCredentials(token="sandbox-token", app_client_secret=SECRET),
                    base_url=sandbox.base_url,
                )
                await SyncRunner(runtime, "acme").run()
                touched = simulate(sandbox.store, random.Random(9), 10, 3)
                assert sandbox.flush_webhooks(timeout=20)
                deadline = time.monotonic() + 60
                while not _settled(runtime, sandbox, touched):
                    assert time.monotonic() < deadline, "the consumer did not process the events"
                    time.sleep(0.05)  # polling the condition above, with a deadline
            assert TestClient(create_app(runtime)).get("/readyz").json()["checks"]["queue"] == "ok"
    finally:
        service.huey.flush()
