"""What a batch of inbox events asks for, decided without the CRM: the echo filter, and the
values the events carry, live here.

Our own write-backs come back as `propertyChange` events on the fields we write (and bump
`lastmodifieddate`); they, and changes that carry the value we already hold, cause nothing.
A rep changing `glengarry_override` does cause a rescore.

An event that carries the new value of a property (`Carry`, the CRM package's say) is applied
to the stored properties instead of re-reading the contact, when every change of that contact
in the batch is such an event: oldest first, and only where it is newer than the value held
(`Held.instant`), so two changes delivered newest first end with the newest value and a late or
replayed event changes nothing. An association event that names the one activity record added
to a held contact (a call logged: `Named`, the CRM package's say) reads that record alone.
Anything else about a contact (a creation, another association, a property no event carries)
re-reads it from the CRM, which gives everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import ChangeEvent, ChangeKind
from qualification.fields import CONVERSION_PROBABILITY, FIELD_NAMES
from qualification.statuses import OVERRIDE_PROPERTY as OVERRIDE

# The fields Glengarry itself writes, by the logical names every connector maps its CRM's onto;
# other `glengarry_*` properties (the override, or a criteria property such as
# `glengarry_do_not_contact`) are a person's doing.
WRITTEN = frozenset((*FIELD_NAMES, CONVERSION_PROBABILITY))

# One contact's property changes, oldest first -> the values each carries (engine names), or
# None when the contact must be read (see `connectors.crm.Crm.carried`).
Carry = Callable[[Sequence[ChangeEvent]], Sequence[Mapping[str, str | None]] | None]
# An event -> the activity record it says was added to its contact (`calls:17`), or None
# (see `connectors.crm.Crm.named_record`).
Named = Callable[[ChangeEvent], str | None]


@dataclass(frozen=True)
class Held:
    """What the store holds for a contact: its properties, and when each value was current."""

    properties: Mapping[str, object]
    modified_at: datetime | None = None  # the last read of the whole record (`crm_modified_at`)
    times: Mapping[str, datetime] = field(default_factory=dict)  # values events set since
    deleted: bool = False

    def instant(self, name: str) -> datetime | None:
        """When the value held for `name` was current: an event at or before it is old news."""
        moments = [m for m in (self.times.get(name), self.modified_at) if m is not None]
        return max(moments) if moments else None


Value = tuple[str | None, datetime]  # a carried value and the instant it was set


@dataclass
class Plan:
    reread: set[str] = field(default_factory=set)  # CRM ids to read again and rescore
    deleted: set[str] = field(default_factory=set)
    purged: set[str] = field(default_factory=set)  # privacy deletion: forget everything
    # CRM id -> property -> the newest carried value, newer than the one held; applied without
    # a CRM read. `changed` are those whose values differ from what is held: rescored.
    carried: dict[str, dict[str, Value]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    # CRM id -> the activity records events named for it, read alone (the contact is not).
    named: dict[str, set[str]] = field(default_factory=dict)
    echoes: int = 0
    stale: int = 0  # carried events older than the value held: nothing applied

    def read_named_whole(self) -> None:
        """Read the named contacts whole instead: when other contacts are read anyway, the
        association and object batch reads are made per type whatever the number of contacts,
        so reading the named records alone would only add calls. A read gives everything, so
        their carried values are not applied."""
        for crm_id in self.named:
            self.reread.add(crm_id)
            self.carried.pop(crm_id, None)
            self.changed.discard(crm_id)
        self.named.clear()


def plan(
    events: Iterable[ChangeEvent],
    known: Mapping[str, Mapping[str, object] | Held],
    carry: Carry | None = None,
    named: Named | None = None,
) -> Plan:
    """`known`: CRM id -> what we hold for the contacts these events are about (properties, or
    a `Held`). `carry`: None re-reads every contact an event changed (no values used);
    `named`: None re-reads every contact an association changed."""
    result = Plan()
    changes: dict[str, list[ChangeEvent]] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        crm_id = event.crm_id
        if event.kind is ChangeKind.PRIVACY_DELETED:
            result.purged.add(crm_id)
            result.reread.discard(crm_id)
            result.deleted.discard(crm_id)
            changes.pop(crm_id, None)
        elif crm_id in result.purged:
            continue
        elif event.kind is ChangeKind.DELETED:
            result.deleted.add(crm_id)
            result.reread.discard(crm_id)
            changes.pop(crm_id, None)
        elif event.kind is ChangeKind.PROPERTY_CHANGED and event.property_name in WRITTEN:
            result.echoes += 1
        elif event.kind is ChangeKind.PROPERTY_CHANGED:
            changes.setdefault(crm_id, []).append(event)
        elif (record := _named(event, known.get(crm_id), named)) and crm_id not in result.deleted:
            result.named.setdefault(crm_id, set()).add(record)
        else:
            result.reread.add(crm_id)
            result.deleted.discard(crm_id)
    for crm_id, changed in changes.items():
        _resolve(result, crm_id, changed, _held(known.get(crm_id)), carry)
    for crm_id in result.reread | result.deleted | result.purged:
        result.named.pop(crm_id, None)  # read whole, or gone: nothing to read alone
    return result


def _named(
    event: ChangeEvent, known: Mapping[str, object] | Held | None, named: Named | None
) -> str | None:
    """The record to read alone for this event, if the contact is one we hold, alive."""
    held = _held(known)
    if named is None or held is None or held.deleted:
        return None
    return named(event)


def _held(known: Mapping[str, object] | Held | None) -> Held | None:
    if known is None or isinstance(known, Held):
        return known
    return Held(known)


def _resolve(
    result: Plan,
    crm_id: str,
    events: Sequence[ChangeEvent],
    held: Held | None,
    carry: Carry | None,
) -> None:
    """One contact's property changes (oldest first): carried, echoes, or a re-read."""
    settled = crm_id in result.reread or crm_id in result.deleted  # read, or gone, already
    if not settled and held is not None and not held.deleted and carry is not None:
        values = carry(events)
        if values is not None:
            _apply(result, crm_id, events, values, held)
            return
    for event in events:
        if _is_echo(event, held.properties if held else None):
            result.echoes += 1
        else:
            result.reread.add(crm_id)
            result.deleted.discard(crm_id)


def _apply(
    result: Plan,
    crm_id: str,
    events: Sequence[ChangeEvent],
    values: Sequence[Mapping[str, str | None]],
    held: Held,
) -> None:
    current = dict(held.properties)
    newer: dict[str, Value] = {}
    for event, carried in zip(events, values, strict=True):
        at, fresh, differs = event.occurred_at, False, False
        for name, value in carried.items():
            # Older than the value held, or as old (a read at that instant saw it), changes
            # nothing; of two changes in one batch at one instant, the later delivered wins.
            if name in newer:
                if at < newer[name][1]:
                    continue
            elif (since := held.instant(name)) is not None and at <= since:
                continue
            fresh = True
            newer[name] = (value, at)
            if (current.get(name) or "") != (value or ""):
                differs = True
                current[name] = value
        if not fresh:
            result.stale += 1
        elif not differs:
            result.echoes += 1
    if newer:
        result.carried[crm_id] = newer
    if any((held.properties.get(n) or "") != (v or "") for n, (v, _) in newer.items()):
        result.changed.add(crm_id)


def _is_echo(event: ChangeEvent, held: Mapping[str, object] | None) -> bool:
    name = event.property_name
    if name == OVERRIDE:
        return held is not None and (held.get(name) or "") == (event.property_value or "")
    if name in WRITTEN:
        return True
    if held is None or name is None:
        return False
    return (held.get(name) or "") == (event.property_value or "")
