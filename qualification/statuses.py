"""The statuses a contact can be in, most decisive first."""

from __future__ import annotations

from enum import StrEnum

# A rep pins a status by writing one of the Status values into this contact property.
OVERRIDE_PROPERTY = "glengarry_override"


class Status(StrEnum):
    DISQUALIFIED = "disqualified"
    CUSTOMER_ACTIVE = "customer_active"
    CUSTOMER_AT_RISK = "customer_at_risk"
    UNKNOWN = "unknown"
    SALES_READY = "sales_ready"
    POOR_FIT = "poor_fit"
    NURTURE = "nurture"


def parse_override(value: object) -> Status | None:
    """The status a rep pinned, or None when the property is empty or not a status name."""
    if not isinstance(value, str):
        return None
    try:
        return Status(value.strip().lower())
    except ValueError:
        return None
