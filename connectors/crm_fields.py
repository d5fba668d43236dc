"""Criteria properties that name one CRM's own field: `salesforce.Rating`,
`hubspot.hs_lead_status`, `salesforce.Account.Rating` (a Contact's Account's field).

A property without such a prefix is read through the connector's mapping (HubSpot's names are
the engine's vocabulary). With one, only that CRM's connector reads it, the field as the CRM
names it, and hands its value on under the criteria's name; every other CRM leaves it unread
(the property is absent there, as a field the CRM does not have), so one criteria file can
serve portals and orgs alike.
"""

from __future__ import annotations

from collections.abc import Iterable

CRMS = ("hubspot", "salesforce")


def own_field(name: str, crm: str) -> str | None:
    """The field `name` names in `crm`, or None when it names another CRM's field; a name
    without a CRM prefix is returned as it is."""
    head, dot, rest = name.partition(".")
    if not dot or head.lower() not in CRMS:
        return name
    return rest if head.lower() == crm and rest else None


def own_fields(names: Iterable[str], crm: str) -> dict[str, str]:
    """Criteria name -> this CRM's field, for the names that carry this CRM's prefix."""
    found: dict[str, str] = {}
    for name in names:
        field = own_field(name, crm)
        if field is not None and field != name:
            found[name] = field
    return found


def foreign(name: str, crm: str) -> bool:
    """Does `name` name another CRM's field (never to be asked of this one)?"""
    return own_field(name, crm) is None
