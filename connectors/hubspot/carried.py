"""What HubSpot's `contact.propertyChange` events carry: the new value of one property, as of
the event's `occurredAt`. Used in place of a re-read when every change of a contact in a batch
is such an event on a property the connection reads (no CRM call: the budget buys other
contacts). Anything else re-reads the contact.

An activity HubSpot keeps in properties (`mapping.DERIVED_ACTIVITIES`) is derived from the
carried values as a read would derive it. Where it needs a second property (a page view's URL,
a form's name) that no event of the batch carries, the value held is the one: a view of the
same page sends no URL change, and HubSpot sends a visit's changes together. A URL change
delivered in a later batch, at the same instant, still applies (each property keeps its own
time) and updates the activity, whose id comes from its date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.base import ChangeEvent, ChangeKind
from connectors.crm_fields import own_fields
from connectors.hubspot.mapping import (
    DERIVED_ACTIVITIES,
    OUTCOME_PROPERTIES,
    SYSTEM_PROPERTIES,
    requested_properties,
)

# Never carried: the record's own stamps and merges (a read follows a merge), and the stage
# dates outcomes are read from (a read also reads the contact's deals).
_READ_ONLY = frozenset((*SYSTEM_PROPERTIES, *OUTCOME_PROPERTIES))
KIND = "hubspot"
# Date properties a read returns as ISO 8601 and a webhook may send as epoch milliseconds:
# stored as a read stores them, so that comparing with the value held means the same.
_DATES = frozenset(d.at_property for d in DERIVED_ACTIVITIES)


def _as_read(name: str, value: str | None) -> str | None:
    if value is None or name not in _DATES or not value.isdigit():
        return value
    at = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def carried(
    events: Sequence[ChangeEvent], criteria_properties: Sequence[str]
) -> list[dict[str, str | None]] | None:
    """Per event (one contact's, oldest first), the properties it sets, criteria aliases
    (`hubspot.hs_lead_status`) included; None when the contact must be read."""
    readable = set(requested_properties(criteria_properties)) - _READ_ONLY
    aliases = own_fields(criteria_properties, KIND)
    values: list[dict[str, str | None]] = []
    for event in events:
        name = event.property_name
        if event.kind is not ChangeKind.PROPERTY_CHANGED or name not in readable:
            return None
        if "propertyValue" not in event.raw:  # an event that does not say the value
            return None
        value = _as_read(name, event.property_value or None)  # "" is a value cleared
        found: dict[str, str | None] = {name: value}
        found.update({alias: value for alias, field in aliases.items() if field == name})
        values.append(found)
    return values
