"""Tasks, Events and campaign responses as engine activities (the table is in client.py).

Fields from the Object Reference (Task: `TaskSubtype` Call / Email / ListEmail / Task...,
`CallType`, `CallDurationInSeconds`, `CompletedDateTime`; Event: `StartDateTime`,
`DurationInMinutes`; CampaignMember: `HasResponded`, `FirstRespondedDate`, and its Campaign's
`Type` and `Name`); and the marketing automation's fields on the person (marketing.py). An
activity's id is its record's (`Task:00T...`), so reading it again never
counts it twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import CrmActivity, CrmContact
from connectors.salesforce.mapping import is_reply, parse_time, read, text
from connectors.salesforce.marketing import Touch

TASK = "Task"
EVENT = "Event"
CAMPAIGN_MEMBER = "CampaignMember"
STREAMS = (TASK, EVENT, CAMPAIGN_MEMBER)

TASK_FIELDS = (
    "Id", "WhoId", "TaskSubtype", "Type", "Subject", "Status", "CallType",
    "CallDurationInSeconds", "CallDisposition", "CreatedDate", "CompletedDateTime",
)  # fmt: skip
EVENT_FIELDS = (
    "Id", "WhoId", "Subject", "Type", "StartDateTime", "DurationInMinutes", "CreatedDate",
)  # fmt: skip
MEMBER_FIELDS = (
    "Id", "LeadId", "ContactId", "HasResponded", "FirstRespondedDate", "Status", "CreatedDate",
    "Campaign.Name", "Campaign.Type",
)  # fmt: skip
# Who each stream names (the fields its stream query reads to find the people to re-read).
PEOPLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    TASK: ("WhoId",),
    EVENT: ("WhoId",),
    CAMPAIGN_MEMBER: ("LeadId", "ContactId"),
}


def _kept(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: row[name] for name in names if row.get(name) not in (None, "")}


def task_type(row: Mapping[str, Any]) -> str:
    subtype = row.get("TaskSubtype") or row.get("Type")
    if subtype == "Call":
        return "call"
    if subtype == "Email":
        # A logged email is the rep's, unless its subject says it answers one.
        return "email_reply" if is_reply(row.get("Subject")) else "email_sent"
    if subtype == "ListEmail":
        return "email_sent"
    return "task"


def from_task(row: Mapping[str, Any]) -> CrmActivity | None:
    at = parse_time(row.get("CompletedDateTime")) or parse_time(row.get("CreatedDate"))
    who = row.get("WhoId")
    if at is None or not who:
        return None
    properties = _kept(row, "TaskSubtype", "Subject", "Status", "CallType", "CallDisposition")
    duration = row.get("CallDurationInSeconds")
    if duration is not None:
        properties["duration_seconds"] = duration
    return CrmActivity(
        crm_id=f"{TASK}:{row['Id']}",
        contact_crm_id=str(who),
        type=task_type(row),
        occurred_at=at,
        properties=properties,
        stream=TASK,
    )


def from_event(row: Mapping[str, Any]) -> CrmActivity | None:
    at = parse_time(row.get("StartDateTime")) or parse_time(row.get("CreatedDate"))
    who = row.get("WhoId")
    if at is None or not who:
        return None
    return CrmActivity(
        crm_id=f"{EVENT}:{row['Id']}",
        contact_crm_id=str(who),
        type="meeting",
        occurred_at=at,
        properties=_kept(row, "Subject", "Type", "DurationInMinutes"),
        stream=EVENT,
    )


def member_type(campaign_type: object) -> str:
    """A response to an email campaign is a click through it; any other response (a webinar
    or event registration, a web form, a reply to direct mail) is a form submission."""
    return "email_click" if campaign_type == "Email" else "form_submission"


def from_member(row: Mapping[str, Any], person: str) -> CrmActivity | None:
    if row.get("HasResponded") is not True:
        return None  # a member who was only sent the campaign did nothing yet
    at = parse_time(row.get("FirstRespondedDate")) or parse_time(row.get("CreatedDate"))
    if at is None:
        return None
    campaign = text(read(row, "Campaign.Name"))
    kind = text(read(row, "Campaign.Type"))
    properties: dict[str, Any] = {"campaign": campaign, "campaign_type": kind}
    if member_type(kind) == "form_submission":
        properties["form"] = campaign
    return CrmActivity(
        crm_id=f"{CAMPAIGN_MEMBER}:{row['Id']}",
        contact_crm_id=person,
        type=member_type(kind),
        occurred_at=at,
        properties={k: v for k, v in properties.items() if v is not None},
        stream=CAMPAIGN_MEMBER,
    )


def from_touches(person: CrmContact, found: Sequence[Touch]) -> list[CrmActivity]:
    """The touches a person's fields hold (its properties carry them under their names)."""
    unique: dict[tuple[str, Any], CrmActivity] = {}
    for touch in found:
        at = parse_time(person.properties.get(touch.at_field))
        if at is None:
            continue
        extra: dict[str, Any] = {"source": touch.at_field}
        if touch.detail is not None and (value := person.properties.get(touch.detail[1])):
            extra[touch.detail[0]] = value
        activity = CrmActivity(
            crm_id=f"{person.crm_id}:{touch.at_field}:{int(at.timestamp() * 1000)}",
            contact_crm_id=person.crm_id,
            type=touch.type,
            occurred_at=at,
            properties=extra,
            stream="Lead" if person.kind == "lead" else "Contact",
        )
        unique.setdefault((touch.type, at), activity)
    return list(unique.values())
