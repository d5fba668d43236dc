"""`glengarry sandbox salesforce --outbound-url URL`: Lead and Contact Outbound Messages set up
from the start, and simulated activity reaching the endpoint."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.salesforce.outbound import parse_notifications
from tests.fixtures.salesforce.outbound_receiver import Receiver

GLENGARRY = [sys.executable, "-m", "app.cli"]


def test_the_outbound_url_is_set_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    with Receiver() as receiver:
        process = subprocess.Popen(
            [*GLENGARRY, "sandbox", "salesforce", "--contacts", "30", "--seed", "3",
             "--cert-dir", str(folder), "--outbound-url", receiver.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            credentials = folder / "credentials.json"
            deadline = time.monotonic() + 60
            while not credentials.exists():
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the sandbox wrote no credentials.json"
                time.sleep(0.05)
            url = json.loads(credentials.read_text())["instance_url"]
            trust = ssl.create_default_context(cafile=str(folder / "ca.pem"))
            with httpx.Client(base_url=f"{url}/_sandbox", verify=trust, timeout=30) as sandbox:
                messages = sandbox.get("/outbound-message").json()["messages"]
                assert [(m["sobject"], m["url"]) for m in messages] == [
                    ("Lead", receiver.url), ("Contact", receiver.url),
                ]  # fmt: skip
                simulated = sandbox.post(
                    "/simulate", json={"contacts": 10, "events_per_contact": 3}
                )
                assert simulated.is_success
                assert sandbox.post("/deliveries/flush", json={"timeout": 20}).json()["flushed"]
            assert receiver.requests
            assert all(parse_notifications(r.body).events for r in receiver.requests)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0  # a busy machine stops it slowly
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_bad_outbound_url_ends_in_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*GLENGARRY, "sandbox", "salesforce", "--contacts", "0", "--cert-dir", str(tmp_path),
         "--outbound-url", "ftp://example.com/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "the endpoint URL must be http(s)://host/" in line
