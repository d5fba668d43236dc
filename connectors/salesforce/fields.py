"""Glengarry's nine custom fields on Lead and Contact, and the two permission sets.

The pipeline names the fields by their logical names, the ones HubSpot's properties carry
(`glengarry_status`, ...); `API_NAMES` turns them into Salesforce's (`Glengarry_Status__c`).
Each field is made through the Tooling API's `CustomField` with the metadata below ("CustomField",
Metadata API Developer Guide): the picklists list the statuses, the numbers hold 0-100, the
reasons are a long text area (their clipped length, 1,000, fits with room).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OBJECTS = ("Lead", "Contact")
OVERRIDE = "glengarry_override"
REASONS_LENGTH = 4_000  # the reasons are clipped to 1,000 characters; a margin for longer ones


@dataclass(frozen=True, slots=True)
class FieldSpec:
    logical: str  # the pipeline's name (HubSpot's property name)
    api_name: str  # Salesforce's, on both objects
    type: str  # Metadata type: Picklist, Number, LongTextArea, DateTime, Text
    label: str
    description: str


SPECS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "glengarry_status",
        "Glengarry_Status__c",
        "Picklist",
        "Qualification status",
        "Where the person stands now; updated continuously by Glengarry.",
    ),
    FieldSpec(
        "glengarry_score",
        "Glengarry_Score__c",
        "Number",
        "Qualification score",
        "0-100: fit and engagement.",
    ),
    FieldSpec("glengarry_fit", "Glengarry_Fit__c", "Number", "Fit", "0-100: who the person is."),
    FieldSpec(
        "glengarry_engagement",
        "Glengarry_Engagement__c",
        "Number",
        "Engagement",
        "0-100: what the person does now; decays with time.",
    ),
    FieldSpec(
        "glengarry_reasons",
        "Glengarry_Reasons__c",
        "LongTextArea",
        "Qualification reasons",
        "The signals behind the score, with their dates.",
    ),
    FieldSpec(
        "glengarry_status_since",
        "Glengarry_Status_Since__c",
        "DateTime",
        "Status since",
        "When the person entered the current status.",
    ),
    FieldSpec(
        "glengarry_criteria_version",
        "Glengarry_Criteria_Version__c",
        "Text",
        "Criteria version",
        "The version of the shared criteria that produced this qualification.",
    ),
    FieldSpec(
        "glengarry_conversion_probability",
        "Glengarry_Conversion_Probability__c",
        "Percent",
        "Conversion probability (%)",
        "Chance of converting, from the calibrated criteria; empty before one.",
    ),
    FieldSpec(
        OVERRIDE,
        "Glengarry_Override__c",
        "Picklist",
        "Status override (rep)",
        "Set by a rep to pin the status; leave empty to let Glengarry decide.",
    ),
)
# logical name -> Salesforce API name (the same on Lead and Contact)
API_NAMES: Mapping[str, str] = {spec.logical: spec.api_name for spec in SPECS}
LOGICAL_NAMES: Mapping[str, str] = {spec.api_name.lower(): spec.logical for spec in SPECS}
NUMBER_FIELDS = frozenset(spec.logical for spec in SPECS if spec.type in ("Number", "Percent"))
# Describe's type for each Metadata type (what a field made with that metadata reports).
DESCRIBE_TYPES: Mapping[str, str] = {
    "Picklist": "picklist",
    "Number": "double",
    "Percent": "percent",
    "LongTextArea": "textarea",
    "DateTime": "datetime",
    "Text": "string",
}


def metadata(spec: FieldSpec, statuses: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": spec.label,
        "type": spec.type,
        "description": spec.description,
        "inlineHelpText": spec.description,
    }
    if spec.type == "Picklist":
        body["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": s, "label": s.replace("_", " ").capitalize(), "default": False}
                    for s in statuses
                ],
            },
        }
    elif spec.type == "Number":
        body |= {"precision": 3, "scale": 0}
    elif spec.type == "Percent":  # one decimal, as the pipeline writes it
        body |= {"precision": 4, "scale": 1}
    elif spec.type == "LongTextArea":
        body |= {"length": REASONS_LENGTH, "visibleLines": 3}
    elif spec.type == "Text":
        body["length"] = 80
    return body


def custom_field_body(sobject: str, spec: FieldSpec, statuses: Sequence[str]) -> dict[str, Any]:
    """A `POST tooling/sobjects/CustomField` body."""
    return {"FullName": f"{sobject}.{spec.api_name}", "Metadata": metadata(spec, statuses)}


@dataclass(frozen=True, slots=True)
class PermissionSetSpec:
    name: str
    label: str
    description: str
    edit: frozenset[str]  # logical names it may edit (it reads all nine)
    assign_to_integration_user: bool


INTEGRATION = PermissionSetSpec(
    "Glengarry_Integration",
    "Glengarry integration",
    "Lets the Glengarry integration user read and write the nine Glengarry fields.",
    frozenset(API_NAMES),
    assign_to_integration_user=True,
)
REPS = PermissionSetSpec(
    "Glengarry_Reps",
    "Glengarry reps",
    "Lets sales reps see Glengarry's qualification and pin a status with the override.",
    frozenset({OVERRIDE}),
    assign_to_integration_user=False,
)
PERMISSION_SETS = (INTEGRATION, REPS)
