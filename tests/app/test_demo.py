"""`glengarry demo` end to end, short: backfill, live activity, latency figures, exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.test_cli import run

pytestmark = pytest.mark.slow


def test_the_demo_backfills_goes_live_and_reports_latency(tmp_path: Path) -> None:
    demo = run(["demo", "--contacts", "300", "--live-seconds", "4"], tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    out = demo.stdout
    assert "Statuses after the backfill" in out
    assert "Most ready now" in out
    assert "the floor is" in out
    assert "event-to-field latency" in out or "no write landed" in out
    # A person reads it: no JSON log lines among the tables, and no chatter on stderr.
    assert not [line for line in (out + demo.stderr).splitlines() if line.startswith("{")]
    # Run twice on the same data directory: the demo replaces its own connection.
    assert run(["demo", "--contacts", "100", "--live-seconds", "0"], tmp_path).returncode == 0


def test_the_demo_keeps_to_its_own_data_directory_so_the_guide_can_follow_it(
    tmp_path: Path,
) -> None:
    assert run(["demo", "--contacts", "50", "--live-seconds", "0"], tmp_path).returncode == 0
    assert (tmp_path / "data" / "demo" / "glengarry.db").exists()
    # The guide's data directory has none of the demo's connections: connecting the same
    # sandbox portal there is not refused as "already connected as 'demo'".
    listed = run(["connections", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""
