"""`glengarry demo` end to end, short: backfill, live activity, latency figures, exit 0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.demo import customer_health
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


def test_the_demo_finds_the_customers_at_risk_that_churn(tmp_path: Path) -> None:
    """Issue 15: the share at risk follows the population's hidden churn (it was 125 of 134)."""
    demo = run(["demo", "--contacts", "3000", "--live-seconds", "0"], tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    text = " ".join(demo.stdout.split())  # the console wraps lines
    found = re.search(r"customers at risk: ([\d,]+) of ([\d,]+)", text)
    lift = re.search(r"against (\d+)% of all customers \(lift ([\d.]+)\)", text)
    assert found is not None, text[-1500:]
    assert lift is not None, text[-1500:]
    at_risk, customers = (int(group.replace(",", "")) for group in found.groups())
    churn, figure = int(lift.group(1)) / 100, float(lift.group(2))
    assert customers > 100
    assert figure > 1.5  # the at-risk churn far more than customers overall
    assert 0.4 * churn < at_risk / customers < 1.5 * churn  # neither ~none nor ~all


def test_customer_health_figures_against_the_hidden_churn() -> None:
    statuses = {
        "1": "customer_at_risk",
        "2": "customer_at_risk",
        "3": "customer_active",
        "4": "customer_active",
        "5": "customer_active",
        "6": "sales_ready",  # not a customer: not counted
    }
    health = customer_health(statuses, churned={"1", "3", "6"})
    assert (health.customers, health.at_risk, health.share) == (5, 2, 0.4)
    assert (health.churn_at_risk, health.churn_all) == (0.5, 0.4)
    assert health.lift == pytest.approx(1.25)
    assert customer_health({"6": "sales_ready"}, set()).share is None
