"""`glengarry sandbox salesforce`: writes its files, prints its instance URL, serves HTTPS."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

GLENGARRY = [sys.executable, "-m", "app.cli"]


def test_serves_from_the_cli_and_writes_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    process = subprocess.Popen(
        [*GLENGARRY, "sandbox", "salesforce", "--port", "0", "--contacts", "25", "--seed", "2",
         "--cert-dir", str(folder), "--daily-api-limit", "500", "--session-ttl-seconds", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        credentials_file = folder / "credentials.json"
        deadline = time.monotonic() + 60
        while not credentials_file.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the sandbox wrote no credentials.json"
            time.sleep(0.05)
        credentials = json.loads(credentials_file.read_text())
        assert set(credentials) == {
            "instance_url", "organization_id", "client_id", "client_secret", "username",
        }  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline().strip() == credentials["instance_url"]
        assert credentials["instance_url"].startswith("https://127.0.0.1:")
        assert (folder / "jwt-key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        trust = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        token = httpx.post(
            f"{credentials['instance_url']}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
            verify=trust,
        ).json()["access_token"]
        answer = httpx.get(
            f"{credentials['instance_url']}/services/data/v62.0/limits",
            headers={"Authorization": f"Bearer {token}"},
            verify=trust,
        )
        assert answer.json()["DailyApiRequests"]["Max"] == 500
        health = httpx.get(f"{credentials['instance_url']}/_sandbox/health", verify=trust).json()
        assert health["leads"] + health["contacts"] == 25
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0  # a busy machine stops it slowly
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--daily-api-limit", "0"], "daily_api_limit must be at least 1"),
        (["--port", "70000"], "port must be between 0 and 65535"),
    ],
)
def test_bad_arguments_end_in_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    command = [*GLENGARRY, "sandbox", "salesforce", "--contacts", "0", "--cert-dir", str(tmp_path)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert result.stdout == ""
