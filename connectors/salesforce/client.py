"""The Salesforce connector: Leads and Contacts with their activities, fields and write-back,
always in batches.

Leads and Contacts both become connector contacts (kind "lead" or "contact"; mapping.py says
how their fields become the engine's). A converted Lead is archived and its Contact carries its
id in `merged_crm_ids` (the pipeline moves the Lead's history there); a merged loser
(`MasterRecordId`) is archived and its master carries its id; deleted records are archived.

Syncing. A full sync lists Leads then Contacts by `SystemModstamp`; an incremental one reads
each stream from its own mark (cursor.py) through `queryAll`: Leads and Contacts that changed
(deleted ones included), then the people named by Accounts, Opportunities, Tasks, Events,
CampaignMembers, Cases and survey answers that changed (the last two where the org has them),
since an activity logged on a Lead leaves the Lead unchanged.
Those are re-read by id (`POST composite/sobjects/{type}`, 2,000 a call). The deleted log
(`sobjects/{type}/deleted`) is read every run: when its `earliestDateAvailable` is later than
the last run's end, deletions were forgotten (the recycle bin was emptied), so the first batch
says `reconcile` and the pipeline asks `live_crm_ids()` for every live id (see
`connectors.base.Reconciling`).

Backfills through Bulk API 2.0. Each object of a full listing is counted first (`SELECT COUNT()`,
with the listing's WHERE); above `bulk_threshold` records it is read as one Bulk query job
(bulk.py: polled with backoff, results read a page at a time, values typed back by describe)
and handed out in REST's batches of 2,000 (or a smaller results page's), in Id order: a job is
not sorted (ORDER BY would turn off PK chunking, "Create a Query Job"), so the cursor says the
last Id handed out. The job reads every planned field at once (its SOQL travels in a body, not
a URI). A job that fails, is aborted, outlasts its polling, or whose results can no longer be
read (or a query Bulk refuses) leaves the object to REST from that last Id (`Id > ...`, ORDER BY
Id): no record is handed out twice or missed. Results out of Id order (never seen) restart the
object through REST from where this run began it, which may repeat records (stored
idempotently) but loses none.

The queries by id list (a batch's Tasks, Events and CampaignMembers, its Contacts' won
Opportunities, roles and conversions, an Account's Contacts) each stay under the 16 KB a URI
may take (about 500 ids) and go five at a time through `POST composite` (rest.py), next
batches included: one call where five GETs were.

Activities (the engine's types; qualification/engagement.py):

| Salesforce                                         | engine type     | at                 |
|----------------------------------------------------|-----------------|--------------------|
| Task, TaskSubtype Call                             | call            | CompletedDateTime, |
|                                                    |                 | else CreatedDate   |
| Task, TaskSubtype Email, Subject a reply (Re: ...) | email_reply     | as above           |
| Task, TaskSubtype Email, any other Subject         | email_sent      | as above           |
| Task, TaskSubtype ListEmail                        | email_sent      | as above           |
| Task, any other TaskSubtype                        | task            | as above           |
| Event (by WhoId)                                   | meeting         | StartDateTime      |
| CampaignMember responded, Campaign.Type Email      | email_click     | FirstRespondedDate |
| CampaignMember responded, any other Campaign.Type  | form_submission | FirstRespondedDate |
| (Webinar, Conference, Trade Show, Other, ...)      | (form: the Campaign's Name)          |
| CampaignMember that has not responded              | none            |                    |
| Case of a Contact; SurveyQuestionResponse (NPS,   | ticket;         | (service.py)       |
| CSAT, Rating question)                             | survey_response |                    |
| Last_Page_Seen_Date__c (URL: Last_Page_Seen__c)    | page_view       | the field's value  |
| Last_Email_Open_Date__c                            | email_open      | the field's value  |
| First_/Recent_Conversion_Date__c (form: *__c)      | form_submission | the field's value  |

(A TaskSubtype that is missing falls back to Task.Type.) Salesforce has no standard home for
page views, email opens and web-form conversions: the org's marketing automation syncs its
last-touch fields onto Leads and Contacts (marketing.py; `marketing_fields` renames them).
Product usage has no home at all. Tasks and Events count for their `WhoId` only (with Shared
Activities, the other people a Task names are not read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import structlog

from connectors.base import (
    SUPPORT,
    SURVEYS,
    ContactBatch,
    CrmActivity,
    CrmContact,
    CrmOutcome,
    FieldStatus,
    FieldWrite,
    WriteFailure,
    WriteOutcome,
)
from connectors.errors import CrmRequestError
from connectors.http import ApiClient, RateLimiter, RetryPolicy, Sleep, UsageRecorder
from connectors.salesforce import activities as acts
from connectors.salesforce import outcomes as ends
from connectors.salesforce import related, soql
from connectors.salesforce import service as svc
from connectors.salesforce import writes as saving
from connectors.salesforce.auth import SalesforceLogin, verify_for
from connectors.salesforce.bulk import (
    DEFAULT_MAX_RECORDS,
    BulkError,
    BulkReader,
    FieldTypes,
    Polling,
    as_rest_record,
)
from connectors.salesforce.cursor import PEOPLE, STREAMS, FullListing, SyncCursor
from connectors.salesforce.describe import Schema
from connectors.salesforce.install import Installer, InstallReport
from connectors.salesforce.limits import OrgUsage, classify, errors_of_body
from connectors.salesforce.mapping import (
    ACCOUNT,
    ACCOUNT_SYSTEM,
    CONTACT,
    KINDS,
    LEAD,
    OBJECTS,
    SYSTEM,
    CustomerRule,
    PropertyMap,
    object_of,
    parse_time,
    read,
)
from connectors.salesforce.marketing import touches
from connectors.salesforce.rest import (
    API_VERSION,
    COLLECTION_RECORDS,
    MAX_REQUEST_BYTES,
    SalesforceRest,
    chunks,
)

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")
Rows = list[dict[str, Any]]
# A representative instant: statements are measured with a literal of the same length.
_SAMPLE_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_SAMPLE_ID = "00Q000000000000AAA"
_FOLLOW_DEPTH = 2  # a merged master that was itself converted: followed once more
BULK_BATCH = 2_000  # contacts per batch out of a Bulk job: a REST query page's


@dataclass(frozen=True)
class SalesforceOptions:
    instance_url: str  # https://ORG.my.salesforce.com (the local sandbox's URL, for it)
    api_version: str = API_VERSION
    budget_share: float = 0.5  # of the org's daily allocation (org-wide usage counts)
    properties: Sequence[str] = ()  # properties the criteria read (engine or Salesforce names)
    industries: Mapping[str, str | None] = field(default_factory=dict)  # label -> value
    customer_account_types: Sequence[str] = ("Customer",)  # Account.Type prefixes
    won_opportunity_is_customer: bool = True
    # The marketing automation's fields on Leads and Contacts (marketing.py), renamed:
    # {"Last_Email_Open_Date__c": "mkto_Last_Open__c"}.
    marketing_fields: Mapping[str, str] = field(default_factory=dict)
    overlap_seconds: float = 300.0  # each stream is read again from this far back
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_seconds: float = 30.0
    ca_bundle: str | None = None  # trust only this CA (the sandbox's, a proxy's)
    max_request_bytes: int = MAX_REQUEST_BYTES
    concurrency: int = 4  # requests in flight at once for activity reads and writes
    bulk_threshold: int = 50_000  # a backfill of more Leads (or Contacts) reads them through Bulk
    bulk_max_records: int = DEFAULT_MAX_RECORDS  # rows per Bulk results page (one held at once)
    bulk_polling: Polling = field(default_factory=Polling)  # waiting for a Bulk job


@dataclass(frozen=True, slots=True)
class _Plan:
    """The fields one object is read with, as the integration user can see them."""

    statement: list[str]  # in the stream query (relationship paths included)
    by_id: list[str]  # direct fields left out of it (too long), read by id
    direct: list[str]  # every direct field (for reads by id)
    account: list[str]  # the Account's fields, for Contacts


class _Unordered(Exception):
    """Bulk results whose Ids do not rise: the last Id handed out says nothing of the rest."""


class SalesforceConnector:
    kind = "salesforce"

    def __init__(
        self,
        options: SalesforceOptions,
        auth: SalesforceLogin,
        *,
        account: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: RateLimiter | None = None,
        on_response: UsageRecorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        schema: Schema | None = None,
    ) -> None:
        self.options = options
        self.auth = auth
        self._now = now
        self.usage = OrgUsage(options.budget_share)
        if transport is None and options.ca_bundle is not None:
            transport = httpx.AsyncHTTPTransport(verify=verify_for(options.ca_bundle))
        self.api = ApiClient(
            options.instance_url.rstrip("/"),
            auth,
            account=account,
            limiter=limiter or RateLimiter({}),  # no burst limits: the usage header rules
            retry=options.retry,
            timeout=options.timeout_seconds,
            classify=classify,
            pace=self.usage.observe,
            on_response=on_response,
            transport=transport,
            sleep=sleep,
        )
        self.rest = SalesforceRest(
            self.api,
            self.usage,
            version=options.api_version,
            max_request_bytes=options.max_request_bytes,
        )
        self.bulk = BulkReader(
            self.rest.call,
            version=options.api_version,
            max_records=options.bulk_max_records,
            polling=options.bulk_polling,
            sleep=sleep,
        )
        self.map = PropertyMap(
            options.properties,
            options.industries,
            CustomerRule(
                tuple(options.customer_account_types), options.won_opportunity_is_customer
            ),
            touches(options.marketing_fields),
        )
        self.schema = schema or Schema(account)
        self._overlap = timedelta(seconds=options.overlap_seconds)
        self._in_flight = asyncio.Semaphore(options.concurrency)
        self._plans: dict[str, _Plan] = {}
        # What the connection may not read (connectors.base.SaysUnavailable), with why.
        self.unavailable: dict[str, str] = {}
        self._currency: tuple[str | None] | None = None  # the org's, once asked

    async def aclose(self) -> None:
        await self.api.aclose()

    async def account_id(self) -> str:
        """The organization id (from the session's identity)."""
        return (await self.auth.who()).organization_id

    @property
    def hidden_fields(self) -> dict[str, list[str]]:
        """Fields the criteria or the mapping asked for that the integration user cannot see."""
        return {k: sorted(v) for k, v in self.schema.hidden.items() if v}

    # -- plans ------------------------------------------------------------------------------

    async def _plan(self, sobject: str) -> _Plan:
        known = self._plans.get(sobject)
        if known is not None:
            return known
        wanted = self.map.paths(sobject)
        direct = await self.schema.visible(self.rest, sobject, [p for p in wanted if "." not in p])
        related: list[str] = []
        account: list[str] = []
        if sobject == CONTACT:
            names = [p.split(".", 1)[1] for p in wanted if p.startswith(f"{ACCOUNT}.")]
            account = await self.schema.visible(self.rest, ACCOUNT, [*ACCOUNT_SYSTEM, *names])
            related = [f"{ACCOUNT}.{name}" for name in account if name != "Id"]
        # What tells deletion, merge and conversion is never left to a read by id: a deleted
        # record cannot be read by id.
        fixed = [name for name in direct if name in SYSTEM[sobject]]
        extra = [name for name in direct if name not in fixed]

        def statement(fields: Sequence[str]) -> str:
            # The longer of the two orders a listing reads in (by SystemModstamp, by Id).
            return max(
                self._stream_statement(sobject, fields, _SAMPLE_TIME),
                self._stream_statement(sobject, fields, _SAMPLE_TIME, _SAMPLE_ID),
                key=self.rest.uri_bytes,
            )

        kept, left = soql.split_fields([*fixed, *related], extra, statement, self.rest.fits)
        plan = _Plan(kept, left, direct, account)
        self._plans[sobject] = plan
        return plan

    @staticmethod
    def _stream_statement(
        sobject: str, fields: Sequence[str], after: datetime | None, after_id: str | None = None
    ) -> str:
        if after_id is None:
            return soql.select(fields, sobject, soql.since(after), order_by="SystemModstamp, Id")
        where = soql.both(soql.since(after), soql.id_after(after_id))
        return soql.select(fields, sobject, where, order_by="Id")

    # -- reading people ---------------------------------------------------------------------

    async def _gather(self, jobs: Sequence[Awaitable[T]]) -> list[T]:
        async def one(job: Awaitable[T]) -> T:
            async with self._in_flight:
                return await job

        return list(await asyncio.gather(*(one(job) for job in jobs)))

    async def _records(self, statements: Sequence[str]) -> Rows:
        answers = await self.rest.records_each(statements, gather=self._gather)
        return [row for rows in answers for row in rows]

    async def _won_accounts(self, account_ids: Sequence[str]) -> set[str]:
        if not account_ids or not self.map.customer.won_opportunity:
            return set()
        statements = soql.in_chunks(
            lambda ids: soql.select(
                ["AccountId"],
                "Opportunity",
                soql.both("IsWon = true", soql.id_in("AccountId", ids)),
            ),
            account_ids,
            self.rest.fits,
        )
        return {str(r["AccountId"]) for r in await self._records(list(statements))}

    async def _with_accounts(self, rows: Rows) -> Rows:
        """Contact rows read by id get their Account nested, as a query would nest it."""
        plan = await self._plan(CONTACT)
        ids = [str(r["AccountId"]) for r in rows if r.get("AccountId")]
        if not ids or not plan.account:
            return rows
        accounts = {str(a["Id"]): a for a in await self.rest.retrieve(ACCOUNT, ids, plan.account)}
        return [{**r, ACCOUNT: accounts.get(str(r.get("AccountId")))} for r in rows]

    async def _who(self, activity_ids: Mapping[str, list[str]]) -> list[str]:
        """The people (`WhoId`) Tasks and Events name: an Outbound Message for an activity
        rescores its person."""
        people: list[str] = []
        for sobject, wanted in activity_ids.items():
            if wanted:
                rows = await self.rest.retrieve(sobject, wanted, ["Id", "WhoId"])
                people += [str(row["WhoId"]) for row in rows if row.get("WhoId")]
        return people

    async def _notified_people(self, notified: Mapping[str, list[str]]) -> list[str]:
        """The people Cases, Opportunities, their contact roles and survey responses name
        (related.py); an object the org does not have for the user is not asked about."""
        jobs: list[tuple[related.Named, str]] = []
        for sobject, wanted in notified.items():
            how = related.NAMED[sobject]
            if not wanted or not await self.schema.has(self.rest, how.source):
                continue
            for statement in soql.in_chunks(how.statement, wanted, self.rest.fits):
                jobs.append((how, statement))
        answers = await self.rest.records_each([s for _, s in jobs], gather=self._gather)
        return [
            str(person)
            for (how, _), rows in zip(jobs, answers, strict=True)
            for row in rows
            if (person := read(row, how.person))
        ]

    async def _by_id(self, ids: Sequence[str]) -> dict[str, Rows]:
        """Live Leads and Contacts by id, and those the Tasks, Events, Cases, Opportunities,
        contact roles and survey responses of these ids name (other ids are left out)."""
        activities: dict[str, list[str]] = {"Task": [], "Event": []}
        notified: dict[str, list[str]] = {name: [] for name in related.NAMED}
        for crm_id in ids:
            # Survey objects' prefixes are not documented: the org's describe global says.
            sobject = object_of(crm_id) or await self.schema.object_of(self.rest, crm_id)
            if sobject in activities:
                activities[sobject].append(crm_id)
            elif sobject in notified:
                notified[sobject].append(crm_id)
        named = await self._who(activities) if any(activities.values()) else []
        if any(notified.values()):
            named += await self._notified_people(notified)
        grouped: dict[str, list[str]] = {LEAD: [], CONTACT: []}
        for crm_id in dict.fromkeys([*ids, *named]):
            sobject = object_of(crm_id)
            if sobject in grouped:
                grouped[sobject].append(crm_id)
        found: dict[str, Rows] = {}
        for sobject, wanted in grouped.items():
            if not wanted:
                continue
            plan = await self._plan(sobject)
            rows = await self.rest.retrieve(sobject, wanted, plan.direct)
            found[sobject] = await self._with_accounts(rows) if sobject == CONTACT else rows
        return found

    async def _people(self, rows: Mapping[str, Rows], depth: int = 0) -> list[CrmContact]:
        """Rows as contacts; converted Leads and merged losers followed to whom they became."""
        contact_rows = rows.get(CONTACT, [])
        won = await self._won_accounts(
            list({str(r["AccountId"]) for r in contact_rows if r.get("AccountId")})
        )
        people: dict[str, CrmContact] = {}
        follows: dict[str, list[str]] = {}  # survivor id -> ids that live on in it
        for sobject in PEOPLE:
            for row in rows.get(sobject, []):
                person = self.map.contact(row, sobject, has_won=str(row.get("AccountId")) in won)
                people[person.crm_id] = person
                survivor = None
                if row.get("IsDeleted") is True and row.get("MasterRecordId"):
                    survivor = str(row["MasterRecordId"])
                elif sobject == LEAD and row.get("IsConverted") is True:
                    survivor = str(row.get("ConvertedContactId") or "") or None
                if survivor is not None:
                    follows.setdefault(survivor, []).append(person.crm_id)
        missing = [s for s in follows if s not in people]
        if missing and depth < _FOLLOW_DEPTH:
            for person in await self._people(await self._by_id(missing), depth + 1):
                people.setdefault(person.crm_id, person)
        for survivor, gone in follows.items():
            found = people.get(survivor)
            if found is not None and not found.archived:
                merged = tuple(dict.fromkeys([*found.merged_crm_ids, *gone]))
                people[survivor] = replace(found, merged_crm_ids=merged)
        return list(people.values())

    async def read_contacts(self, crm_ids: Sequence[str]) -> Sequence[CrmContact]:
        """The Leads and Contacts that still exist (a converted Lead comes archived, with its
        Contact); deleted or unknown ids are simply absent."""
        return await self._people(await self._by_id(crm_ids))

    # -- streams ----------------------------------------------------------------------------

    async def _stream(
        self,
        sobject: str,
        after: datetime | None,
        *,
        include_deleted: bool,
        after_id: str | None = None,
    ) -> AsyncIterator[tuple[Rows, datetime | None]]:
        """Pages of changed Leads or Contacts in SystemModstamp order, with the page's last
        (in Id order after `after_id`, when given)."""
        plan = await self._plan(sobject)
        statement = self._stream_statement(sobject, plan.statement, after, after_id)
        async for page in self.rest.query(statement, include_deleted=include_deleted):
            rows = page.records
            if plan.by_id and rows:
                rest = {
                    str(r["Id"]): r
                    for r in await self.rest.retrieve(
                        sobject, [str(r["Id"]) for r in rows], ["Id", *plan.by_id]
                    )
                }
                rows = [{**rest.get(str(r["Id"]), {}), **r} for r in rows]
            last = parse_time(rows[-1].get("SystemModstamp")) if rows else None
            yield rows, last

    async def _named(
        self, stream: str, after: datetime
    ) -> AsyncIterator[tuple[list[str], datetime | None]]:
        """Pages of the people a related stream's changes name, with the page's last stamp."""
        where = soql.since(after)
        if stream in (acts.TASK, acts.EVENT):
            fields, where = ["WhoId", "SystemModstamp"], soql.both(where, "WhoId != null")
        elif stream == acts.CAMPAIGN_MEMBER:
            fields = ["LeadId", "ContactId", "SystemModstamp"]
        elif stream == "Opportunity":
            fields, where = ["AccountId", "SystemModstamp"], soql.both(where, "AccountId != null")
        elif stream == svc.CASE:
            fields, where = ["ContactId", "SystemModstamp"], soql.both(where, "ContactId != null")
        elif stream == svc.ANSWERS:
            fields = [svc.ANSWER_PERSON, "SystemModstamp"]
        else:
            fields = ["Id", "SystemModstamp"]
        statement = soql.select(fields, stream, where, order_by="SystemModstamp")
        async for page in self.rest.query(statement):
            rows = page.records
            last = parse_time(rows[-1].get("SystemModstamp")) if rows else None
            if stream in ("Account", "Opportunity"):
                accounts = [str(r.get("Id") or r.get("AccountId")) for r in rows]
                yield await self._contacts_of(accounts), last
                continue
            named = [str(read(r, f)) for r in rows for f in fields[:-1] if read(r, f)]
            yield list(dict.fromkeys(named)), last

    async def _readable(self, stream: str) -> bool:
        """Whether a stream's object is there to read (Cases and survey answers may not be)."""
        if stream == svc.CASE:
            return await self._has(svc.CASE, SUPPORT, svc.NO_CASES)
        if stream == svc.ANSWERS:
            return await self._has(svc.ANSWERS, SURVEYS, svc.UNLICENSED)
        return True

    async def _contacts_of(self, account_ids: Sequence[str]) -> list[str]:
        if not account_ids:
            return []
        statements = soql.in_chunks(
            lambda ids: soql.select(["Id"], CONTACT, soql.id_in("AccountId", ids)),
            account_ids,
            self.rest.fits,
        )
        return [str(r["Id"]) for r in await self._records(list(statements))]

    async def _org_time(self, cursor: SyncCursor | None) -> tuple[datetime, bool, Rows, datetime]:
        """The org's time now (the deleted log's `latestDateCovered`), whether deletions were
        forgotten since the cursor, the deletions the log holds since it, and where the next
        run's log starts."""
        local = self._now()
        since = cursor.deleted_since if cursor is not None else None
        start = since or local - timedelta(days=1)
        end = max(local, start) + timedelta(days=1)
        covered: datetime | None = None
        forgotten: datetime | None = None  # deletions before this are no longer listed
        reconcile = False
        deleted: Rows = []
        for sobject in PEOPLE if since is not None else PEOPLE[:1]:
            try:
                answer = await self.rest.deleted(sobject, start, end)
            except CrmRequestError as exc:
                codes = [e.code for e in errors_of_body(exc.body)]
                if "INVALID_REPLICATION_DATE" not in codes:
                    raise
                # A start Salesforce no longer answers for: deletions since may be lost.
                reconcile = True
                start = local - timedelta(days=1)
                answer = await self.rest.deleted(sobject, start, end)
            latest = parse_time(answer.latestDateCovered) or local
            covered = latest if covered is None else min(covered, latest)
            earliest = parse_time(answer.earliestDateAvailable)
            if since is not None and earliest is not None and earliest > since:
                reconcile = True
            if earliest is not None:
                forgotten = earliest if forgotten is None else max(forgotten, earliest)
            deleted += [
                {"Id": d.id, "SystemModstamp": d.deletedDate, "IsDeleted": True, "type": sobject}
                for d in answer.deletedRecords
            ]
        assert covered is not None
        # The next log starts here (Salesforce's advice), and never before what it forgot:
        # this run's reconcile (or the last one) covers that.
        return covered, reconcile, deleted, max(covered, forgotten or covered)

    async def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        cursor = SyncCursor.loads(since)
        # Closed here, not by the collector: a run that stops aborts its Bulk job while the
        # connection is still open.
        pages = (
            self._full(cursor)
            if cursor is None or cursor.full is not None
            else self._incremental(cursor)
        )
        async with aclosing(pages):
            async for batch in pages:
                yield batch

    async def _full(self, cursor: SyncCursor | None) -> AsyncGenerator[ContactBatch, None]:
        if cursor is None or cursor.full is None:
            started, _, _, _ = await self._org_time(None)
            mark = started - self._overlap
            cursor = SyncCursor(
                marks=dict.fromkeys(STREAMS, mark),
                deleted_since=started,
                full=FullListing(LEAD, started),
            )
        listing = cursor.full
        assert listing is not None
        for sobject in PEOPLE[PEOPLE.index(listing.stream) :]:
            if sobject != listing.stream:
                listing = FullListing(sobject, listing.started)
            async with aclosing(self._listing(listing)) as pages:
                async for people, reached in pages:
                    cursor = replace(cursor, full=reached)
                    if people:
                        yield ContactBatch(people, cursor.dumps())
        yield ContactBatch([], replace(cursor, full=None).dumps())

    @staticmethod
    def _position(listing: FullListing) -> str:
        """The WHERE of what a full listing has still to read."""
        return soql.both(soql.since(listing.after), soql.id_after(listing.after_id))

    async def _count(self, sobject: str, where: str) -> int:
        async for page in self.rest.query(soql.select(["COUNT()"], sobject, where)):
            return page.totalSize
        return 0  # pragma: no cover - a query answers at least one page

    async def _listing(
        self, listing: FullListing
    ) -> AsyncGenerator[tuple[list[CrmContact], FullListing], None]:
        """One object's part of a full listing from `listing` on: people a page at a time, each
        with the listing's position after it; through Bulk above the threshold (the module's
        docstring), through REST otherwise and wherever a Bulk job stopped."""
        sobject = listing.stream
        left = await self._count(sobject, self._position(listing))
        if left > self.options.bulk_threshold:
            began = listing
            try:
                async with aclosing(self._bulk_listing(began)) as pages:
                    async for people, reached in pages:
                        listing = reached  # the last position handed out: REST goes on from it
                        yield people, reached
                return
            except _Unordered as exc:
                log.warning(
                    "Salesforce Bulk results out of Id order: the object is read again by REST",
                    sobject=sobject,
                    reason=str(exc),
                )
                listing = began
            except BulkError as exc:
                log.warning(
                    "Salesforce Bulk job did not finish: reading on through REST",
                    sobject=sobject,
                    job=exc.job_id,
                    reason=str(exc),
                    after_id=listing.after_id,
                )
        else:
            log.info("Salesforce backfill through REST", sobject=sobject, records=left)
        async for rows, last in self._stream(
            sobject, listing.after, include_deleted=False, after_id=listing.after_id
        ):
            people = await self._people({sobject: rows})
            if listing.after_id is not None:  # in Id order: after `after` no longer moves
                listing = replace(
                    listing, after_id=str(rows[-1]["Id"]) if rows else listing.after_id
                )
            else:
                listing = replace(listing, after=last or listing.after)
            yield people, listing

    async def _bulk_listing(
        self, listing: FullListing
    ) -> AsyncGenerator[tuple[list[CrmContact], FullListing], None]:
        sobject = listing.stream
        plan = await self._plan(sobject)
        fields = [*plan.statement, *plan.by_id]
        statement = soql.select(fields, sobject, self._position(listing))
        types = await self._types(sobject, fields)
        log.info("Salesforce backfill through a Bulk API 2.0 job", sobject=sobject)
        previous = listing.after_id
        # A batch per results page, in REST's sizes: a page of 50,000 is handed out 2,000 at
        # a time, and a batch never waits for the next page to be fetched.
        size = min(BULK_BATCH, self.options.bulk_max_records)
        rows: Rows = []
        async with self.bulk.query(statement, types) as job:
            async for row in job:
                identifier = str(row["Id"])
                if previous is not None and identifier <= previous:
                    raise _Unordered(f"{identifier} came after {previous} (job {job.job_id})")
                previous = identifier
                rows.append(as_rest_record(row))
                if len(rows) == size:
                    yield await self._people({sobject: rows}), replace(listing, after_id=previous)
                    rows = []
        if rows:
            yield await self._people({sobject: rows}), replace(listing, after_id=previous)

    async def _types(self, sobject: str, fields: Sequence[str]) -> FieldTypes:
        """Each selected column's describe type (a Contact's `Account.` fields: Account's)."""
        own = await self.schema.fields(self.rest, sobject)
        types: dict[str, str] = {}
        for name in fields:
            if name.startswith(f"{ACCOUNT}."):
                described = (await self.schema.fields(self.rest, ACCOUNT)).get(
                    name.split(".", 1)[1].lower()
                )
            else:
                described = own.get(name.lower())
            if described is not None:
                types[name] = described.type
        return types

    async def _incremental(self, cursor: SyncCursor) -> AsyncGenerator[ContactBatch, None]:
        now, reconcile, deleted, next_log = await self._org_time(cursor)
        if reconcile:
            log.warning("Salesforce forgot deletions since the last run: reconcile the ids")
            yield ContactBatch([], None, reconcile=True)
        done = now - self._overlap
        seen: set[str] = set()
        for stream in STREAMS:
            mark = cursor.mark(stream)
            if mark is not None and await self._readable(stream):
                pages = (
                    self._people_changed(stream, mark, seen)
                    if stream in PEOPLE
                    else self._people_named(stream, mark, seen)
                )
                async for people, last in pages:
                    seen.update(p.crm_id for p in people)
                    if last is not None:
                        cursor = cursor.moved(stream, max(mark, last - self._overlap))
                    if people:  # an empty page moves the mark; the last batch carries it
                        yield ContactBatch(people, cursor.dumps())
            cursor = cursor.moved(stream, max(mark or done, done))
        gone = [
            CrmContact(
                str(row["Id"]),
                {},
                parse_time(row["SystemModstamp"]) or now,
                kind=KINDS[str(row["type"])],
                archived=True,
            )
            for row in deleted
            if str(row["Id"]) not in seen
        ]
        yield ContactBatch(gone, replace(cursor, deleted_since=next_log).dumps())

    async def _people_changed(
        self, sobject: str, mark: datetime, seen: set[str]
    ) -> AsyncIterator[tuple[list[CrmContact], datetime | None]]:
        """Changed Leads or Contacts; one this run already read (a converted Lead's Contact,
        read with the Lead's id to follow) is not sent again without it."""
        async for rows, last in self._stream(sobject, mark, include_deleted=True):
            fresh = [r for r in rows if str(r["Id"]) not in seen]
            yield (await self._people({sobject: fresh}) if fresh else []), last

    async def _people_named(
        self, stream: str, mark: datetime, seen: set[str]
    ) -> AsyncIterator[tuple[list[CrmContact], datetime | None]]:
        async for ids, last in self._named(stream, mark):
            fresh = [i for i in ids if i not in seen]
            people = await self.read_contacts(fresh) if fresh else []
            yield list(people), last

    async def live_crm_ids(self) -> frozenset[str]:
        """Every live Lead (not converted) and Contact id: what a reconcile compares with."""
        found: set[str] = set()
        for statement in (
            soql.select(["Id"], LEAD, "IsConverted = false"),
            soql.select(["Id"], CONTACT),
        ):
            async for page in self.rest.query(statement):
                found.update(str(r["Id"]) for r in page.records)
        return frozenset(found)

    # -- activities -------------------------------------------------------------------------

    async def outcomes(self, contacts: Sequence[CrmContact]) -> Sequence[CrmOutcome]:
        """The Opportunities the Contacts have a role on and the Leads converted into them
        (connectors/salesforce/outcomes.py); Leads have none until converted."""
        ids = [c.crm_id for c in contacts if not c.archived and c.kind != "lead"]
        if not ids:
            return []
        opportunity = await self.schema.fields(self.rest, "Opportunity")
        # Multi-currency on: each Opportunity's own currency; the org's for the rest.
        fields = [*ends.ROLE_FIELDS]
        if ends.CURRENCY.lower() in opportunity:
            fields.append(f"Opportunity.{ends.CURRENCY}")
        roles = soql.in_chunks(
            lambda chunk: soql.select(fields, ends.ROLES, soql.id_in("ContactId", chunk)),
            ids,
            self.rest.fits,
        )
        converted = soql.in_chunks(
            lambda chunk: soql.select(
                ends.CONVERSION_FIELDS,
                LEAD,
                soql.both("IsConverted = true", soql.id_in("ConvertedContactId", chunk)),
            ),
            ids,
            self.rest.fits,
        )
        return ends.outcomes_of(
            await self._records(list(roles)),
            await self._records(list(converted)),
            currency=await self.org_currency(),
        )

    async def org_currency(self) -> str | None:
        """The org's default currency (`Organization.DefaultCurrencyIsoCode`), asked once; None
        when the user may not read it."""
        if self._currency is None:
            statement = soql.select(["DefaultCurrencyIsoCode"], "Organization")
            try:
                rows = await self.rest.records(statement)
            except CrmRequestError as exc:
                log.warning("Salesforce org currency not readable", reason=str(exc))
                rows = []
            self._currency = (
                (str(rows[0].get("DefaultCurrencyIsoCode") or "") or None,) if rows else (None,)
            )
        return self._currency[0]

    # -- what customers ask and say ---------------------------------------------------------

    async def _has(self, sobject: str, kind: str, why: str) -> bool:
        """Whether the org has `sobject` for the user; if not, `kind` is said unavailable."""
        if await self.schema.has(self.rest, sobject):
            return True
        self._cannot(kind, why)
        return False

    def _cannot(self, kind: str, why: str) -> None:
        if kind not in self.unavailable:
            self.unavailable[kind] = why[:300]
            log.warning("Salesforce records not readable", kind=kind, reason=why)

    async def probe_unavailable(self) -> None:
        """Cases and survey answers, from describe global (asked once per connector)."""
        await self._has(svc.CASE, SUPPORT, svc.NO_CASES)
        await self._has(svc.ANSWERS, SURVEYS, svc.UNLICENSED)

    async def _optional(self, kind: str, statements: Sequence[str]) -> Rows:
        """Rows of statements on an object the connection may lack: a query Salesforce refuses
        for the object or a field (`INVALID_TYPE`, `INVALID_FIELD`) says `kind` unavailable."""
        if kind in self.unavailable:
            return []
        try:
            return await self._records(statements)
        except CrmRequestError as exc:
            errors = errors_of_body(exc.body)
            if not {e.code for e in errors} & {"INVALID_TYPE", "INVALID_FIELD"}:
                raise
            self._cannot(kind, f"not readable: {errors[0].code}: {errors[0].message}")
            return []

    async def _service(self, people: Sequence[str], contacts: Sequence[str]) -> list[CrmActivity]:
        """The Contacts' Cases and the people's survey answers (service.py), each object read
        only where the org has it."""
        found: list[CrmActivity] = []
        if contacts and await self._has(svc.CASE, SUPPORT, svc.NO_CASES):
            fields = await self.schema.visible(self.rest, svc.CASE, svc.CASE_FIELDS)
            statements = soql.in_chunks(
                lambda ids: soql.select(fields, svc.CASE, soql.id_in("ContactId", ids)),
                contacts,
                self.rest.fits,
            )
            for row in await self._optional(SUPPORT, list(statements)):
                if (activity := svc.from_case(row)) is not None:
                    found.append(activity)
        if people and await self._has(svc.ANSWERS, SURVEYS, svc.UNLICENSED):
            direct = await self.schema.visible(self.rest, svc.ANSWERS, svc.ANSWER_FIELDS)
            fields = [*direct, *svc.ANSWER_PATHS]
            questions = soql.id_in("Question.QuestionType", list(svc.QUESTION_TYPES))
            statements = soql.in_chunks(
                lambda ids: soql.select(
                    fields, svc.ANSWERS, soql.both(questions, soql.id_in(svc.ANSWER_PERSON, ids))
                ),
                people,
                self.rest.fits,
            )
            wanted = set(people)
            for row in await self._optional(SURVEYS, list(statements)):
                activity = svc.from_answer(row)
                if activity is not None and activity.contact_crm_id in wanted:
                    found.append(activity)
        return found

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]:
        live = [c for c in contacts if not c.archived]
        people = [c.crm_id for c in live]
        leads = [c.crm_id for c in live if c.kind == "lead"]
        others = [c.crm_id for c in live if c.kind != "lead"]
        if not people:
            return []
        task = await self.schema.visible(self.rest, acts.TASK, acts.TASK_FIELDS)
        event = await self.schema.visible(self.rest, acts.EVENT, acts.EVENT_FIELDS)
        member = await self._member_fields()

        def by(
            fields: Sequence[str], sobject: str, key: str, extra: str = ""
        ) -> Callable[[Sequence[str]], str]:
            return lambda ids: soql.select(fields, sobject, soql.both(extra, soql.id_in(key, ids)))

        jobs: list[tuple[str, str, str]] = []  # (stream, person field, statement)
        for statement in soql.in_chunks(by(task, acts.TASK, "WhoId"), people, self.rest.fits):
            jobs.append((acts.TASK, "WhoId", statement))
        for statement in soql.in_chunks(by(event, acts.EVENT, "WhoId"), people, self.rest.fits):
            jobs.append((acts.EVENT, "WhoId", statement))
        for key, ids in (("LeadId", leads), ("ContactId", others)):
            build = by(member, acts.CAMPAIGN_MEMBER, key, "HasResponded = true")
            for statement in soql.in_chunks(build, ids, self.rest.fits) if ids else ():
                jobs.append((acts.CAMPAIGN_MEMBER, key, statement))
        # Five statements a call (rest.records_each): a group of 2,000 people costs 3 calls.
        answers, service = await asyncio.gather(
            self.rest.records_each([s for _, _, s in jobs], gather=self._gather),
            self._service(people, others),
        )
        wanted = set(people)
        found: dict[str, CrmActivity] = {
            a.crm_id: a for person in live for a in acts.from_touches(person, self.map.touches)
        }
        found.update((a.crm_id, a) for a in service)
        for (stream, key, _), rows in zip(jobs, answers, strict=True):
            for row in rows:
                person = str(row.get(key) or "")
                if person not in wanted:
                    continue
                if stream == acts.TASK:
                    activity = acts.from_task(row)
                elif stream == acts.EVENT:
                    activity = acts.from_event(row)
                else:
                    activity = acts.from_member(row, person)
                if activity is not None:
                    found.setdefault(activity.crm_id, activity)
        return list(found.values())

    async def _member_fields(self) -> list[str]:
        direct = [f for f in acts.MEMBER_FIELDS if "." not in f]
        campaign = [f.split(".", 1)[1] for f in acts.MEMBER_FIELDS if "." in f]
        visible = await self.schema.visible(self.rest, acts.CAMPAIGN_MEMBER, direct)
        seen = await self.schema.visible(self.rest, "Campaign", campaign)
        return [*visible, *(f"Campaign.{name}" for name in seen)]

    # -- fields -----------------------------------------------------------------------------

    async def install(self, statuses: Sequence[str]) -> InstallReport:
        """Fields, permission sets and the integration user's assignment, then the check."""
        identity = await self.auth.who()
        report = await Installer(self.rest, self.schema, identity.user_id).install(statuses)
        self._plans.clear()
        return report

    async def install_fields(self, statuses: Sequence[str]) -> Sequence[FieldStatus]:
        return (await self.install(statuses)).fields

    async def verify_fields(self) -> Sequence[FieldStatus]:
        """Only the check, for an org whose admin deployed the package (`connect --no-install`)."""
        identity = await self.auth.who()
        self.schema.forget()
        self._plans.clear()
        return await Installer(self.rest, self.schema, identity.user_id).verify()

    # -- write-back -------------------------------------------------------------------------

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome:
        written: list[str] = []
        failed: dict[str, WriteFailure] = {}
        records: list[tuple[str, dict[str, Any]]] = []
        for write in writes:
            body = saving.record(write)
            if isinstance(body, WriteFailure):
                failed[write.contact_crm_id] = body
            else:
                records.append((write.contact_crm_id, body))

        async def send(batch: Sequence[tuple[str, dict[str, Any]]]) -> None:
            results = await self.rest.update_collection([body for _, body in batch])
            done, refused = saving.outcome_of([crm_id for crm_id, _ in batch], results)
            written.extend(done)
            failed.update(refused)

        await self._gather([send(batch) for batch in chunks(records, COLLECTION_RECORDS)])
        return WriteOutcome(written, failed)


__all__ = ["OBJECTS", "SalesforceConnector", "SalesforceOptions"]
