"""`glengarry serve` as a process: SIGTERM stops it promptly even while a job retries a CRM
that refuses every connection (it used to wait out the retries, some 17 s)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.models import InboxEvent
from app.runtime import Runtime
from app.settings import load_settings
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot

pytestmark = pytest.mark.slow
SECRET = "serve-process-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _deliver(base_url: str) -> int:
    body = json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionId": 3,
                "portalId": 1,
                "appId": 9,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "contact.creation",
                "attemptNumber": 0,
                "objectId": 101,
            }
        ]
    ).encode()
    ts = int(datetime.now(UTC).timestamp() * 1000)
    url = f"{base_url}/webhooks/hubspot/acme"
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts),
        "X-HubSpot-Request-Timestamp": str(ts),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


def test_sigterm_stops_serve_promptly_while_a_job_retries(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    runtime = Runtime.from_settings(settings)
    with runtime.sessions.begin() as session:
        connection = create_hubspot(
            session,
            runtime.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat-x", app_client_secret=SECRET),
            base_url=f"http://127.0.0.1:{_free_port()}",  # nothing listens: refused, retried
            app_type=AppType.UNLIMITED,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        connection.account_id = "1"
    runtime.engine.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    env |= {
        "GLENGARRY_DATA_DIR": str(tmp_path),
        "GLENGARRY_PORT": str(port),
        "GLENGARRY_WEBHOOK_COALESCE_MS": "0",
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            assert time.monotonic() < deadline, "serve never answered"
            time.sleep(0.1)  # polling for the port to open, with a deadline
        assert _deliver(base_url) == 200
        runtime = Runtime.from_settings(settings)
        while True:  # until the job has claimed the event and is retrying the CRM
            with runtime.sessions() as session:
                if session.scalar(select(InboxEvent.claim_token)):
                    break
            assert time.monotonic() < deadline, "the job never claimed the event"
            time.sleep(0.05)  # polling the condition above, with a deadline
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
    assert stopped_in < 6, f"serve took {stopped_in:.1f} s to stop"
    assert "Traceback" not in err
    with runtime.sessions() as session:
        event = session.scalars(select(InboxEvent)).one()
    # Given back on the way out: due again at once for the next process, no attempt counted.
    assert (event.claim_token, event.claimed_until, event.attempts) == (None, None, 0)
