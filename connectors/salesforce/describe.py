"""What the integration user can see, from describe ("sObject Describe", REST API Developer
Guide): describe leaves out the fields field-level security hides from the user, and a query
naming one fails whole (`INVALID_FIELD`). So only visible fields are queried; each hidden one
is reported once (a warning, and `hidden`), never sent. Likewise an object the org lacks (a
product it is not licensed for) or the user may not read is not in describe global ("Describe
Global"), and a query naming it fails (`INVALID_TYPE`): `has` says which objects are there.

One `Schema` may outlive a connector (the app can keep one per connection): describes are
asked once per object, and again only after `forget()` (the fields were just installed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from connectors.salesforce import schemas
from connectors.salesforce.rest import SalesforceRest

log = structlog.stdlib.get_logger(__name__)
# What this process has reported already, by org: a connector lives for one job, and the same
# missing field must not be warned about by every job (once a process is enough to be seen).
_REPORTED: set[tuple[str, str, str]] = set()


class Schema:
    def __init__(self, account: str = "") -> None:
        self._account = account
        self._objects: dict[str, dict[str, schemas.FieldDescribe]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._global: frozenset[str] | None = None  # queryable objects, lower-cased
        self._prefixes: dict[str, str] = {}  # key prefix -> queryable object, from the same
        self.hidden: dict[str, set[str]] = {}  # object -> fields the user cannot see

    def forget(self) -> None:
        self._objects.clear()
        self._global = None

    async def has(self, rest: SalesforceRest, sobject: str) -> bool:
        """Whether the org has `sobject` and the user may query it (describe global, asked
        once)."""
        if self._global is None:
            async with self._locks.setdefault("", asyncio.Lock()):
                if self._global is None:
                    described = await rest.describe_global()
                    queryable = [o for o in described.sobjects if o.queryable]
                    self._prefixes = {o.keyPrefix: o.name for o in queryable if o.keyPrefix}
                    self._global = frozenset(o.name.lower() for o in queryable)
        return sobject.lower() in self._global

    async def object_of(self, rest: SalesforceRest, record_id: str) -> str | None:
        """The object a record id names, by its key prefix as the org's describe global says
        (objects whose prefixes are not the documented standard ones: the survey objects)."""
        await self.has(rest, "")
        return self._prefixes.get(record_id[:3])

    async def fields(self, rest: SalesforceRest, sobject: str) -> dict[str, schemas.FieldDescribe]:
        """The visible fields of `sobject`, by lower-cased name."""
        known = self._objects.get(sobject)
        if known is not None:
            return known
        lock = self._locks.setdefault(sobject, asyncio.Lock())
        async with lock:
            known = self._objects.get(sobject)
            if known is None:
                described = await rest.describe(sobject)
                known = {f.name.lower(): f for f in described.fields}
                self._objects[sobject] = known
        return known

    async def visible(self, rest: SalesforceRest, sobject: str, wanted: Sequence[str]) -> list[str]:
        """`wanted` without the fields describe does not list (each reported once), spelt as
        describe spells them."""
        fields = await self.fields(rest, sobject)
        kept: list[str] = []
        newly: list[str] = []
        hidden = self.hidden.setdefault(sobject, set())
        for name in dict.fromkeys(wanted):
            found = fields.get(name.lower())
            if found is not None:
                kept.append(found.name)
            elif name not in hidden:
                hidden.add(name)
                newly.append(name)
        if self._account:
            newly = [n for n in newly if (self._account, sobject, n) not in _REPORTED]
            _REPORTED.update((self._account, sobject, n) for n in newly)
        if newly:
            log.warning(
                "Salesforce fields not visible to the integration user: not read",
                sobject=sobject,
                fields=newly,
                hint="install Glengarry's fields, grant read access (field-level security), "
                "or drop the others from the criteria",
            )
        return kept
