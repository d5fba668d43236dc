"""`glengarry worker` as a process: it consumes the queue and serves its own metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_serves_its_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    env |= {"GLENGARRY_DATA_DIR": str(tmp_path), "GLENGARRY_WORKER_METRICS_PORT": str(port)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                break
            except httpx.HTTPError:
                assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                assert time.monotonic() < deadline, "the worker's metrics never answered"
                time.sleep(0.1)  # polling for the port to open, with a deadline
        assert "glengarry_webhook_events_total" in metrics
        assert "glengarry_crm_api_calls_total" in metrics
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=20)
    assert worker.returncode is not None
    assert "Traceback" not in err


def test_a_worker_whose_queue_is_unreachable_exits_non_zero_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # nothing listens here once the socket is closed
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    env |= {
        "GLENGARRY_DATA_DIR": str(tmp_path),
        "GLENGARRY_QUEUE_URL": f"redis://127.0.0.1:{port}/0",
    }
    started = time.monotonic()
    worker = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # it used to retry for ever
    )
    assert worker.returncode != 0
    assert time.monotonic() - started < 45
    assert "Traceback" not in worker.stderr
    lines = [line for line in worker.stderr.splitlines() if line.startswith("glengarry:")]
    assert lines == [
        f"glengarry: cannot reach the queue at redis://127.0.0.1:{port}/0 after 5 attempts: "
        f"ConnectionError: Error 111 connecting to 127.0.0.1:{port}. Connection refused."
    ]
