"""What `glengarry report` shows a person at a terminal: the headline figures, and a section
that cannot be computed said in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from app.cli.report import summary
from qualification.effectiveness import Change, Happened, ReportInput, effectiveness_report

T = datetime(2026, 6, 1, tzinfo=UTC)


def _shown(body: dict[str, object]) -> str:
    console = Console(width=120, record=True)
    console.print(summary({**body, "connection": "acme"}))
    return console.export_text()


def test_the_table_shows_lift_with_its_n_and_small_groups_as_small() -> None:
    changes = [Change(c, None, "sales_ready" if c < 5 else "nurture", T) for c in range(40)]
    outcomes = [Happened(c, "deal_won", T + timedelta(days=3)) for c in (1, 2, 30)]
    body = effectiveness_report(
        ReportInput(T, T + timedelta(days=90), timedelta(days=90), changes, outcomes, [], [])
    )
    text = _shown(body)
    assert "sales_ready converted" in text
    assert "40.0% of 5 (small)" in text  # 2 of the 5 sales-ready
    assert "7.5% of 40" in text


def test_the_table_says_what_the_connection_cannot_show() -> None:
    body = effectiveness_report(
        ReportInput(
            T,
            T + timedelta(days=90),
            timedelta(days=90),
            [],
            [],
            [],
            None,
            surveys_missing="scope crm.objects.feedback_submissions.read missing",
            outcomes_missing="the salesforce connector does not read outcomes yet",
        )
    )
    text = _shown(body)
    assert "no outcome data: the salesforce connector does not read outcomes yet" in text
    assert "no survey data: scope crm.objects.feedback_submissions.read missing" in text
