"""The reliability tests' dump comparison follows the write rule: a score move smaller than the
write delta is not written, and neither is the fit or engagement move behind it."""

from __future__ import annotations

from typing import Any

from tests.harness.accounts import compare_dumps

KEY = "Lead/00Q5e000000006cEAA"


def _lead(score: int, fit: int, engagement: int) -> dict[str, dict[str, Any]]:
    return {
        KEY: {
            "Glengarry_Status__c": "sales_ready",
            "Glengarry_Score__c": float(score),
            "Glengarry_Fit__c": float(fit),
            "Glengarry_Engagement__c": float(engagement),
        }
    }


def test_an_engagement_move_the_score_did_not_write_is_no_difference() -> None:
    # A later call: engagement 79 -> 86 moved the score 80 -> 83, under the delta of 5.
    assert compare_dumps(_lead(80, 80, 79), _lead(83, 80, 86), frozenset({KEY})) == []


def test_moves_past_what_the_write_delta_hides_are_differences() -> None:
    assert compare_dumps(_lead(80, 80, 79), _lead(86, 80, 79), frozenset({KEY}))  # the score
    found = compare_dumps(_lead(80, 80, 79), _lead(80, 80, 90), frozenset({KEY}))
    assert found == [f"{KEY} Glengarry_Engagement__c: 79.0 against 90.0 in the clean run"]
    assert compare_dumps(_lead(80, 69, 79), _lead(80, 80, 79), frozenset({KEY}))  # the fit
