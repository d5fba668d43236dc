"""A Salesforce connection's report: its connector reads no outcomes or survey answers yet, and
the report says so in words, never as zeros."""

from __future__ import annotations

from connectors.salesforce.sandbox import SandboxServer
from tests.cli import Glengarry
from tests.pipeline.test_salesforce_sync import _jwt_connect, org

__all__ = ["org"]  # the fixture


def test_a_salesforce_report_says_what_its_connector_does_not_read(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    assert glengarry(*_jwt_connect(org)).code == 0
    assert glengarry("sync", "sf").code == 0
    printed = glengarry("report", "sf")
    assert printed.code == 0, printed.stderr
    body = printed.json()
    assert body["lift"] == "no outcome data: the salesforce connector does not read outcomes yet"
    assert body["happiness_by_presale_status"] == (
        "no survey data: the salesforce connector does not read survey answers yet"
    )
    assert body["flows"]["n"] > 0  # the statuses it has are reported all the same
