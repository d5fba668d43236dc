"""Filling the sandbox from a population, and turning an activity into what HubSpot keeps of it.

HubSpot has no bulk read for page views, marketing-email events or form submissions: it keeps
the latest of each on the contact. So:

| activity          | becomes                                                                  |
|-------------------|--------------------------------------------------------------------------|
| page_view         | hs_analytics_last_visit_timestamp (latest), hs_analytics_last_url (its   |
|                   | `url`), hs_analytics_num_page_views (+1)                                 |
| email_open        | hs_email_last_open_date (latest)                                         |
| email_click       | hs_email_last_click_date (latest)                                        |
| form_submission   | recent_conversion_date/_event_name (latest, its `form`),                 |
|                   | first_conversion_date/_event_name (earliest), num_conversion_events (+1) |
| meeting           | a meetings object (hs_timestamp, hs_meeting_outcome), associated         |
| call              | a calls object (hs_call_direction, hs_call_status, hs_call_duration)     |
| email_reply       | an emails object with hs_email_direction INCOMING_EMAIL                  |
| email_sent        | an emails object with hs_email_direction EMAIL                           |
| anything else     | a notes object whose hs_note_body names it ("chat", "product usage"):    |
|                   | HubSpot has no object for chats or product usage                          |

Seeding is lenient where the API is strict: a property the population uses that HubSpot lacks
is defined (as a string), and an enumeration value HubSpot lacks becomes an option.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from connectors.hubspot.sandbox.properties import (
    Option,
    PropertyDefinition,
    iso,
    parse_moment,
)
from connectors.hubspot.sandbox.store import Store
from connectors.sandbox_kit import SeedMember

ANALYTICS_SOURCE = "ANALYTICS"
_NOTE_BODIES = {"chat": "chat", "product_usage": "product usage"}


def _later(current: str | None, candidate: datetime) -> bool:
    seen = parse_moment(current) if current else None
    return seen is None or candidate >= seen


def _earlier(current: str | None, candidate: datetime) -> bool:
    seen = parse_moment(current) if current else None
    return seen is None or candidate < seen


def _count(current: str | None) -> str:
    try:
        return str(int(float(current or "0")) + 1)
    except ValueError:
        return "1"


def contact_changes(
    current: Mapping[str, str], kind: str, at: datetime, details: Mapping[str, Any]
) -> dict[str, str] | None:
    """The contact properties an activity changes, or None when it is an engagement object."""
    stamp = iso(at)
    if kind == "page_view":
        changes = {
            "hs_analytics_num_page_views": _count(current.get("hs_analytics_num_page_views"))
        }
        if _later(current.get("hs_analytics_last_visit_timestamp"), at):
            changes["hs_analytics_last_visit_timestamp"] = stamp
            if details.get("url"):
                changes["hs_analytics_last_url"] = str(details["url"])
        return changes
    if kind in ("email_open", "email_click"):
        name = "hs_email_last_open_date" if kind == "email_open" else "hs_email_last_click_date"
        return {name: stamp} if _later(current.get(name), at) else {}
    if kind == "form_submission":
        form = str(details.get("form") or details.get("name") or "Form submission")
        changes = {"num_conversion_events": _count(current.get("num_conversion_events"))}
        if _later(current.get("recent_conversion_date"), at):
            changes |= {"recent_conversion_date": stamp, "recent_conversion_event_name": form}
        if _earlier(current.get("first_conversion_date"), at):
            changes |= {"first_conversion_date": stamp, "first_conversion_event_name": form}
        return changes
    return None


def engagement_for(
    kind: str, at: datetime, details: Mapping[str, Any]
) -> tuple[str, dict[str, str]]:
    """The engagement object type and properties an activity becomes."""
    stamp = iso(at)
    if kind == "meeting":
        outcome = str(
            details.get("hs_meeting_outcome") or details.get("outcome") or "COMPLETED"
        ).upper()
        title = str(details.get("title") or "Meeting")
        return "meetings", {
            "hs_timestamp": stamp,
            "hs_meeting_outcome": outcome,
            "hs_meeting_title": title,
        }
    if kind == "call":
        duration = (
            details.get("hs_call_duration")
            or details.get("duration_ms")
            or details.get("duration")
            or 0
        )
        try:
            duration_ms = int(float(duration))
        except (TypeError, ValueError):
            duration_ms = 0
        return "calls", {
            "hs_timestamp": stamp,
            "hs_call_direction": str(
                details.get("hs_call_direction") or details.get("direction") or "OUTBOUND"
            ).upper(),
            "hs_call_status": str(
                details.get("hs_call_status") or details.get("status") or "COMPLETED"
            ).upper(),
            "hs_call_duration": str(duration_ms),
        }
    if kind in ("email_reply", "email_sent"):
        return "emails", {
            "hs_timestamp": stamp,
            "hs_email_direction": "INCOMING_EMAIL" if kind == "email_reply" else "EMAIL",
            "hs_email_subject": str(details.get("subject") or "Re: your message"),
        }
    return "notes", {
        "hs_timestamp": stamp,
        "hs_note_body": _NOTE_BODIES.get(kind, kind.replace("_", " ")),
    }


def _valid(store: Store, object_type: str, values: Mapping[str, str]) -> dict[str, str]:
    """Values the definitions accept; a refused enumeration value falls back to the first option."""
    checked, errors = store.check(object_type, values)
    for error in errors:
        definition = store.definition(object_type, error.name)
        if definition is not None and definition.options:
            checked[error.name] = definition.options[0].value
    return checked


def apply_activity(
    store: Store,
    contact_id: str,
    kind: str,
    at: datetime,
    details: Mapping[str, Any],
    *,
    source: str = ANALYTICS_SOURCE,
    emit: bool = True,
) -> None:
    """Record one activity, now, the way HubSpot would keep it (and tell webhooks)."""
    with store.locked():
        contact = store.get("contacts", contact_id)
        if contact is None:
            return
        changes = contact_changes(contact.properties, kind, at, details)
        if changes is not None:
            if changes:
                store.update("contacts", contact_id, changes, source=source, emit=emit)
            return
        object_type, values = engagement_for(kind, at, details)
        store.create_engagement(
            object_type,
            _valid(store, object_type, values),
            contact_id,
            source=source,
            emit=emit,
        )


def _define_leniently(store: Store, values: Mapping[str, str]) -> None:
    """Define properties and enumeration options the population uses and HubSpot lacks."""
    definitions = store.definitions["contacts"]
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is None:
            definitions[name] = PropertyDefinition(
                name=name,
                label=name.replace("_", " ").capitalize(),
                type="string",
                field_type="text",
                group_name="contactinformation",
                hubspot_defined=False,
            )
        elif definition.type == "enumeration" and not definition.read_only and value:
            known = {option.value for option in definition.options}
            wanted = value.split(";") if definition.field_type == "checkbox" else [value]
            for item in wanted:
                if item not in known:
                    definition.options.append(
                        Option(item, item.replace("_", " ").title(), len(definition.options))
                    )
                    known.add(item)


def seed(store: Store, members: Iterable[SeedMember]) -> dict[str, str]:
    """Load contacts and their activities (no webhooks); returns population id -> HubSpot id.

    A numeric population id is kept as the HubSpot id; others get the next free id.
    """
    ids: dict[str, str] = {}
    with store.locked():
        for member in members:
            contact = member.contact
            raw = {k: v for k, v in contact.properties.items() if v is not None}
            created = parse_moment(raw.pop("createdate", "") or "")
            for name in ("lastmodifieddate", "hs_object_id", "hs_merged_object_ids"):
                raw.pop(name, None)
            _define_leniently(store, raw)
            values, _ = store.check("contacts", raw)
            activities = sorted(member.activities, key=lambda activity: activity.occurred_at)
            if created is None:
                created = activities[0].occurred_at if activities else store.clock()
            created = min(created, store.clock())
            # What the activities leave on the contact, folded in before the one write.
            modified = created
            engagements: list[tuple[str, dict[str, str], datetime]] = []
            for activity in activities:
                at = min(activity.occurred_at, store.clock())
                changes = contact_changes(values, activity.type, at, activity.properties)
                if changes is None:
                    object_type, found = engagement_for(activity.type, at, activity.properties)
                    engagements.append((object_type, _valid(store, object_type, found), at))
                elif changes:
                    values.update(changes)
                    modified = max(modified, at)
            wanted_id = contact.id if contact.id.isdigit() else None
            if wanted_id is not None and store.resolve("contacts", wanted_id) is not None:
                wanted_id = None
            if _taken(store, values.get("email")):
                values.pop("email")  # a duplicate in the population: HubSpot would refuse it
            obj = store.create(
                "contacts",
                values,
                emit=False,
                object_id=wanted_id,
                created_at=created,
                modified_at=modified,
            )
            ids[contact.id] = obj.id
            for object_type, found, at in engagements:
                store.create_engagement(object_type, found, obj.id, emit=False, at=at)
    return ids


def _taken(store: Store, email: str | None) -> bool:
    return bool(email) and store.find_by("contacts", "email", email or "") is not None
