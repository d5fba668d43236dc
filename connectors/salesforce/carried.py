"""What a Lead's Outbound Message carries: the Lead's current values of the fields it was set
up with (realtime.LEAD_FIELDS), as of its `LastModifiedDate` (a notification holds the values
when it is sent, and its `LastModifiedDate` is read then too: "Understanding Notifications",
SOAP API Developer Guide). Used in place of a re-read when each notification of a Lead in a
batch carries every field a read would map for the connection's criteria.

Salesforce leaves a field without a value out of the message, so a left-out field is empty or
not set up: it counts as empty only in a message that carries `realtime.MARKER` (a checkbox,
always sent, that only Glengarry's set-up has). Anything else reads the person: a creation, a
message of an older or sparser set-up, a deleted or converted Lead (a read archives it), a
Contact (its company and lifecycle are its Account's), and criteria naming a Salesforce field
of their own (`Rating`: the set-up does not carry it, and its type is not known here).

Values pass through the read's own mapping (`PropertyMap.values`), from the row a REST read
would give: the message's xsd strings are what the mapping's conversions read already
(numbers, checkboxes, picklist labels), and date-times become REST's spelling, so that a
carried value equals the one a read stores and an unchanged field is no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC

from connectors.base import ChangeEvent, ChangeKind
from connectors.salesforce.fields import API_NAMES, OVERRIDE
from connectors.salesforce.mapping import LEAD, PropertyMap, parse_time
from connectors.salesforce.marketing import TOUCHES
from connectors.salesforce.realtime import LEAD_FIELDS, MARKER

# A read's stamps (the event's instant says when), and what Glengarry writes (its echoes).
_NOT_CARRIED = frozenset(
    {"createdate", "lastmodifieddate", *(name for name in API_NAMES if name != OVERRIDE)}
)
_DATE_TIMES = frozenset(touch.at_field for touch in TOUCHES)
# Glengarry's vocabulary names Salesforce fields through `fields.API_NAMES` (`Glengarry_*__c`);
# another `glengarry_*` name (HubSpot's `glengarry_do_not_contact`) is no Salesforce field, so
# a read finds no value for it either.
_OWN_PREFIX = "glengarry_"


def carried(
    events: Sequence[ChangeEvent], criteria_properties: Sequence[str]
) -> list[dict[str, str | None]] | None:
    """Per event (one person's, oldest first), the engine properties its notification gives;
    None when the person must be read."""
    properties = PropertyMap(properties=tuple(criteria_properties))
    if any(
        path not in LEAD_FIELDS and not name.startswith(_OWN_PREFIX)
        for name, path in properties.direct.items()
    ):
        return None
    values: list[dict[str, str | None]] = []
    for event in events:
        row = _row(event)
        if row is None:
            return None
        found = properties.values(row, LEAD)
        values.append({k: v for k, v in found.items() if k not in _NOT_CARRIED})
    return values


def _row(event: ChangeEvent) -> dict[str, str | None] | None:
    """The Lead's fields as a REST read returns them; None when the message does not say."""
    fields: Mapping[str, str | None] = event.raw.get("fields") or {}
    if event.kind is not ChangeKind.PROPERTY_CHANGED or event.raw.get("sobject") != LEAD:
        return None
    if fields.get(MARKER) is None or fields.get("LastModifiedDate") is None:
        return None  # set up without Glengarry's fields, or not dated by them
    if fields.get(MARKER) != "false" or fields.get("IsConverted") != "false":
        return None  # deleted or converted: a read archives it
    return {name: _as_read(name, fields.get(name)) for name in LEAD_FIELDS}


def _as_read(name: str, value: str | None) -> str | None:
    if value is None or name not in _DATE_TIMES:
        return value
    moment = parse_time(value)
    if moment is None:
        return value
    moment = moment.astimezone(UTC)  # REST's spelling: 2024-05-01T12:00:00.000+0000
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
