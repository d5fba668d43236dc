"""Marker secrets through the CRM flows: connect (right and wrong token), sync, and webhooks
signed right and wrong. Logs (DEBUG), outputs and the database file must never show them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from connectors.hubspot.signature import sign_v3
from tests.app.test_secrets_never_leak import _run, assert_no_marker
from tests.pipeline.conftest import population

pytestmark = pytest.mark.slow

TOKEN = "pat-na1-MARKER-crm-token-91c2"
WRONG = "pat-na1-MARKER-wrong-token-0b7e"
APP_SECRET = "MARKER-app-secret-5f1d"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_crm_secrets_never_reach_logs_outputs_or_the_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    outputs: list[str] = []
    config = SandboxConfig(rate_limits="off", token=TOKEN, client_secret=APP_SECRET)
    with SandboxServer(config, members=population()) as sandbox:
        base = ["connect", "hubspot", "--base-url", sandbox.base_url]
        for args in (
            [*base, "--name", "bad", "--token", WRONG],
            [*base, "--name", "acme", "--token", TOKEN, "--client-secret", APP_SECRET],
            ["sync", "acme"],
        ):
            result = _run(args, data)
            outputs += [result.stdout, result.stderr]
        assert "refused" in outputs[1]
        assert json.loads(outputs[2])["connection"] == "acme"

        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
        env |= {"GLENGARRY_DATA_DIR": str(data), "GLENGARRY_LOG_LEVEL": "DEBUG"}
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/webhooks/hubspot/acme"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)  # polling for the server to listen, with a deadline
            body = json.dumps(
                [
                    {
                        "eventId": 1,
                        "subscriptionId": 1,
                        "portalId": sandbox.config.portal_id,
                        "occurredAt": 1_790_000_000_000,
                        "subscriptionType": "contact.propertyChange",
                        "objectId": 101,
                        "propertyName": "jobtitle",
                        "propertyValue": "CEO",
                    }
                ]
            ).encode()
            ts = str(int(time.time() * 1000))
            good = sign_v3(APP_SECRET, "POST", url, body, int(ts))
            forged = "MARKER-forged-signature-" + good[:10]
            for signature in (forged, good):
                answer = httpx.post(
                    url,
                    content=body,
                    headers={
                        "X-HubSpot-Signature-v3": signature,
                        "X-HubSpot-Request-Timestamp": ts,
                    },
                )
                outputs.append(answer.text)
            assert json.loads(outputs[-2]) == {"detail": "signature refused"}
            assert json.loads(outputs[-1])["stored"] == 1
        finally:
            server.terminate()
            out, err = server.communicate(timeout=20)
            outputs += [out, err]
    # The refusal's reason is in the service's log (a warning), and each request in its access log.
    assert "webhook signature refused" in err
    assert "v3 signature does not match" in err
    assert '"route": "/webhooks/hubspot/{connection}"' in err
    markers = [TOKEN, WRONG, APP_SECRET, "MARKER-forged-signature"]
    assert_no_marker("\n".join(outputs), markers)
    for path in data.glob("*.db*"):
        assert_no_marker(path.read_bytes(), markers)
