"""Property definitions and groups, HubSpot's defaults for the objects Glengarry reads, and how
written values are checked and normalised per type (as HubSpot stores and returns them)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

READ_ONLY = frozenset(
    {"hs_object_id", "createdate", "lastmodifieddate", "hs_merged_object_ids", "hs_createdate"}
)
# Calculated by HubSpot: a write to them is refused like a write to hs_object_id.
_CALCULATED_PREFIX = "hs_lifecyclestage_"
_CALCULATED = frozenset({"hs_is_closed", "hs_is_closed_won"})


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass(slots=True)
class PropertyDefinition:
    name: str
    label: str
    type: str  # string, number, enumeration, datetime, date, bool, phone_number
    field_type: str
    group_name: str
    description: str = ""
    options: list[Option] = field(default_factory=list)
    hubspot_defined: bool = True
    has_unique_value: bool = False
    read_only: bool = False
    display_order: int = -1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": [option.to_json() for option in self.options],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if self.created_at is not None:
            body["createdAt"] = iso(self.created_at)
        if self.updated_at is not None:
            body["updatedAt"] = iso(self.updated_at)
        return body


@dataclass(slots=True)
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


@dataclass(frozen=True, slots=True)
class InvalidValue:
    """Why one written value was refused, in HubSpot's words (`error` is its code)."""

    name: str
    error: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as HubSpot v3 returns timestamps."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_moment(value: str) -> datetime | None:
    """Epoch milliseconds or an ISO 8601 string (a date alone is midnight UTC)."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def normalise(definition: PropertyDefinition, value: str) -> str | InvalidValue:
    """The value as HubSpot stores it, or why it is refused. "" clears any property."""
    name = definition.name
    if value == "":
        return ""
    kind = definition.type
    if kind == "enumeration":
        allowed = {option.value for option in definition.options}
        chosen = value.split(";") if definition.field_type == "checkbox" else [value]
        bad = [item for item in chosen if item not in allowed]
        if bad:
            return InvalidValue(
                name,
                "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: [{', '.join(sorted(allowed))}]",
            )
        return value
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return InvalidValue(name, "INVALID_NUMBER", f'"{value}" is not a valid number')
        return value
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            return InvalidValue(name, "INVALID_BOOLEAN", f'"{value}" is not true or false')
        return value.lower()
    if kind == "datetime":
        moment = parse_moment(value)
        if moment is None:
            return InvalidValue(name, "INVALID_DATE", f'"{value}" is not a valid datetime')
        return iso(moment)
    if kind == "date":
        moment = parse_moment(value)
        if moment is None or (moment.hour, moment.minute, moment.second) != (0, 0, 0):
            return InvalidValue(name, "INVALID_DATE", f'"{value}" is not a date at midnight UTC')
        return date(moment.year, moment.month, moment.day).isoformat()
    return value


# --- HubSpot's default definitions for what Glengarry reads --------------------------------

_CONTACT_GROUPS = [
    PropertyGroup("contactinformation", "Contact information", 0),
    PropertyGroup("analyticsinformation", "Web analytics history", 1),
    PropertyGroup("emailinformation", "Email information", 2),
    PropertyGroup("conversioninformation", "Conversion information", 3),
]

_LIFECYCLE = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
_LEAD_STATUS = [
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
]
_INDUSTRIES = [
    "ACCOUNTING",
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INTERNET",
    "MANUFACTURING",
    "MARKETING_AND_ADVERTISING",
    "RETAIL",
    "TELECOMMUNICATIONS",
    "EDUCATION_MANAGEMENT",
    "HIGHER_EDUCATION",
    "NONPROFIT_ORGANIZATION_MANAGEMENT",
    "CONSTRUCTION",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "REAL_ESTATE",
    "BANKING",
    "INSURANCE",
    "MEDIA_PRODUCTION",
    "OTHER",
]
_EMPLOYEE_RANGES = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"]


def _options(values: Iterable[str]) -> list[Option]:
    return [
        Option(value, value.replace("_", " ").title(), index) for index, value in enumerate(values)
    ]


def _p(
    name: str,
    label: str,
    kind: str = "string",
    group: str = "contactinformation",
    options: Iterable[str] = (),
    *,
    field_type: str | None = None,
    unique: bool = False,
) -> PropertyDefinition:
    default_field = {
        "string": "text",
        "number": "number",
        "enumeration": "select",
        "datetime": "date",
        "date": "date",
        "bool": "booleancheckbox",
        "phone_number": "phonenumber",
    }[kind]
    return PropertyDefinition(
        name=name,
        label=label,
        type=kind,
        field_type=field_type or default_field,
        group_name=group,
        options=_options(options)
        if kind == "enumeration"
        else ([Option("true", "Yes", 0), Option("false", "No", 1)] if kind == "bool" else []),
        has_unique_value=unique,
        read_only=name in READ_ONLY or name in _CALCULATED or name.startswith(_CALCULATED_PREFIX),
    )


def _contact_properties() -> list[PropertyDefinition]:
    info = "contactinformation"
    analytics = "analyticsinformation"
    email = "emailinformation"
    conversion = "conversioninformation"
    return [
        _p("email", "Email", unique=True),
        _p("firstname", "First name"),
        _p("lastname", "Last name"),
        _p("jobtitle", "Job title"),
        _p("company", "Company name"),
        _p("website", "Website URL"),
        _p("phone", "Phone number", "phone_number"),
        _p("numemployees", "Number of employees", "enumeration", info, _EMPLOYEE_RANGES),
        _p("industry", "Industry", "enumeration", info, _INDUSTRIES),
        _p("annualrevenue", "Annual revenue", "number"),
        _p("country", "Country/region"),
        _p("state", "State/region"),
        _p("city", "City"),
        _p("lifecyclestage", "Lifecycle stage", "enumeration", info, _LIFECYCLE),
        _p("hs_lead_status", "Lead status", "enumeration", info, _LEAD_STATUS),
        _p("hubspot_owner_id", "Contact owner"),
        _p("createdate", "Create date", "datetime"),
        _p("lastmodifieddate", "Last modified date", "datetime"),
        _p("hs_object_id", "Record ID", "number"),
        _p("hs_merged_object_ids", "Merged record IDs", "enumeration", field_type="checkbox"),
        _p("hs_email_optout", "Unsubscribed from all email", "bool", email),
        _p("hs_email_last_open_date", "Last marketing email open date", "datetime", email),
        _p("hs_email_last_click_date", "Last marketing email click date", "datetime", email),
        _p("hs_analytics_last_visit_timestamp", "Time of last session", "datetime", analytics),
        _p("hs_analytics_last_url", "Last page seen", "string", analytics),
        _p("hs_analytics_num_page_views", "Number of pageviews", "number", analytics),
        _p("hs_analytics_num_visits", "Number of sessions", "number", analytics),
        _p("hs_analytics_source", "Original source", "string", analytics),
        _p("recent_conversion_date", "Recent conversion date", "datetime", conversion),
        _p("recent_conversion_event_name", "Recent conversion", "string", conversion),
        _p("first_conversion_date", "First conversion date", "datetime", conversion),
        _p("first_conversion_event_name", "First conversion", "string", conversion),
        _p("num_conversion_events", "Number of form submissions", "number", conversion),
        *(
            _p(lifecycle_date(stage), f"Date entered '{stage}' (lifecycle stage)", "datetime")
            for stage in _LIFECYCLE
        ),
    ]


def lifecycle_date(stage: str) -> str:
    """The read-only property HubSpot stamps when a contact first enters a lifecycle stage."""
    return f"hs_lifecyclestage_{stage}_date"


def _engagement_properties(object_type: str) -> list[PropertyDefinition]:
    group = {
        "emails": "emailinformation",
        "calls": "callinformation",
        "meetings": "meetinginformation",
        "notes": "noteinformation",
        "tasks": "taskinformation",
    }[object_type]
    common = [
        _p("hs_timestamp", "Activity date", "datetime", group),
        _p("hs_object_id", "Record ID", "number", group),
        _p("hs_createdate", "Create date", "datetime", group),
        _p("hs_lastmodifieddate", "Last modified date", "datetime", group),
        _p("hubspot_owner_id", "Activity assigned to", "string", group),
    ]
    specific = {
        "emails": [
            _p(
                "hs_email_direction",
                "Email direction",
                "enumeration",
                group,
                ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"],
            ),
            _p("hs_email_subject", "Email subject", "string", group),
            _p("hs_email_text", "Email body", "string", group),
        ],
        "calls": [
            _p(
                "hs_call_direction", "Call direction", "enumeration", group, ["INBOUND", "OUTBOUND"]
            ),
            _p(
                "hs_call_status",
                "Call status",
                "enumeration",
                group,
                [
                    "BUSY",
                    "CALLING_CRM_USER",
                    "CANCELED",
                    "COMPLETED",
                    "CONNECTING",
                    "FAILED",
                    "IN_PROGRESS",
                    "NO_ANSWER",
                    "QUEUED",
                    "RINGING",
                ],
            ),
            _p("hs_call_duration", "Call duration (ms)", "number", group),
            _p("hs_call_title", "Call title", "string", group),
        ],
        "meetings": [
            _p(
                "hs_meeting_outcome",
                "Meeting outcome",
                "enumeration",
                group,
                ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"],
            ),
            _p("hs_meeting_title", "Meeting name", "string", group),
            _p("hs_meeting_start_time", "Meeting start time", "datetime", group),
            _p("hs_meeting_end_time", "Meeting end time", "datetime", group),
        ],
        "notes": [_p("hs_note_body", "Note body", "string", group)],
        "tasks": [
            _p(
                "hs_task_status",
                "Task status",
                "enumeration",
                group,
                ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"],
            ),
            _p("hs_task_subject", "Task title", "string", group),
        ],
    }[object_type]
    return common + specific


def _record_properties(object_type: str) -> list[PropertyDefinition]:
    """Tickets and deals (read and written in HubSpot; read here) and survey answers (read only
    in HubSpot too: the Feedback Submissions API has no writes)."""
    if object_type == "tickets":
        group = "ticketinformation"
        return [
            _p("subject", "Ticket name", "string", group),
            _p("content", "Ticket description", "string", group),
            _p("hs_pipeline", "Pipeline", "enumeration", group, [TICKET_PIPELINE]),
            _p("hs_pipeline_stage", "Ticket status", "enumeration", group, TICKET_STAGES),
            _p("hs_ticket_priority", "Priority", "enumeration", group, TICKET_PRIORITIES),
            _p("createdate", "Create date", "datetime", group),
            _p("closed_date", "Close date", "datetime", group),
            _p("hs_lastmodifieddate", "Last modified date", "datetime", group),
            _p("hs_object_id", "Record ID", "number", group),
        ]
    if object_type == "deals":
        group = "dealinformation"
        return [
            _p("dealname", "Deal name", "string", group),
            _p("pipeline", "Pipeline", "enumeration", group, ["default"]),
            _p("dealstage", "Deal stage", "enumeration", group, DEAL_STAGES),
            _p("amount", "Amount", "number", group),
            _p("deal_currency_code", "Currency", "enumeration", group, DEAL_CURRENCIES),
            _p("closedate", "Close date", "datetime", group),
            _p("hs_is_closed", "Is deal closed?", "bool", group),
            _p("hs_is_closed_won", "Is closed won", "bool", group),
            _p("createdate", "Create date", "datetime", group),
            _p("hs_lastmodifieddate", "Last modified date", "datetime", group),
            _p("hs_object_id", "Record ID", "number", group),
        ]
    group = "feedbacksubmissioninformation"
    return [
        _p("hs_survey_type", "Survey type", "enumeration", group, SURVEY_TYPES),
        _p("hs_survey_name", "Survey name", "string", group),
        _p("hs_survey_channel", "Survey channel", "enumeration", group, ["EMAIL", "WEB", "LINK"]),
        _p("hs_value", "Response value", "number", group),
        _p("hs_response_group", "Response group", "enumeration", group, RESPONSE_GROUPS),
        _p("hs_content", "Response", "string", group),
        _p("hs_submission_timestamp", "Submitted at", "datetime", group),
        _p("hs_createdate", "Create date", "datetime", group),
        _p("hs_lastmodifieddate", "Last modified date", "datetime", group),
        _p("hs_object_id", "Record ID", "number", group),
    ]


TICKET_PIPELINE = "0"  # HubSpot's default support pipeline
# Its stages: 1 New, 2 Waiting on contact, 3 Waiting on us, 4 Closed.
TICKET_STAGES = ["1", "2", "3", "4"]
TICKET_CLOSED_STAGE = "4"
TICKET_PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"]
DEAL_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]
DEAL_CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "SEK", "INR", "BRL", "MXN"]
SURVEY_TYPES = ["NPS", "CSAT", "CES", "CUSTOM"]
RESPONSE_GROUPS = ["PROMOTER", "PASSIVE", "DETRACTOR"]

ENGAGEMENT_TYPES = ("emails", "calls", "meetings", "notes", "tasks")
RECORD_TYPES = ("tickets", "deals", "feedback_submissions")
OBJECT_TYPES = ("contacts", *ENGAGEMENT_TYPES, *RECORD_TYPES)
# The create and last-modified properties of each type (they differ between types in HubSpot).
CREATED_PROPERTY = (
    {"contacts": "createdate", "tickets": "createdate", "deals": "createdate"}
    | dict.fromkeys(ENGAGEMENT_TYPES, "hs_createdate")
    | {"feedback_submissions": "hs_createdate"}
)
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"} | dict.fromkeys(
    (*ENGAGEMENT_TYPES, *RECORD_TYPES), "hs_lastmodifieddate"
)
# The scope a read of each type needs (HubSpot answers 403 MISSING_SCOPES without it).
READ_SCOPES = {
    "contacts": "crm.objects.contacts.read",
    "tickets": "tickets",
    "deals": "crm.objects.deals.read",
    "feedback_submissions": "crm.objects.feedback_submissions.read",
}


def default_definitions() -> dict[str, dict[str, PropertyDefinition]]:
    """Per object type: name -> definition (fresh objects each call)."""
    result = {"contacts": {p.name: p for p in _contact_properties()}}
    for object_type in ENGAGEMENT_TYPES:
        result[object_type] = {p.name: p for p in _engagement_properties(object_type)}
    for object_type in RECORD_TYPES:
        result[object_type] = {p.name: p for p in _record_properties(object_type)}
    return result


def default_groups() -> dict[str, dict[str, PropertyGroup]]:
    result = {
        "contacts": {
            g.name: PropertyGroup(g.name, g.label, g.display_order) for g in _CONTACT_GROUPS
        }
    }
    for object_type in (*ENGAGEMENT_TYPES, *RECORD_TYPES):
        groups: dict[str, PropertyGroup] = {}
        definitions = (
            _engagement_properties(object_type)
            if object_type in ENGAGEMENT_TYPES
            else _record_properties(object_type)
        )
        for definition in definitions:
            name = definition.group_name
            groups.setdefault(
                name,
                PropertyGroup(name, name.replace("information", " information").capitalize(), 0),
            )
        result[object_type] = groups
    return result


def definition_from_create(body: Mapping[str, Any], now: datetime) -> PropertyDefinition:
    """A custom property from a `PropertyCreate` body (fields already checked present)."""
    options = [
        Option(
            str(item.get("value", "")),
            str(item.get("label", "")),
            int(item.get("displayOrder", index) or 0),
            bool(item.get("hidden", False)),
            str(item.get("description", "") or ""),
        )
        for index, item in enumerate(body.get("options") or [])
        if isinstance(item, Mapping)
    ]
    return PropertyDefinition(
        name=str(body["name"]),
        label=str(body["label"]),
        type=str(body["type"]),
        field_type=str(body["fieldType"]),
        group_name=str(body["groupName"]),
        description=str(body.get("description") or ""),
        options=options,
        hubspot_defined=False,
        has_unique_value=bool(body.get("hasUniqueValue", False)),
        display_order=int(body.get("displayOrder", -1) or -1),
        created_at=now,
        updated_at=now,
    )
