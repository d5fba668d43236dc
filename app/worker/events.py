"""What a batch of inbox events asks for, decided without the CRM: the echo filter lives here.

Our own write-backs come back as `propertyChange` events on the fields we write (and bump
`lastmodifieddate`); they, and changes that carry the value we already hold, cause nothing.
A rep changing `glengarry_override` does cause a rescore.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.base import ChangeEvent, ChangeKind
from qualification.fields import CONVERSION_PROBABILITY, FIELD_NAMES
from qualification.statuses import OVERRIDE_PROPERTY as OVERRIDE

# The fields Glengarry itself writes, by the logical names every connector maps its CRM's onto;
# other `glengarry_*` properties (the override, or a criteria property such as
# `glengarry_do_not_contact`) are a person's doing.
WRITTEN = frozenset((*FIELD_NAMES, CONVERSION_PROBABILITY))


@dataclass
class Plan:
    reread: set[str] = field(default_factory=set)  # CRM ids to read again and rescore
    deleted: set[str] = field(default_factory=set)
    purged: set[str] = field(default_factory=set)  # privacy deletion: forget everything
    echoes: int = 0


def plan(events: Iterable[ChangeEvent], known: Mapping[str, Mapping[str, object]]) -> Plan:
    """`known`: CRM id -> the properties we hold for the contacts these events are about."""
    result = Plan()
    for event in sorted(events, key=lambda e: e.occurred_at):
        crm_id = event.crm_id
        if event.kind is ChangeKind.PRIVACY_DELETED:
            result.purged.add(crm_id)
            result.reread.discard(crm_id)
            result.deleted.discard(crm_id)
        elif crm_id in result.purged:
            continue
        elif event.kind is ChangeKind.DELETED:
            result.deleted.add(crm_id)
            result.reread.discard(crm_id)
        elif event.kind is ChangeKind.PROPERTY_CHANGED and _is_echo(event, known.get(crm_id)):
            result.echoes += 1
        else:
            result.reread.add(crm_id)
            result.deleted.discard(crm_id)
    return result


def _is_echo(event: ChangeEvent, held: Mapping[str, object] | None) -> bool:
    name = event.property_name
    if name == OVERRIDE:
        return held is not None and (held.get(name) or "") == (event.property_value or "")
    if name in WRITTEN:
        return True
    if held is None or name is None:
        return False
    return (held.get(name) or "") == (event.property_value or "")
