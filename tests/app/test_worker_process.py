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
