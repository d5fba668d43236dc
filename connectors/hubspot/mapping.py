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

from connectors.base import CrmActivity, CrmContact, CrmOutcome, OutcomeKind
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


# What customers say and ask, read through associations like the engagements (Service Hub):
# each becomes an activity of the type the criteria's customer_health reads.
SERVICE_OBJECTS: Mapping[str, tuple[str, ...]] = {
    "feedback_submissions": (
        "hs_survey_type",
        "hs_value",
        "hs_response_group",
        "hs_submission_timestamp",
        "hs_createdate",
    ),
    "tickets": ("subject", "hs_ticket_priority", "hs_pipeline_stage", "closed_date", "createdate"),
}
# The scope each read needs, to name it when HubSpot refuses.
READ_SCOPES = {
    "feedback_submissions": "crm.objects.feedback_submissions.read",
    "tickets": "tickets",
    "deals": "crm.objects.deals.read",
}
DEAL_PROPERTIES = (
    "dealstage",
    "closedate",
    "amount",
    "deal_currency_code",
    "hs_is_closed_won",
    "hs_is_closed",
)
# The lifecycle-stage dates outcomes are read from (HubSpot stamps them on entering a stage).
LIFECYCLE_OUTCOMES = {
    "hs_lifecyclestage_opportunity_date": OutcomeKind.BECAME_OPPORTUNITY,
    "hs_lifecyclestage_customer_date": OutcomeKind.BECAME_CUSTOMER,
}
OUTCOME_PROPERTIES = tuple(LIFECYCLE_OUTCOMES)


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


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _survey_activity(obj: Mapping[str, Any], contact_crm_id: str) -> CrmActivity | None:
    """An NPS answer carries `score` (0-10), as the default customer_health reads it; a CSAT or
    CES rating is on another scale and carries `rating` instead, so no NPS rule misreads it."""
    props: Mapping[str, Any] = obj.get("properties") or {}
    at = (
        parse_time(props.get("hs_submission_timestamp"))
        or parse_time(props.get("hs_createdate"))
        or parse_time(obj.get("createdAt"))
    )
    if at is None:
        return None
    survey = str(props.get("hs_survey_type") or "").lower() or "survey"
    details: dict[str, Any] = {"survey": survey}
    value = _number(props.get("hs_value"))
    if value is not None:
        text = str(int(value)) if value.is_integer() else str(value)
        details["score" if survey == "nps" else "rating"] = text
    if props.get("hs_response_group"):
        details["response_group"] = str(props["hs_response_group"]).lower()
    return CrmActivity(
        crm_id=f"feedback_submissions:{obj['id']}",
        contact_crm_id=contact_crm_id,
        type="survey_response",
        occurred_at=at,
        properties=details,
        stream="feedback_submissions",
    )


def _ticket_activity(obj: Mapping[str, Any], contact_crm_id: str) -> CrmActivity | None:
    """A ticket is OPEN until HubSpot stamps its `closed_date` (entering a closed stage)."""
    props: Mapping[str, Any] = obj.get("properties") or {}
    at = parse_time(props.get("createdate")) or parse_time(obj.get("createdAt"))
    if at is None:
        return None
    closed_at = parse_time(props.get("closed_date"))
    details: dict[str, Any] = {
        "priority": str(props.get("hs_ticket_priority") or "").upper() or None,
        # `status` is as of the read; `closed_at` lets an evaluation as of an earlier time
        # tell a ticket that was still open then.
        "status": "CLOSED" if closed_at else "OPEN",
        "closed_at": closed_at.isoformat() if closed_at else None,
        "subject": props.get("subject"),
        "stage": props.get("hs_pipeline_stage"),
    }
    return CrmActivity(
        crm_id=f"tickets:{obj['id']}",
        contact_crm_id=contact_crm_id,
        type="ticket",
        occurred_at=at,
        properties={k: v for k, v in details.items() if v not in (None, "")},
        stream="tickets",
    )


def to_service_activity(
    object_type: str, obj: Mapping[str, Any], contact_crm_id: str
) -> CrmActivity | None:
    if object_type == "feedback_submissions":
        return _survey_activity(obj, contact_crm_id)
    return _ticket_activity(obj, contact_crm_id)


def lifecycle_outcomes(contact: CrmContact) -> list[CrmOutcome]:
    found = []
    for name, kind in LIFECYCLE_OUTCOMES.items():
        at = parse_time(contact.properties.get(name))
        if at is not None:
            found.append(CrmOutcome(contact.crm_id, kind, at))
    return found


def deal_outcome(obj: Mapping[str, Any], contact_crm_id: str) -> CrmOutcome | None:
    """A closed deal's outcome; an open deal has none yet (None)."""
    props: Mapping[str, Any] = obj.get("properties") or {}
    won = str(props.get("hs_is_closed_won") or "").lower() == "true" or (
        props.get("dealstage") == "closedwon"
    )
    closed = (
        won
        or str(props.get("hs_is_closed") or "").lower() == "true"
        or (props.get("dealstage") == "closedlost")
    )
    at = parse_time(props.get("closedate"))
    if not closed or at is None:
        return None
    return CrmOutcome(
        contact_crm_id,
        OutcomeKind.DEAL_WON if won else OutcomeKind.DEAL_LOST,
        at,
        amount=_number(props.get("amount")),
        currency=str(props.get("deal_currency_code") or "") or None,
        deal_crm_id=str(obj["id"]),
    )


def requested_properties(extra: Sequence[str]) -> list[str]:
    """Every property the pipeline reads, each once, in a stable order."""
    return list(
        dict.fromkeys(
            [
                *SYSTEM_PROPERTIES,
                *IDENTITY_PROPERTIES,
                *ANALYTICS_PROPERTIES,
                *OUTCOME_PROPERTIES,
                *extra,
            ]
        )
    )
