"""The org's data: records per object, the recycle bin, custom fields, one lock.

A record keeps typed values (str, bool, int, float, date, datetime, None) under its fields'
canonical names. Every save moves `SystemModstamp`; a user's save also moves
`LastModifiedDate` and `LastModifiedById`, a system change (a roll-up such as
`LastActivityDate`, a conversion) does not. A deleted record goes to the recycle bin
(`IsDeleted`, visible to `queryAll` and the deleted log) for 15 days, or until purged; then it
is gone for good ("Get Deleted Records", "QueryAll", REST API Developer Guide).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.clock import Clock
from connectors.salesforce.sandbox.ids import IdFactory, to18
from connectors.salesforce.sandbox.schema import (
    FieldDef,
    ObjectDef,
    OrgSettings,
    standard_objects,
)

RECYCLE_BIN_DAYS = 15


@dataclass(slots=True)
class Record:
    type: str
    id: str  # 18 characters
    values: dict[str, Any]
    deleted_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def get(self, name: str) -> Any:
        return self.values.get(name)


@dataclass(slots=True)
class CustomField:
    """A field made through the Tooling API's CustomField, with the metadata it was given."""

    id: str
    sobject: str
    definition: FieldDef
    metadata: dict[str, Any]
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.definition.name}"

    @property
    def developer_name(self) -> str:
        return self.definition.name.removesuffix("__c")


@dataclass(slots=True)
class _Bin:
    """What the recycle bin of one object has physically lost, and since when."""

    horizon: datetime | None = None  # deletions before this are gone (purged or aged out)
    oldest: datetime | None = None  # the oldest deletion still in it (None: it is empty)


@dataclass(frozen=True, slots=True)
class Saved:
    """A record just created or updated, by whom, and whether it was a system change (what a
    record-triggered Flow, and so an Outbound Message, reacts to)."""

    record: Record
    created: bool
    system: bool
    actor: str | None


class StoreError(Exception):
    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []


class Store:
    def __init__(
        self,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        settings: OrgSettings | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock or Clock()
        self.ids = ids or IdFactory()
        self.settings = settings or OrgSettings()
        self.objects: dict[str, ObjectDef] = standard_objects(self.settings)
        self._records: dict[str, dict[str, Record]] = {name: {} for name in self.objects}
        self._by_prefix = {obj.key_prefix: obj.name for obj in self.objects.values()}
        self._bins: dict[str, _Bin] = {name: _Bin() for name in self.objects}
        self.custom_fields: dict[str, CustomField] = {}
        self.created_at = self.clock.now()
        self.revision = 0  # bumped by every write: what permissions are cached against
        self.actor = ""  # the user writes are made as (the integration user, set by seeding)
        self._listeners: list[Callable[[Saved], None]] = []  # called under the lock: be quick

    @contextmanager
    def locked(self) -> Iterator[Store]:
        with self._lock:
            yield self

    @contextmanager
    def acting_as(self, user_id: str) -> Iterator[Store]:
        """Writes made as another user (a sales rep's), under the lock so no one else's are."""
        with self._lock:
            previous, self.actor = self.actor, user_id
            try:
                yield self
            finally:
                self.actor = previous

    def subscribe(self, listener: Callable[[Saved], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Saved], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _saved(self, record: Record, *, created: bool, system: bool) -> None:
        for listener in self._listeners:
            listener(Saved(record, created, system, self.actor or None))

    # --- schema -------------------------------------------------------------------------

    def sobject(self, name: str) -> ObjectDef | None:
        found = self.objects.get(name)
        if found is not None:
            return found
        folded = name.lower()
        return next((o for n, o in self.objects.items() if n.lower() == folded), None)

    def type_of(self, record_id: str) -> str | None:
        return self._by_prefix.get(record_id[:3])

    def add_custom_field(self, custom: CustomField) -> None:
        with self._lock:
            obj = self.objects[custom.sobject]
            obj.fields[custom.definition.name] = custom.definition
            self.custom_fields[custom.id] = custom
            self.revision += 1

    # --- reads --------------------------------------------------------------------------

    def get(self, sobject: str, record_id: str, *, deleted: bool = False) -> Record | None:
        """A record by 15- or 18-character id (ids are case-sensitive); with deleted=True,
        recycle-bin records too."""
        if len(record_id) not in (15, 18) or not record_id.isalnum():
            return None
        with self._lock:
            self._age_out(sobject)
            found = self._records.get(sobject, {}).get(to18(record_id[:15]))
            if found is None or (found.deleted and not deleted):
                return None
            if len(record_id) == 18 and found.id != record_id:
                return None  # an 18-character id whose suffix does not match
            return found

    def find(self, record_id: str, *, deleted: bool = False) -> Record | None:
        sobject = self.type_of(record_id)
        return self.get(sobject, record_id, deleted=deleted) if sobject else None

    def records(self, sobject: str, *, deleted: bool = False) -> list[Record]:
        """Live records in id order; with deleted=True, the recycle bin's too."""
        with self._lock:
            self._age_out(sobject)
            return [r for r in self._records.get(sobject, {}).values() if deleted or not r.deleted]

    def count(self, sobject: str) -> int:
        return len(self.records(sobject))

    # --- writes -------------------------------------------------------------------------

    def create(
        self,
        sobject: str,
        values: Mapping[str, Any],
        *,
        at: datetime | None = None,
        record_id: str | None = None,
    ) -> Record:
        """A new record from checked values; defaults and system fields filled in."""
        with self._lock:
            obj = self.objects[sobject]
            now = self.clock.now()
            created = min(at or now, now)
            record_id = record_id or self.ids.new(obj.key_prefix)
            record: dict[str, Any] = {
                name: definition.default
                for name, definition in obj.fields.items()
                if definition.default is not None
            }
            record.update(values)
            record |= {
                "Id": record_id,
                "IsDeleted": False,
                "CreatedDate": created,
                "CreatedById": self.actor or None,
                "LastModifiedDate": created,
                "LastModifiedById": self.actor or None,
                "SystemModstamp": max(created, now) if at is None else created,
            }
            if "OwnerId" in obj.fields and not record.get("OwnerId"):
                record["OwnerId"] = self.actor or None
            found = Record(sobject, record_id, record)
            _derive(found)
            self._records[sobject][record_id] = found
            self.revision += 1
            self._saved(found, created=True, system=False)
            return found

    def update(
        self,
        record: Record,
        changes: Mapping[str, Any],
        *,
        system: bool = False,
        at: datetime | None = None,
    ) -> Record:
        """Apply checked values. A user's save moves LastModifiedDate; every save moves
        SystemModstamp."""
        with self._lock:
            now = at or self.clock.now()
            record.values.update(changes)
            record.values["SystemModstamp"] = now
            if not system:
                record.values["LastModifiedDate"] = now
                record.values["LastModifiedById"] = self.actor or None
            _derive(record)
            self.revision += 1
            self._saved(record, created=False, system=system)
            return record

    def delete(self, record: Record, *, master: str | None = None) -> None:
        """To the recycle bin (Setup objects are deleted for good, as they have none)."""
        with self._lock:
            if record.type in _NO_RECYCLE_BIN:
                self._records[record.type].pop(record.id, None)
                self.revision += 1
                return
            now = self.clock.now()
            record.deleted_at = now
            held = self._bins[record.type]
            held.oldest = held.oldest or now
            record.values["IsDeleted"] = True
            record.values["SystemModstamp"] = now
            if master is not None:
                record.values["MasterRecordId"] = master
            self.revision += 1

    def merge(self, master: Record, loser: Record) -> None:
        """What Salesforce's merge leaves: the loser in the recycle bin, naming its master;
        the master keeps its values and gains those it lacked."""
        with self._lock:
            if master.type != loser.type or master.id == loser.id:
                raise StoreError("INVALID_OPERATION", "merge needs two records of one object")
            obj = self.objects[master.type]
            gained = {
                name: value
                for name, value in loser.values.items()
                if value is not None
                and master.values.get(name) is None
                and obj.fields[name].updateable
            }
            self.update(master, gained)
            self.delete(loser, master=master.id)

    def convert_lead(self, lead: Record, account: Record | None = None) -> Record:
        """What a lead conversion leaves: a Contact (under the given Account, or a new one from
        the Lead's company) and the Lead marked converted; the Contact is returned."""
        with self._lock:
            if lead.type != "Lead" or lead.get("IsConverted"):
                raise StoreError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            now = self.clock.now()
            if account is None:
                account = self.create(
                    "Account",
                    {
                        "Name": lead.get("Company"),
                        "Industry": lead.get("Industry"),
                        "NumberOfEmployees": lead.get("NumberOfEmployees"),
                        "BillingCountry": lead.get("Country"),
                        "Website": lead.get("Website"),
                    },
                )
            person = ("FirstName", "LastName", "Email", "Phone", "Title", "LeadSource")
            contact = self.create(
                "Contact",
                {name: lead.get(name) for name in person}
                | {"AccountId": account.id, "MailingCountry": lead.get("Country")},
            )
            self.update(
                lead,
                {
                    "IsConverted": True,
                    "ConvertedDate": now.date(),
                    "ConvertedContactId": contact.id,
                    "ConvertedAccountId": account.id,
                    "Status": "Closed - Converted",
                },
            )
            return contact

    def purge(self, sobject: str | None = None) -> int:
        """Empty the recycle bin (of one object, or all): what an admin's Empty does."""
        with self._lock:
            now = self.clock.now()
            gone = 0
            for name in [sobject] if sobject else list(self.objects):
                records = self._records[name]
                doomed = [rid for rid, r in records.items() if r.deleted]
                for rid in doomed:
                    del records[rid]
                gone += len(doomed)
                self._bins[name].horizon = now
                self._bins[name].oldest = None
            self.revision += 1
            return gone

    def earliest_available(self, sobject: str) -> datetime:
        """Deletions before this are no longer known: 15 days back, or the last purge."""
        with self._lock:
            self._age_out(sobject)
            horizon = self._bins[sobject].horizon
            window = self.clock.now() - timedelta(days=RECYCLE_BIN_DAYS)
            return max(window, horizon) if horizon is not None else window

    def _age_out(self, sobject: str) -> None:
        """Physically delete what has been in the recycle bin longer than 15 days."""
        records = self._records.get(sobject)
        held = self._bins.get(sobject)
        cutoff = self.clock.now() - timedelta(days=RECYCLE_BIN_DAYS)
        # Only walk the records when something in the bin is old enough to go (a lookup of a
        # parent by id happens for every row of a page).
        if not records or held is None or held.oldest is None or held.oldest >= cutoff:
            return
        doomed = [
            rid for rid, r in records.items() if r.deleted_at is not None and r.deleted_at < cutoff
        ]
        for rid in doomed:
            del records[rid]
        held.oldest = min(
            (r.deleted_at for r in records.values() if r.deleted_at is not None), default=None
        )
        if doomed:
            self.revision += 1


_NO_RECYCLE_BIN = frozenset(
    {"PermissionSet", "ObjectPermissions", "FieldPermissions", "PermissionSetAssignment"}
)


def _derive(record: Record) -> None:
    """Fields Salesforce computes from others."""
    values = record.values
    if record.type in ("Lead", "Contact", "User"):
        parts = [values.get("FirstName"), values.get("LastName")]
        values["Name"] = " ".join(p for p in parts if p) or None
    if record.type == "Opportunity":
        stage = values.get("StageName")
        values["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        values["IsWon"] = stage == "Closed Won"
    if record.type == "Task":
        values["IsClosed"] = values.get("Status") == "Completed"
    if record.type == "Case":
        closed = values.get("Status") == "Closed"
        values["IsClosed"] = closed
        if not closed:
            values["ClosedDate"] = None  # reopened
        elif values.get("ClosedDate") is None:
            values["ClosedDate"] = values["SystemModstamp"]
    if record.type == "CampaignMember":
        responded = values.get("Status") == "Responded"
        values["HasResponded"] = responded
        if responded and values.get("FirstRespondedDate") is None:
            values["FirstRespondedDate"] = values["SystemModstamp"].date()
