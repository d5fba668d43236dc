"""Seeding: what HubSpot keeps of each kind of activity."""

from __future__ import annotations

from connectors.hubspot.mapping import property_activities, to_activity, to_contact
from connectors.hubspot.sandbox import Store, seed
from connectors.hubspot.sandbox.serialize import object_json
from qualification.records import Contact

from .conftest import Member, member


def _store(*members: object) -> tuple[Store, dict[str, str]]:
    store = Store()
    return store, seed(store, members)


def test_page_views_keep_the_latest_and_a_count() -> None:
    store, _ = _store(
        member(
            1,
            [
                ("page_view", 3, {"url": "/a"}),
                ("page_view", 1, {"url": "/b"}),
                ("page_view", 2, {"url": "/c"}),
            ],
        )
    )
    contact = store.get("contacts", "1")
    assert contact is not None
    assert contact.properties["hs_analytics_num_page_views"] == "3"
    assert contact.properties["hs_analytics_last_url"] == "/b"
    views = [
        a
        for a in property_activities(to_contact(object_json(contact, list(contact.properties))))
        if a.type == "page_view"
    ]
    assert len(views) == 1
    assert views[0].properties["url"] == "/b"


def test_forms_keep_first_and_recent_conversions() -> None:
    store, _ = _store(
        member(
            1, [("form_submission", 5, {"form": "Ebook"}), ("form_submission", 1, {"form": "Demo"})]
        )
    )
    props = store.get("contacts", "1").properties
    assert props["num_conversion_events"] == "2"
    assert props["recent_conversion_event_name"] == "Demo"
    assert props["first_conversion_event_name"] == "Ebook"
    assert props["first_conversion_date"] < props["recent_conversion_date"]


def test_email_events_keep_the_latest_dates() -> None:
    store, _ = _store(
        member(1, [("email_open", 4, {}), ("email_open", 2, {}), ("email_click", 3, {})])
    )
    props = store.get("contacts", "1").properties
    assert props["hs_email_last_open_date"] > props["hs_email_last_click_date"]


def test_engagements_become_associated_objects() -> None:
    store, _ = _store(
        member(
            1,
            [
                ("meeting", 2, {"outcome": "no_show"}),
                ("call", 1, {"direction": "inbound"}),
                ("email_reply", 1, {}),
                ("chat", 1, {}),
                ("product_usage", 1, {}),
            ],
        )
    )
    kinds = []
    for object_type in ("meetings", "calls", "emails", "notes"):
        for object_id in store.associated("contacts", "1", object_type):
            obj = store.get(object_type, object_id)
            assert obj is not None
            activity = to_activity(object_type, object_json(obj, list(obj.properties)), "1")
            assert activity is not None
            kinds.append((activity.type, obj.properties.get("hs_note_body")))
    assert sorted(kinds, key=str) == sorted(
        [
            ("meeting", None),
            ("call", None),
            ("email_reply", None),
            ("note", "chat"),
            ("note", "product usage"),
        ],
        key=str,
    )
    meeting = store.get("meetings", store.associated("contacts", "1", "meetings")[0])
    assert meeting is not None
    assert meeting.properties["hs_meeting_outcome"] == "NO_SHOW"


def test_seeding_is_lenient_with_the_populations_vocabulary() -> None:
    store, ids = _store(member(1, industry="Biotech", favourite_colour="blue"), member(2))
    contact = store.get("contacts", ids["1"])
    assert contact is not None
    assert contact.properties["industry"] == "Biotech"
    assert contact.properties["favourite_colour"] == "blue"
    assert store.definition("contacts", "favourite_colour") is not None


def test_non_numeric_ids_get_hubspot_ids() -> None:
    store, ids = _store(member(1), member(2), Member(Contact("c-1", {"email": "c@x.com"})))
    assert ids["1"] == "1"
    assert ids["2"] == "2"
    assert ids["c-1"].isdigit()
    assert ids["c-1"] not in ("1", "2")
    assert store.find_by("contacts", "email", "c@x.com") is not None
