"""The echo filter: our own writes cause nothing; a person's changes cause a rescore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from app.worker.events import Held, plan
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


def _carry_all(events: Sequence[ChangeEvent]) -> list[dict[str, str | None]] | None:
    """Every property change carries its value (as HubSpot's do)."""
    return [{e.property_name or "": e.property_value} for e in events]


def at(seconds: int, name: str, value: str, crm_id: str = "1") -> ChangeEvent:
    return ChangeEvent(
        f"{crm_id}{name}{value}{seconds}",
        "9",
        ChangeKind.PROPERTY_CHANGED,
        crm_id,
        AT + timedelta(seconds=seconds),
        name,
        value,
    )


def test_carried_values_apply_oldest_first_whatever_the_delivery_order() -> None:
    held = {"1": Held({"jobtitle": "Intern"}, AT)}
    result = plan([at(20, "jobtitle", "VP"), at(10, "jobtitle", "Manager")], held, _carry_all)
    assert result.reread == set()
    assert result.carried == {"1": {"jobtitle": ("VP", AT + timedelta(seconds=20))}}
    assert result.changed == {"1"}


def test_a_carried_value_no_newer_than_the_one_held_changes_nothing() -> None:
    held = {
        "1": Held({"jobtitle": "VP"}, AT, {"jobtitle": AT + timedelta(seconds=30)}),
        "2": Held({"jobtitle": "VP"}, AT + timedelta(seconds=5)),
    }
    events = [at(30, "jobtitle", "Manager"), at(5, "jobtitle", "Intern", crm_id="2")]
    result = plan(events, held, _carry_all)
    assert (result.carried, result.changed, result.stale, result.reread) == ({}, set(), 2, set())


def test_of_two_changes_at_one_instant_the_later_delivered_wins() -> None:
    held = {"1": Held({"jobtitle": "Intern"}, AT)}
    result = plan([at(10, "jobtitle", "Manager"), at(10, "jobtitle", "VP")], held, _carry_all)
    assert result.carried["1"]["jobtitle"][0] == "VP"


def test_a_newer_change_back_to_the_value_held_is_kept_as_its_instant() -> None:
    # Held A; B then A again: nothing to rescore, but a late B older than the second A must not
    # win later, so the newest instant is kept.
    held = {"1": Held({"jobtitle": "A"}, AT)}
    result = plan([at(10, "jobtitle", "B"), at(20, "jobtitle", "A")], held, _carry_all)
    assert result.carried == {"1": {"jobtitle": ("A", AT + timedelta(seconds=20))}}
    assert result.changed == set()


def test_what_is_not_carried_is_read_and_unknown_or_deleted_contacts_too() -> None:
    held = {"1": Held({"jobtitle": "A"}, AT), "3": Held({}, AT, deleted=True)}
    events = [
        at(10, "jobtitle", "B"),
        ChangeEvent("c", "9", ChangeKind.ASSOCIATION_CHANGED, "1", AT + timedelta(seconds=11)),
        at(10, "jobtitle", "B", crm_id="2"),  # not stored here
        at(10, "jobtitle", "B", crm_id="3"),  # deleted here
    ]
    result = plan(events, held, _carry_all)
    assert (result.reread, result.carried) == ({"1", "2", "3"}, {})
    assert plan([at(10, "jobtitle", "B")], held, lambda _: None).reread == {"1"}
    assert plan([at(10, "jobtitle", "B")], held).reread == {"1"}  # carrying off
