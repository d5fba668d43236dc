"""The echo filter: our own writes cause nothing; a person's changes cause a rescore."""

from __future__ import annotations

from datetime import UTC, datetime

from app.worker.events import plan
from connectors.base import ChangeEvent, ChangeKind

AT = datetime(2026, 11, 1, tzinfo=UTC)


def change(name: str, value: str, crm_id: str = "1") -> ChangeEvent:
    return ChangeEvent(
        f"{crm_id}{name}{value}", "9", ChangeKind.PROPERTY_CHANGED, crm_id, AT, name, value
    )


def test_our_fields_and_values_we_already_hold_are_echoes() -> None:
    held = {"1": {"jobtitle": "CEO", "glengarry_override": ""}}
    result = plan([change("glengarry_score", "55"), change("jobtitle", "CEO")], held)
    assert (result.echoes, result.reread) == (2, set())


def test_a_rep_override_or_a_criteria_property_of_ours_is_not_an_echo() -> None:
    held = {"1": {"glengarry_override": ""}, "2": {}}
    result = plan(
        [
            change("glengarry_override", "sales_ready"),
            change("glengarry_do_not_contact", "true", crm_id="2"),
        ],
        held,
    )
    assert result.reread == {"1", "2"}
    assert result.echoes == 0


def test_deletion_then_restore_rereads_and_privacy_deletion_wins() -> None:
    events = [
        ChangeEvent("a", "9", ChangeKind.DELETED, "5", AT),
        ChangeEvent("b", "9", ChangeKind.RESTORED, "5", AT.replace(hour=1)),
        ChangeEvent("c", "9", ChangeKind.CREATED, "6", AT),
        ChangeEvent("d", "9", ChangeKind.PRIVACY_DELETED, "6", AT.replace(hour=2)),
        ChangeEvent("e", "9", ChangeKind.PROPERTY_CHANGED, "6", AT.replace(hour=3), "email", "x"),
    ]
    result = plan(events, {})
    assert result.reread == {"5"}
    assert result.deleted == set()
    assert result.purged == {"6"}
