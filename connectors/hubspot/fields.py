"""Glengarry's custom contact properties in HubSpot: one group, ten properties.

Eight hold the qualification Glengarry writes; two are set by reps and read by Glengarry: the
status override and the do-not-contact checkbox the default criteria disqualify on. A property
that already exists with another definition is a conflict (`conflict`): it is never redefined,
and nothing is written to it until the admin fixes it and the fields are checked again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GROUP_NAME = "glengarry"
GROUP = {"name": GROUP_NAME, "label": "Glengarry qualification", "displayOrder": -1}

OVERRIDE = "glengarry_override"
DO_NOT_CONTACT = "glengarry_do_not_contact"
# HubSpot's checkbox (type `bool`) carries these two options.
_BOOL_OPTIONS = (("Yes", "true"), ("No", "false"))


@dataclass(frozen=True, slots=True)
class _Definition:
    label: str
    type: str  # HubSpot's property type: what values it holds
    field_type: str  # how HubSpot's forms and record pages show it
    description: str


# The qualification fields Glengarry writes, then the override reps set: FIELD_NAMES.
_QUALIFICATION: Mapping[str, _Definition] = {
    "glengarry_status": _Definition(
        "Qualification status",
        "enumeration",
        "select",
        "Where the contact stands now; updated continuously by Glengarry.",
    ),
    "glengarry_score": _Definition(
        "Qualification score", "number", "number", "0-100: fit and engagement."
    ),
    "glengarry_fit": _Definition("Fit", "number", "number", "0-100: who the contact is."),
    "glengarry_engagement": _Definition(
        "Engagement", "number", "number", "0-100: what the contact does now; decays with time."
    ),
    "glengarry_reasons": _Definition(
        "Qualification reasons",
        "string",
        "textarea",
        "The signals behind the score, with their dates.",
    ),
    "glengarry_status_since": _Definition(
        "Status since", "datetime", "date", "When the contact entered its current status."
    ),
    "glengarry_criteria_version": _Definition(
        "Criteria version",
        "string",
        "text",
        "The version of the shared criteria that produced this qualification.",
    ),
    "glengarry_conversion_probability": _Definition(
        "Conversion probability (%)",
        "number",
        "number",
        "Chance of converting, in percent, from the calibrated criteria; empty before one.",
    ),
    OVERRIDE: _Definition(
        "Status override (rep)",
        "enumeration",
        "select",
        "Set by a rep to pin the status; leave empty to let Glengarry decide.",
    ),
}
# Inputs of the default criteria that HubSpot has no property for: installed, never written.
_CRITERIA_INPUTS: Mapping[str, _Definition] = {
    DO_NOT_CONTACT: _Definition(
        "Do not contact",
        "bool",
        "booleancheckbox",
        "Checked by a rep or for a privacy request: Glengarry never routes the contact to sales.",
    ),
}
FIELD_NAMES: tuple[str, ...] = tuple(_QUALIFICATION)
INSTALLED: tuple[str, ...] = (*FIELD_NAMES, *_CRITERIA_INPUTS)


def _option(label: str, value: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


def _status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


def definitions(statuses: Sequence[str]) -> list[dict[str, Any]]:
    """Property create bodies, as `POST /crm/v3/properties/contacts` takes them."""
    bodies = []
    every = {**_QUALIFICATION, **_CRITERIA_INPUTS}
    for order, (name, spec) in enumerate(every.items()):
        body: dict[str, Any] = {
            "name": name,
            "label": spec.label,
            "type": spec.type,
            "fieldType": spec.field_type,
            "groupName": GROUP_NAME,
            "description": spec.description,
            "displayOrder": order,
            "formField": False,
        }
        if spec.type == "enumeration":
            body["options"] = [_option(_status_label(s), s, i) for i, s in enumerate(statuses)]
        elif spec.type == "bool":
            body["options"] = [_option(lab, val, i) for i, (lab, val) in enumerate(_BOOL_OPTIONS)]
        bodies.append(body)
    return bodies


def conflict(existing_type: str, existing_options: Iterable[str], wanted: Mapping[str, Any]) -> str:
    """Why an existing property cannot hold what Glengarry needs there ("" when it can)."""
    if existing_type != wanted["type"]:
        return f"exists as a {existing_type} property (Glengarry needs {wanted['type']})"
    if wanted["type"] == "enumeration":
        have = set(existing_options)
        missing = [o["value"] for o in wanted["options"] if o["value"] not in have]
        if missing:
            return f"is an enumeration without the options Glengarry uses: {', '.join(missing)}"
    return ""
