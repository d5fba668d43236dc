"""Salesforce's REST API at one pinned version, over the shared client (connectors.http).

Every call first checks the org's usage against this connection's share (limits.OrgUsage) and
goes through `ApiClient` (retries, the error policy, counts). A request's URI and headers
together may not pass 16,384 bytes ("Maximum number of rows returned by SOQL queries over the
REST API", Salesforce Help: 414/431 otherwise): `fits` says whether a query does, and the
builders in soql.py split theirs until each one does.

Many queries at once (`records_each`) go through `POST composite`, five query operations a call
(first pages and next batches alike: "Send Multiple Requests Using Composite" counts the whole
series as one call, and allows at most 5 query operations among its 25 subrequests). Each
subrequest stays a URI that would fit on its own. A subrequest's error is judged by the same
policy as the GET's answer would be (`ApiClient.judge`): a final one raises what the GET would
have raised; a transient one (a lock, a time-out, an expired session) sends that GET on its
own, through the whole policy (retries, backoff, a new session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import httpx

from connectors.errors import CrmResponseError
from connectors.http import Action, ApiClient
from connectors.salesforce import schemas
from connectors.salesforce.limits import OrgUsage

API_VERSION = "62.0"  # Winter '25: the version the sandbox serves, and the only one asked for
MAX_REQUEST_BYTES = 16_384
HEADER_ALLOWANCE = 1_024  # Authorization (a session id is ~112 bytes), Host, User-Agent, ...
RETRIEVE_IDS = 2_000  # POST composite/sobjects/{type}: ids per call
COLLECTION_RECORDS = 200  # PATCH composite/sobjects: records per call
COMPOSITE_QUERIES = 5  # POST composite: query operations per call (Query More included)

T = TypeVar("T")
Rows = list[dict[str, Any]]


class Gather(Protocol):
    """Runs jobs, answering their results in order (the connector's bounds what is in flight)."""

    def __call__(self, jobs: Sequence[Awaitable[T]]) -> Awaitable[list[T]]: ...


async def in_turn(jobs: Sequence[Awaitable[T]]) -> list[T]:
    return [await job for job in jobs]


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sf_time(moment: datetime) -> str:
    """A date-time as the replication resources take it (UTC, seconds, an offset)."""
    return moment.replace(microsecond=0).isoformat()


class SalesforceRest:
    def __init__(
        self,
        api: ApiClient,
        usage: OrgUsage,
        *,
        version: str = API_VERSION,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if max_request_bytes <= HEADER_ALLOWANCE + 256:
            raise ValueError(f"max_request_bytes must exceed {HEADER_ALLOWANCE + 256}")
        self.api = api
        self.usage = usage
        self.data = f"/services/data/v{version}"
        self.max_uri_bytes = max_request_bytes - HEADER_ALLOWANCE

    async def call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        self.usage.check()  # the org-wide budget first: a spent share sends nothing more
        return await self.api.request(
            method, path, endpoint=endpoint or f"{method} {path}", json=json, params=params
        )

    # -- SOQL -------------------------------------------------------------------------------

    def uri_bytes(self, soql: str, *, tooling: bool = False) -> int:
        """Bytes of the request-target a query is sent as (path and encoded `q`)."""
        resource = f"{self.data}/tooling/query" if tooling else f"{self.data}/queryAll"
        return len(httpx.URL(resource, params={"q": soql}).raw_path)

    def fits(self, soql: str) -> bool:
        return self.uri_bytes(soql) <= self.max_uri_bytes

    async def query(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[schemas.QueryPage]:
        """The pages of a query's answer (`queryAll` with include_deleted: the recycle bin's
        rows, merged losers and deleted records, come too)."""
        if not self.fits(soql):
            raise ValueError(f"a query of {self.uri_bytes(soql)} bytes was built: split it")
        resource = "queryAll" if include_deleted else "query"
        path = f"{self.data}/{resource}"
        response = await self.call("GET", path, params={"q": soql})
        page = schemas.parse(schemas.QueryPage, response, f"GET {path}")
        yield page
        more = f"GET {path}/{{locator}}"
        while not page.done and page.nextRecordsUrl:
            response = await self.call("GET", page.nextRecordsUrl, endpoint=more)
            page = schemas.parse(schemas.QueryPage, response, more)
            yield page

    async def records(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async for page in self.query(soql, include_deleted=include_deleted):
            found.extend(page.records)
        return found

    async def records_each(
        self,
        statements: Sequence[str],
        *,
        include_deleted: bool = False,
        gather: Gather = in_turn,
    ) -> list[Rows]:
        """Each statement's rows, in order, read through `POST composite`: the queries and then
        the next batches of those not done, five a call."""
        for soql in statements:
            if not self.fits(soql):
                raise ValueError(f"a query of {self.uri_bytes(soql)} bytes was built: split it")
        resource = f"{self.data}/{'queryAll' if include_deleted else 'query'}"
        first, more = f"GET {resource}", f"GET {resource}/{{locator}}"
        rows: list[Rows] = [[] for _ in statements]
        # (statement, subrequest url, the GET's endpoint name)
        pending = [
            (index, str(httpx.URL(resource, params={"q": soql})), first)
            for index, soql in enumerate(statements)
        ]
        while pending:
            calls = list(chunks(pending, COMPOSITE_QUERIES))
            answers = await gather([self._composite_pages(call) for call in calls])
            pending = []
            for call, pages in zip(calls, answers, strict=True):
                for (index, _, _), page in zip(call, pages, strict=True):
                    rows[index].extend(page.records)
                    if not page.done and page.nextRecordsUrl:
                        pending.append((index, page.nextRecordsUrl, more))
        return rows

    async def _composite_pages(
        self, subrequests: Sequence[tuple[int, str, str]]
    ) -> list[schemas.QueryPage]:
        path = f"{self.data}/composite"
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {"method": "GET", "url": url, "referenceId": f"q{n}"}
                for n, (_, url, _) in enumerate(subrequests)
            ],
        }
        response = await self.call("POST", path, json=body)
        slots = schemas.parse(schemas.CompositeAnswer, response, f"POST {path}").compositeResponse
        if [slot.referenceId for slot in slots] != [f"q{n}" for n in range(len(subrequests))]:
            raise CrmResponseError(
                f"POST {path} answered {len(slots)} subrequests out of order or missing for "
                f"{len(subrequests)} sent"
            )
        return [
            await self._subrequest_page(url, endpoint, slot)
            for (_, url, endpoint), slot in zip(subrequests, slots, strict=True)
        ]

    async def _subrequest_page(
        self, url: str, endpoint: str, slot: schemas.SubrequestResult
    ) -> schemas.QueryPage:
        if not 200 <= slot.httpStatusCode < 300:  # every policy reads a 2xx as OK
            # The subrequest's answer as the GET would have had it, for the shared policy.
            answer = httpx.Response(
                slot.httpStatusCode,
                json=slot.body,
                headers=slot.httpHeaders,
                request=httpx.Request("GET", url),
            )
            decision = self.api.judge(endpoint, answer)  # a final error raises here
            if decision.action is not Action.OK:
                response = await self.call("GET", url, endpoint=endpoint)
                return schemas.parse(schemas.QueryPage, response, endpoint)
        return schemas.query_page(slot.body, endpoint)

    # -- records ----------------------------------------------------------------------------

    async def retrieve(
        self, sobject: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Records by id, 2,000 a call; ids that name no live record are left out."""
        path = f"{self.data}/composite/sobjects/{sobject}"
        found: list[dict[str, Any]] = []
        for chunk in chunks(list(dict.fromkeys(ids)), RETRIEVE_IDS):
            response = await self.call(
                "POST",
                path,
                endpoint=f"POST {self.data}/composite/sobjects/{{type}}",
                json={"ids": list(chunk), "fields": list(fields)},
            )
            found.extend(r for r in schemas.retrieved(response, f"POST {path}") if r is not None)
        return found

    async def update_collection(
        self, records: Sequence[Mapping[str, Any]]
    ) -> list[schemas.SaveResult]:
        """One `PATCH composite/sobjects` of up to 200 records, each saved on its own."""
        if len(records) > COLLECTION_RECORDS:
            raise ValueError(f"at most {COLLECTION_RECORDS} records a call, not {len(records)}")
        path = f"{self.data}/composite/sobjects"
        response = await self.call(
            "PATCH", path, json={"allOrNone": False, "records": list(records)}
        )
        results = schemas.save_results(response, f"PATCH {path}")
        if len(results) != len(records):
            raise CrmResponseError(
                f"PATCH {path} answered {len(results)} SaveResults for {len(records)} records"
            )
        return results

    async def create(self, sobject: str, values: Mapping[str, Any]) -> str:
        path = f"{self.data}/sobjects/{sobject}"
        response = await self.call("POST", path, json=dict(values))
        return schemas.parse(schemas.Created, response, f"POST {path}").id

    async def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        path = f"{self.data}/sobjects/{sobject}/{record_id}"
        endpoint = f"PATCH {self.data}/sobjects/{sobject}/{{id}}"
        await self.call("PATCH", path, endpoint=endpoint, json=dict(values))

    async def describe_global(self) -> schemas.DescribeGlobal:
        """The objects the user may reach ("Describe Global"): an object the org lacks (a
        product not licensed) or the user may not read is not listed."""
        path = f"{self.data}/sobjects"
        response = await self.call("GET", path)
        return schemas.parse(schemas.DescribeGlobal, response, f"GET {path}")

    async def describe(self, sobject: str) -> schemas.ObjectDescribe:
        path = f"{self.data}/sobjects/{sobject}/describe"
        response = await self.call("GET", path)
        return schemas.parse(schemas.ObjectDescribe, response, f"GET {path}")

    async def deleted(self, sobject: str, start: datetime, end: datetime) -> schemas.DeletedLog:
        path = f"{self.data}/sobjects/{sobject}/deleted/"
        response = await self.call(
            "GET",
            path,
            endpoint=f"GET {self.data}/sobjects/{{type}}/deleted",
            params={"start": sf_time(start), "end": sf_time(end)},
        )
        return schemas.parse(schemas.DeletedLog, response, f"GET {path}")

    # -- Tooling API ------------------------------------------------------------------------

    async def tooling_records(self, soql: str) -> list[dict[str, Any]]:
        path = f"{self.data}/tooling/query"
        response = await self.call("GET", path, params={"q": soql})
        return schemas.parse(schemas.QueryPage, response, f"GET {path}").records

    async def tooling_create(self, sobject: str, body: Mapping[str, Any]) -> str:
        path = f"{self.data}/tooling/sobjects/{sobject}"
        response = await self.call("POST", path, json=dict(body))
        return schemas.parse(schemas.Created, response, f"POST {path}").id

    async def tooling_read(self, sobject: str, record_id: str) -> dict[str, Any]:
        path = f"{self.data}/tooling/sobjects/{sobject}/{record_id}"
        response = await self.call(
            "GET", path, endpoint=f"GET {self.data}/tooling/sobjects/{sobject}/{{id}}"
        )
        body = response.json()
        if not isinstance(body, dict):
            raise CrmResponseError(f"GET {path} answered {type(body).__name__}")
        return body
