"""`glengarry sandbox hubspot`: prints its URL once ready, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

GLENGARRY = [sys.executable, "-m", "app.cli"]


def test_serves_a_generated_population_until_interrupted() -> None:
    process = subprocess.Popen(
        [*GLENGARRY, "sandbox", "hubspot", "--contacts", "30", "--seed", "3", "--token", "t0k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer t0k"}
        body = httpx.get(f"{url}/crm/v3/objects/contacts?limit=100", headers=headers).json()
        assert len(body["results"]) == 30
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0  # a busy machine stops it slowly
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limits", "enterprise"], "unknown --rate-limits 'enterprise'"),
        (["--port", "70000"], "--port must be between"),
        (["--webhook-url", "ftp://x"], "--webhook-url must be an http(s) URL"),
    ],
)
def test_bad_arguments_end_in_one_clear_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [*GLENGARRY, "sandbox", "hubspot", "--contacts", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert result.stdout == ""
