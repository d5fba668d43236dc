"""The HubSpot connector: contacts, activities, fields and write-back, always in batches.

Full syncs page the list endpoint; incremental syncs sweep the search endpoint on
`lastmodifieddate` past its 10,000-result cap, starting an overlap early to cover the search
index's lag. Activities come from association and engagement batch reads plus the analytics
properties HubSpot keeps on each contact. Nothing is ever requested per contact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode

import structlog

from connectors.base import (
    ContactBatch,
    CrmActivity,
    CrmContact,
    CrmOutcome,
    FieldState,
    FieldStatus,
    FieldWrite,
    WriteFailure,
    WriteOutcome,
)
from connectors.crm_fields import own_field, own_fields
from connectors.errors import CrmRequestError, PermissionDenied
from connectors.http import ApiClient, Authenticator, RateLimiter, RetryPolicy, Sleep, UsageRecorder
from connectors.hubspot import fields, schemas
from connectors.hubspot.cursor import SyncCursor
from connectors.hubspot.limits import DEFAULT_HEADROOM, AppType, buckets_for, classify, pace
from connectors.hubspot.mapping import (
    DEAL_PROPERTIES,
    ENGAGEMENT_OBJECTS,
    READ_SCOPES,
    SERVICE_OBJECTS,
    deal_outcome,
    lifecycle_outcomes,
    property_activities,
    requested_properties,
    to_activity,
    to_contact,
    to_service_activity,
)
from connectors.hubspot.paging import SearchSweep
from connectors.hubspot.webhook import split_related

BATCH = 100  # HubSpot's batch limit for object reads and writes
ASSOCIATION_BATCH = 1_000  # associations v4 batch read
LIST_PAGE = 100
CONTACTS = "/crm/v3/objects/contacts"
# Error categories of a batch update that name trouble on HubSpot's side: worth another
# attempt. Every other refusal of a record (VALIDATION_ERROR, PROPERTY_DOESNT_EXIST,
# OBJECT_NOT_FOUND, ...) is about the record or its values and stays refused.
TRANSIENT_CATEGORIES = frozenset(
    {"RATE_LIMITS", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}
)

T = TypeVar("T")
log = structlog.stdlib.get_logger(__name__)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class HubSpotOptions:
    base_url: str = "https://api.hubapi.com"
    app_type: AppType = AppType.PRIVATE_PRO
    budget_share: float = 0.5
    rate_limit_headroom: float = DEFAULT_HEADROOM  # client-side burst limits this far under
    properties: Sequence[str] = ()  # contact properties the criteria read
    search_overlap_seconds: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_seconds: float = 30.0
    max_query_length: int = 2_000  # longer property lists go by POST: HubSpot answers 414
    concurrency: int = 4  # batch requests in flight at once (the rate limiter still rules)


class HubSpotConnector:
    kind = "hubspot"

    def __init__(
        self,
        options: HubSpotOptions,
        auth: Authenticator,
        *,
        account: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: RateLimiter | None = None,
        on_response: UsageRecorder | None = None,
        transport: Any = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.options = options
        self._now = now
        self.api = ApiClient(
            options.base_url,
            auth,
            account=account,
            limiter=limiter
            or RateLimiter(
                buckets_for(options.app_type, options.budget_share, options.rate_limit_headroom)
            ),
            retry=options.retry,
            timeout=options.timeout_seconds,
            classify=classify,
            pace=pace,
            on_response=on_response,
            transport=transport,
            sleep=sleep,
        )
        # Criteria may name HubSpot's own fields (`hubspot.hs_lead_status`) or another CRM's
        # (never asked of HubSpot): connectors/crm_fields.py.
        self.aliases = own_fields(options.properties, self.kind)
        asked = [own_field(name, self.kind) for name in options.properties]
        self.properties = requested_properties(
            [*(name for name in asked if name is not None), *fields.FIELD_NAMES]
        )
        self._in_flight = asyncio.Semaphore(options.concurrency)
        # Object types this connection may not read (a scope not granted, Service Hub not
        # licensed), with why: said once, then never asked for again; the rest goes on.
        self.unavailable: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.api.aclose()

    async def account_id(self) -> str:
        endpoint = "GET /account-info/v3/details"
        response = await self.api.request("GET", "/account-info/v3/details", endpoint=endpoint)
        return str(schemas.parse(schemas.AccountDetails, response, endpoint).portalId)

    # -- contacts ---------------------------------------------------------------------------

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        cursor = SyncCursor.loads(since)
        if cursor is None or cursor.is_full:
            async for batch in self._full(cursor or SyncCursor()):
                yield batch
        else:
            async for batch in self._incremental(cursor):
                yield batch

    async def _full(self, cursor: SyncCursor) -> AsyncIterator[ContactBatch]:
        started = cursor.full_started_ms or _ms(self._now())
        after = cursor.full_after
        while True:
            page = await self._list_page(after)
            after = page.after
            contacts = [to_contact(obj.model_dump(), self.aliases) for obj in page.results]
            if after is None:
                yield ContactBatch(contacts, SyncCursor(since_ms=started).dumps())
                return
            yield ContactBatch(
                contacts, SyncCursor(full_after=after, full_started_ms=started).dumps()
            )

    async def _list_page(self, after: str | None) -> schemas.ObjectPage:
        endpoint = f"GET {CONTACTS}"
        params: dict[str, Any] = {"limit": LIST_PAGE, "properties": ",".join(self.properties)}
        if after:
            params["after"] = after
        if len(urlencode(params)) <= self.options.max_query_length:
            response = await self.api.request("GET", CONTACTS, endpoint=endpoint, params=params)
            return schemas.parse(schemas.ObjectPage, response, endpoint)
        # Too many properties for a URL: list ids only, then read the page by POST.
        params["properties"] = "hs_object_id"
        response = await self.api.request("GET", CONTACTS, endpoint=endpoint, params=params)
        ids_page = schemas.parse(schemas.ObjectPage, response, endpoint)
        objects = await self._batch_read([obj.id for obj in ids_page.results])
        return schemas.ObjectPage(results=objects, paging=ids_page.paging)

    async def _incremental(self, cursor: SyncCursor) -> AsyncIterator[ContactBatch]:
        assert cursor.since_ms is not None
        overlap_ms = int(self.options.search_overlap_seconds * 1000)
        until = _ms(self._now())
        sweep = SearchSweep(
            since_ms=max(0, cursor.since_ms - overlap_ms),
            until_ms=until,
            properties=self.properties,
        )
        endpoint = f"POST {CONTACTS}/search"
        while not sweep.done:
            window_start = sweep.since_ms
            response = await self.api.request(
                "POST",
                f"{CONTACTS}/search",
                endpoint=endpoint,
                bucket="search",
                json=sweep.request(),
            )
            page = schemas.parse(schemas.ObjectPage, response, endpoint)
            contacts = [to_contact(obj.model_dump(), self.aliases) for obj in page.results]
            sweep.advance(
                [_ms(c.modified_at) for c in contacts],
                [int(c.crm_id) for c in contacts],
                page.after,
            )
            if sweep.done:
                next_cursor: str | None = SyncCursor(since_ms=until).dumps()
            elif sweep.since_ms != window_start and sweep.tie_at_ms is None:
                # A window closed: everything before its last instant is stored once this is.
                next_cursor = SyncCursor(since_ms=sweep.since_ms + overlap_ms).dumps()
            else:
                next_cursor = None
            yield ContactBatch(contacts, next_cursor)

    async def _batch_read(self, ids: Sequence[str]) -> list[schemas.CrmObject]:
        endpoint = f"POST {CONTACTS}/batch/read"
        found: list[schemas.CrmObject] = []
        for chunk in chunks(ids, BATCH):
            body = {"properties": self.properties, "inputs": [{"id": i} for i in chunk]}
            response = await self.api.request(
                "POST", f"{CONTACTS}/batch/read", endpoint=endpoint, json=body
            )
            found.extend(schemas.parse(schemas.BatchResponse, response, endpoint).results)
        return found

    async def read_contacts(self, crm_ids: Sequence[str]) -> Sequence[CrmContact]:
        """The contacts that still exist, and those associated with the deals, tickets and
        feedback submissions named (`webhook.related_id`, from their webhooks); archived or
        merged-away ids are simply absent."""
        contacts: list[str] = []
        related: dict[str, list[str]] = {}
        for crm_id in crm_ids:
            split = split_related(crm_id)
            if split is None:
                contacts.append(crm_id)
            elif split[0] in READ_SCOPES:
                related.setdefault(split[0], []).append(split[1])
        for object_type, ids in related.items():
            contacts += await self._contacts_of(object_type, ids)
        return [
            to_contact(obj.model_dump(), self.aliases)
            for obj in await self._batch_read(list(dict.fromkeys(contacts)))
        ]

    async def _contacts_of(self, object_type: str, ids: Sequence[str]) -> list[str]:
        """The contacts associated with records of `object_type` (associations v4 batch
        reads); none when the connection may not read that type (said in `unavailable`)."""

        async def reading() -> list[tuple[dict[str, Any], str]]:
            path = f"/crm/v4/associations/{object_type}/contacts/batch/read"
            endpoint = "POST /crm/v4/associations/{fromObjectType}/contacts/batch/read"
            found: list[tuple[dict[str, Any], str]] = []
            for chunk in chunks(list(dict.fromkeys(ids)), ASSOCIATION_BATCH):
                response = await self.api.request(
                    "POST", path, endpoint=endpoint, json={"inputs": [{"id": i} for i in chunk]}
                )
                for row in schemas.parse(schemas.AssociationBatch, response, endpoint).results:
                    found += [({}, str(target.toObjectId)) for target in row.to]
            return found

        return [contact for _, contact in await self._optional(object_type, reading)]

    # -- activities -------------------------------------------------------------------------

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        found = [activity for contact in contacts for activity in property_activities(contact)]
        ids = [contact.crm_id for contact in contacts]
        per_type = await asyncio.gather(
            *(self._engagements(object_type, ids) for object_type in ENGAGEMENT_OBJECTS),
            *(self._service_records(object_type, ids) for object_type in SERVICE_OBJECTS),
        )
        for activities in per_type:
            found.extend(activities)
        return found

    async def named_activities(self, named: Mapping[str, Sequence[str]]) -> Sequence[CrmActivity]:
        """The engagements, tickets and survey answers that events said were associated with
        contacts (contact id -> `calls:17`, ...): one batch read per object type, and no
        association read, since the event said whose they are."""
        owners: dict[str, dict[str, list[str]]] = {}
        for contact_id, refs in named.items():
            for ref in refs:
                object_type, _, object_id = ref.partition(":")
                owners.setdefault(object_type, {}).setdefault(object_id, []).append(contact_id)

        Owned = Mapping[str, Sequence[str]]
        Found = list[CrmActivity | None]

        async def engagements(object_type: str, owned: Owned) -> Found:
            rows = await self._owned(object_type, owned, ENGAGEMENT_OBJECTS[object_type])
            return [to_activity(object_type, raw, contact) for raw, contact in rows]

        async def service(object_type: str, owned: Owned) -> Found:
            properties = SERVICE_OBJECTS[object_type]
            rows = await self._optional(
                object_type, lambda: self._owned(object_type, owned, properties)
            )
            return [to_service_activity(object_type, raw, contact) for raw, contact in rows]

        reads = [
            engagements(t, owned) if t in ENGAGEMENT_OBJECTS else service(t, owned)
            for t, owned in owners.items()
            if t in ENGAGEMENT_OBJECTS or t in SERVICE_OBJECTS
        ]
        return [a for found in await asyncio.gather(*reads) for a in found if a is not None]

    async def _engagements(self, object_type: str, contact_ids: Sequence[str]) -> list[CrmActivity]:
        rows = await self._associated(object_type, contact_ids, ENGAGEMENT_OBJECTS[object_type])
        return [
            activity
            for raw, contact_id in rows
            if (activity := to_activity(object_type, raw, contact_id)) is not None
        ]

    async def _service_records(
        self, object_type: str, contact_ids: Sequence[str]
    ) -> list[CrmActivity]:
        """Survey answers and tickets, unless the connection may not read them."""
        rows = await self._optional(
            object_type,
            lambda: self._associated(object_type, contact_ids, SERVICE_OBJECTS[object_type]),
        )
        return [
            activity
            for raw, contact_id in rows
            if (activity := to_service_activity(object_type, raw, contact_id)) is not None
        ]

    async def probe_unavailable(self) -> None:
        """One listing call of one record per optional object type: what the token may not read
        is known before any record is (a sync that read nobody, and `connect`, say so)."""
        for object_type in READ_SCOPES:
            await self._optional(object_type, partial(self._probe, object_type))

    async def _probe(self, object_type: str) -> list[tuple[dict[str, Any], str]]:
        endpoint = "GET /crm/v3/objects/{objectType}"
        path = f"/crm/v3/objects/{object_type}"
        await self.api.request("GET", path, endpoint=endpoint, params={"limit": 1})
        return []

    async def _optional(
        self,
        object_type: str,
        reading: Callable[[], Awaitable[list[tuple[dict[str, Any], str]]]],
    ) -> list[tuple[dict[str, Any], str]]:
        if object_type in self.unavailable:
            return []
        try:
            return await reading()
        except PermissionDenied as exc:
            why = _refusal(exc, READ_SCOPES.get(object_type, ""))
            if object_type not in self.unavailable:
                self.unavailable[object_type] = why
                log.warning("hubspot_object_unavailable", object_type=object_type, reason=why)
            return []

    async def _associated(
        self, object_type: str, contact_ids: Sequence[str], properties: Sequence[str]
    ) -> list[tuple[dict[str, Any], str]]:
        """(object JSON, contact id) for every object of a type associated with the contacts:
        association batch reads of 1,000 contacts, then object batch reads of 100."""
        owners: dict[str, list[str]] = {}
        path = f"/crm/v4/associations/contacts/{object_type}/batch/read"
        endpoint = "POST /crm/v4/associations/contacts/{toObjectType}/batch/read"
        for chunk in chunks(contact_ids, ASSOCIATION_BATCH):
            response = await self.api.request(
                "POST", path, endpoint=endpoint, json={"inputs": [{"id": i} for i in chunk]}
            )
            for row in schemas.parse(schemas.AssociationBatch, response, endpoint).results:
                for target in row.to:
                    owners.setdefault(str(target.toObjectId), []).append(row.from_.id)
        return await self._owned(object_type, owners, properties)

    async def _owned(
        self, object_type: str, owners: Mapping[str, Sequence[str]], properties: Sequence[str]
    ) -> list[tuple[dict[str, Any], str]]:
        """(object JSON, contact id) for the objects `owners` names (object id -> its contacts),
        by object batch reads of 100; an object gone since is simply absent."""
        read_path = f"/crm/v3/objects/{object_type}/batch/read"
        read_endpoint = f"POST {read_path}"

        async def read(chunk: Sequence[str]) -> schemas.BatchResponse:
            body = {"properties": list(properties), "inputs": [{"id": i} for i in chunk]}
            async with self._in_flight:
                response = await self.api.request(
                    "POST", read_path, endpoint=read_endpoint, json=body
                )
            return schemas.parse(schemas.BatchResponse, response, read_endpoint)

        batches = await asyncio.gather(*(read(chunk) for chunk in chunks(list(owners), BATCH)))
        return [
            (raw, contact_id)
            for batch in batches
            for obj in batch.results
            for raw in (obj.model_dump(),)
            for contact_id in owners.get(obj.id, ())
        ]

    # -- outcomes ---------------------------------------------------------------------------

    async def outcomes(self, contacts: Sequence[CrmContact]) -> Sequence[CrmOutcome]:
        """Lifecycle stages reached (from the contacts' `hs_lifecyclestage_*_date`, which the
        sync requests) and the closed deals associated with them, by batch reads only."""
        found = [outcome for contact in contacts for outcome in lifecycle_outcomes(contact)]
        rows = await self._optional(
            "deals",
            lambda: self._associated("deals", [c.crm_id for c in contacts], DEAL_PROPERTIES),
        )
        for raw, contact_id in rows:
            outcome = deal_outcome(raw, contact_id)
            if outcome is not None:
                found.append(outcome)
        return found

    # -- fields -----------------------------------------------------------------------------

    async def install_fields(self, statuses: Sequence[str]) -> Sequence[FieldStatus]:
        groups = "/crm/v3/properties/contacts/groups"
        try:
            await self.api.request("POST", groups, endpoint=f"POST {groups}", json=fields.GROUP)
        except CrmRequestError as exc:
            if exc.status != 409:  # 409: the group is already there
                raise
        listing = "/crm/v3/properties/contacts"
        response = await self.api.request("GET", listing, endpoint=f"GET {listing}")
        existing = {
            p.name: p for p in schemas.parse(schemas.PropertyList, response, listing).results
        }
        report: list[FieldStatus] = []
        for definition in fields.definitions(statuses):
            name = definition["name"]
            current = existing.get(name)
            if current is not None:
                report.append(self._judge(current, definition))
                continue
            try:
                await self.api.request("POST", listing, endpoint=f"POST {listing}", json=definition)
                report.append(FieldStatus(name, FieldState.CREATED))
            except CrmRequestError as exc:
                if exc.status != 409:
                    raise
                report.append(FieldStatus(name, FieldState.KEPT, "created concurrently"))
        return report

    @staticmethod
    def _judge(current: schemas.PropertyDefinition, wanted: dict[str, Any]) -> FieldStatus:
        options = [str(option.get("value")) for option in current.options]
        problem = fields.conflict(current.type, options, wanted)
        if problem:
            return FieldStatus(current.name, FieldState.CONFLICT, problem)
        return FieldStatus(current.name, FieldState.KEPT)

    # -- write-back -------------------------------------------------------------------------

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        written: list[str] = []
        failed: dict[str, WriteFailure] = {}

        async def write(chunk: Sequence[FieldWrite]) -> None:
            async with self._in_flight:
                await self._write_batch(chunk, written, failed)

        await asyncio.gather(*(write(chunk) for chunk in chunks(writes, BATCH)))
        return WriteOutcome(written, failed)

    async def _write_batch(
        self, batch: Sequence[FieldWrite], written: list[str], failed: dict[str, WriteFailure]
    ) -> None:
        endpoint = f"POST {CONTACTS}/batch/update"
        body = {
            "inputs": [
                {
                    "id": w.contact_crm_id,
                    "properties": dict(w.values),
                    "objectWriteTraceId": w.contact_crm_id,
                }
                for w in batch
            ]
        }
        try:
            response = await self.api.request(
                "POST", f"{CONTACTS}/batch/update", endpoint=endpoint, json=body
            )
        except CrmRequestError as exc:
            if exc.status not in (400, 404, 409) or len(batch) == 1:
                if exc.status in (400, 404, 409):
                    # One record HubSpot refuses (a 4xx): retrying the same values cannot help.
                    category = exc.body.get("category") if isinstance(exc.body, dict) else None
                    failed[batch[0].contact_crm_id] = WriteFailure(
                        str(exc), str(category or f"HTTP_{exc.status}"), permanent=True
                    )
                    return
                raise
            # The whole batch was refused for one bad input: halve until it is isolated.
            middle = len(batch) // 2
            await self._write_batch(batch[:middle], written, failed)
            await self._write_batch(batch[middle:], written, failed)
            return
        result = schemas.parse(schemas.BatchResponse, response, endpoint)
        refused: dict[str, WriteFailure] = {}
        for error in result.errors:
            category = error.category or ""
            failure = WriteFailure(
                error.message or category or "refused",
                category,
                permanent=category not in TRANSIENT_CATEGORIES,
            )
            for trace in error.context.get("objectWriteTraceId", []) or error.context.get(
                "ids", []
            ):
                refused[trace] = failure
        for write in batch:
            if write.contact_crm_id in refused:
                failed[write.contact_crm_id] = refused[write.contact_crm_id]
            else:
                written.append(write.contact_crm_id)


def _refusal(exc: PermissionDenied, scope: str) -> str:
    """Why HubSpot refused, in a few words: the scopes it names, or its message."""
    body = exc.body if isinstance(exc.body, dict) else {}
    if body.get("category") == "MISSING_SCOPES":
        named = [
            str(s)
            for error in body.get("errors") or []
            if isinstance(error, dict)
            for key in ("requiredGranularScopes", "requiredScopes")
            for s in (error.get("context") or {}).get(key, [])
        ]
        return f"scope missing: {', '.join(dict.fromkeys(named)) or scope}"
    message = body.get("message") if body else None
    return f"not permitted (scope {scope} missing or not licensed): {message or exc}"[:300]


__all__ = ["HubSpotConnector", "HubSpotOptions"]
