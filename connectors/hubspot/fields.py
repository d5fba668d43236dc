"""Glengarry's custom contact properties in HubSpot: one group, nine properties."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

GROUP_NAME = "glengarry"
GROUP = {"name": GROUP_NAME, "label": "Glengarry qualification", "displayOrder": -1}

# name -> (label, HubSpot type, field type, description)
_DEFINITIONS: Mapping[str, tuple[str, str, str, str]] = {
    "glengarry_status": (
        "Qualification status",
        "enumeration",
        "select",
        "Where the contact stands now; updated continuously by Glengarry.",
    ),
    "glengarry_score": ("Qualification score", "number", "number", "0-100: fit and engagement."),
    "glengarry_fit": ("Fit", "number", "number", "0-100: who the contact is."),
    "glengarry_engagement": (
        "Engagement",
        "number",
        "number",
        "0-100: what the contact does now; decays with time.",
    ),
    "glengarry_reasons": (
        "Qualification reasons",
        "string",
        "textarea",
        "The signals behind the score, with their dates.",
    ),
    "glengarry_status_since": (
        "Status since",
        "datetime",
        "date",
        "When the contact entered its current status.",
    ),
    "glengarry_criteria_version": (
        "Criteria version",
        "string",
        "text",
        "The version of the shared criteria that produced this qualification.",
    ),
    "glengarry_conversion_probability": (
        "Conversion probability (%)",
        "number",
        "number",
        "Chance of converting, in percent, from the calibrated criteria; empty before one.",
    ),
    "glengarry_override": (
        "Status override (rep)",
        "enumeration",
        "select",
        "Set by a rep to pin the status; leave empty to let Glengarry decide.",
    ),
}
FIELD_NAMES: tuple[str, ...] = tuple(_DEFINITIONS)
OVERRIDE = "glengarry_override"


def _option(status: str, order: int) -> dict[str, Any]:
    return {
        "label": status.replace("_", " ").capitalize(),
        "value": status,
        "displayOrder": order,
        "hidden": False,
    }


def definitions(statuses: Sequence[str]) -> list[dict[str, Any]]:
    """Property create bodies, as `POST /crm/v3/properties/contacts` takes them."""
    bodies = []
    for order, (name, (label, type_, field_type, description)) in enumerate(_DEFINITIONS.items()):
        body: dict[str, Any] = {
            "name": name,
            "label": label,
            "type": type_,
            "fieldType": field_type,
            "groupName": GROUP_NAME,
            "description": description,
            "displayOrder": order,
            "formField": False,
        }
        if type_ == "enumeration":
            body["options"] = [_option(s, i) for i, s in enumerate(statuses)]
        bodies.append(body)
    return bodies
