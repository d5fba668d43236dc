"""HubSpot JSON to connector records, and the activities hidden in contact properties.

HubSpot has no bulk endpoint for page views, marketing-email opens and clicks, or form
submissions; it keeps their latest occurrence on the contact (`hs_analytics_last_visit_timestamp`,
`hs_email_last_open_date`, ...). Each distinct value becomes one activity whose id is derived from
the property and its value, so re-reading a contact never counts the same event twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import CrmActivity, CrmContact
from qualification.times import parse_instant


@dataclass(frozen=True, slots=True)
class DerivedActivity:
    """An activity HubSpot keeps only as its latest occurrence, in a contact property."""

    type: str
    at_property: str
    detail: tuple[str, str] | None = None  # (activity property, the contact property holding it)

    @property
    def properties(self) -> tuple[str, ...]:
        return (self.at_property, self.detail[1]) if self.detail else (self.at_property,)


DERIVED_ACTIVITIES = (
    DerivedActivity(
        "page_view", "hs_analytics_last_visit_timestamp", ("url", "hs_analytics_last_url")
    ),
    DerivedActivity("email_open", "hs_email_last_open_date"),
    DerivedActivity("email_click", "hs_email_last_click_date"),
    DerivedActivity(
        "form_submission", "recent_conversion_date", ("form", "recent_conversion_event_name")
    ),
    DerivedActivity(
        "form_submission", "first_conversion_date", ("form", "first_conversion_event_name")
    ),
)
# The properties activities are derived from: a change to one of them is a new activity.
ACTIVITY_PROPERTIES = tuple(dict.fromkeys(p for d in DERIVED_ACTIVITIES for p in d.properties))
ANALYTICS_PROPERTIES = (
    *ACTIVITY_PROPERTIES,
    "hs_analytics_num_page_views",
    "num_conversion_events",
)
SYSTEM_PROPERTIES = ("lastmodifieddate", "createdate", "hs_merged_object_ids", "hs_object_id")
# Who the contact is, for people reading Glengarry's output, whatever the criteria read.
IDENTITY_PROPERTIES = ("email", "firstname", "lastname", "jobtitle", "company", "lifecyclestage")

# Engagement objects read through associations, and the activity type each becomes.
ENGAGEMENT_OBJECTS: Mapping[str, tuple[str, ...]] = {
    "meetings": ("hs_timestamp", "hs_meeting_outcome", "hs_meeting_title"),
    "calls": ("hs_timestamp", "hs_call_direction", "hs_call_status", "hs_call_duration"),
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_subject"),
    "notes": ("hs_timestamp",),
    "tasks": ("hs_timestamp", "hs_task_status"),
}


def parse_time(value: Any) -> datetime | None:
    """HubSpot sends ISO 8601 strings, or epoch milliseconds for some properties."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        return parse_instant(text)
    except ValueError:
        return None


def to_contact(obj: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> CrmContact:
    """`aliases`: criteria names of HubSpot's own fields (`hubspot.hs_lead_status`) -> the
    property each names; its value is handed on under the criteria's name too."""
    properties: dict[str, str | None] = dict(obj.get("properties") or {})
    for alias, name in (aliases or {}).items():
        properties[alias] = properties.get(name)
    modified = (
        parse_time(properties.get("lastmodifieddate"))
        or parse_time(obj.get("updatedAt"))
        or datetime(1970, 1, 1, tzinfo=UTC)
    )
    merged = tuple(
        part for part in (properties.get("hs_merged_object_ids") or "").split(";") if part
    )
    return CrmContact(
        crm_id=str(obj["id"]),
        properties=properties,
        modified_at=modified,
        archived=bool(obj.get("archived", False)),
        merged_crm_ids=merged,
    )


def _derived(contact: CrmContact, derived: DerivedActivity) -> CrmActivity | None:
    at = parse_time(contact.properties.get(derived.at_property))
    if at is None:
        return None
    stamp = int(at.timestamp() * 1000)
    extra: dict[str, Any] = {"source": derived.at_property}
    if derived.detail is not None and (value := contact.properties.get(derived.detail[1])):
        extra[derived.detail[0]] = value
    return CrmActivity(
        crm_id=f"{contact.crm_id}:{derived.at_property}:{stamp}",
        contact_crm_id=contact.crm_id,
        type=derived.type,
        occurred_at=at,
        properties=extra,
    )


def property_activities(contact: CrmContact) -> list[CrmActivity]:
    unique: dict[tuple[str, datetime], CrmActivity] = {}
    for derived in DERIVED_ACTIVITIES:
        activity = _derived(contact, derived)
        if activity is not None:
            # The first conversion is often also the most recent one: count it once.
            unique.setdefault((activity.type, activity.occurred_at), activity)
    return list(unique.values())


def watched_properties(criteria_properties: Iterable[str]) -> list[str]:
    """Contact properties whose change should rescore a contact: what the criteria read, and
    the properties activities are derived from (what `contact.propertyChange` subscribes to)."""
    return sorted({*criteria_properties, *ACTIVITY_PROPERTIES})


def engagement_type(object_type: str, properties: Mapping[str, Any]) -> str:
    if object_type == "emails":
        # A contact's reply is engagement; a rep's outgoing email is not the contact's doing.
        incoming = properties.get("hs_email_direction") == "INCOMING_EMAIL"
        return "email_reply" if incoming else "email_sent"
    return {"meetings": "meeting", "calls": "call", "notes": "note", "tasks": "task"}.get(
        object_type, object_type
    )


def to_activity(
    object_type: str, obj: Mapping[str, Any], contact_crm_id: str
) -> CrmActivity | None:
    properties: dict[str, Any] = dict(obj.get("properties") or {})
    at = parse_time(properties.get("hs_timestamp")) or parse_time(obj.get("createdAt"))
    if at is None:
        return None
    return CrmActivity(
        crm_id=f"{object_type}:{obj['id']}",
        contact_crm_id=contact_crm_id,
        type=engagement_type(object_type, properties),
        occurred_at=at,
        properties=properties,
    )


def requested_properties(extra: Sequence[str]) -> list[str]:
    """Every property the pipeline reads, each once, in a stable order."""
    return list(
        dict.fromkeys([*SYSTEM_PROPERTIES, *IDENTITY_PROPERTIES, *ANALYTICS_PROPERTIES, *extra])
    )
