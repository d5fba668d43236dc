"""`POST composite`: a series of subrequests answered in one response, counted as one API call
("Send Multiple Requests Using Composite", "Composite Request Body", "Composite Response Body",
"Composite Subrequest Result", REST API Developer Guide).

The sandbox serves the subrequests Glengarry sends through it: `GET` on `query` and `queryAll`
(`?q=SOQL`) and their next batches (`query/{locator}`, a `nextRecordsUrl`), run by the same
SOQL engine, catalog and query locators as the plain resources, with a subrequest's own
`Sforce-Query-Options` header honoured. At most 25 subrequests, at most 5 of them queries
(Query More included); more is refused as a whole (400). Each subrequest's answer, an error
included (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_QUERY_LOCATOR`...), is in its slot with
its own `httpStatusCode`; the top-level answer is 200 either way. With `allOrNone` true, once a
subrequest fails every other one answers `400 PROCESSING_HALTED` (a query changes nothing, so
nothing is rolled back). Not modelled: other resources in subrequests (refused naming the
subrequest), references between subrequests (`@{ref.field}`), `collateSubrequests` (read, and
the order kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from connectors.salesforce.sandbox.catalog import DATA, OrgCatalog
from connectors.salesforce.sandbox.errors import SalesforceError, error_body
from connectors.salesforce.sandbox.query import Cursors, run_query
from connectors.salesforce.sandbox.store import Store

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")  # case-sensitive, as documented
# Headers a subrequest inherits from the top-level request and may not set itself.
INHERITED_HEADERS = ("accept", "authorization", "content-type")
QUERY_RESOURCES = ("query", "queryAll")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_HALTED = error_body(
    "PROCESSING_HALTED",
    "The transaction was rolled back since another operation in the same transaction failed.",
)


def _invalid(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_INPUT", message)


@dataclass(frozen=True, slots=True)
class Subrequest:
    reference_id: str
    method: str
    url: str
    resource: str  # "query" or "queryAll"
    locator: str | None  # a next batch's
    soql: str | None
    options: str | None  # its Sforce-Query-Options


@dataclass(frozen=True, slots=True)
class Composite:
    all_or_none: bool
    subrequests: list[Subrequest]


def _headers(raw: object, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise _invalid(f"{where}.httpHeaders: an object of header names and string values")
    for name in raw:
        if name.lower() in INHERITED_HEADERS:
            raise _invalid(f"{where}.httpHeaders: {name} is inherited from the composite request")
    return {k.lower(): v for k, v in raw.items()}


def _subrequest(raw: object, index: int) -> Subrequest:
    where = f"compositeRequest[{index}]"
    if not isinstance(raw, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"{where}: expected a JSON object")
    method, url, reference = raw.get("method"), raw.get("url"), raw.get("referenceId")
    if method not in METHODS:
        raise _invalid(f"{where}.method: one of {', '.join(METHODS)}, not {method!r}")
    if not isinstance(url, str) or not url:
        raise _invalid(f"{where}.url: the subrequest's resource is required")
    if not isinstance(reference, str) or not _REFERENCE_ID.match(reference):
        raise _invalid(f"{where}.referenceId: letters, numbers and underscores are required")
    headers = _headers(raw.get("httpHeaders"), where)
    if "@{" in url:
        raise _invalid(f"{where}.url: references between subrequests are not modelled")
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    segments = path[len(DATA) + 1 :].split("/") if path.startswith(f"{DATA}/") else []
    if not segments or segments[0] not in QUERY_RESOURCES or len(segments) > 2:
        raise _invalid(
            f"{where}: the sandbox's composite serves GET query and queryAll subrequests only, "
            f"not {method} {path}"
        )
    if method != "GET":
        raise _invalid(f"{where}: {segments[0]} takes GET, not {method}")
    soql = dict(parse_qsl(parts.query, keep_blank_values=True)).get("q")
    return Subrequest(
        reference_id=reference,
        method=method,
        url=url,
        resource=segments[0],
        locator=segments[1] if len(segments) == 2 else None,
        soql=soql,
        options=headers.get("sforce-query-options"),
    )


def parse(body: dict[str, Any]) -> Composite:
    """The request body checked: its shape, reference ids, and the subrequest limits."""
    raw = body.get("compositeRequest")
    if not isinstance(raw, list) or not raw:
        raise _invalid("compositeRequest: a list of at least one subrequest is required")
    if len(raw) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"A composite request can have at most {MAX_SUBREQUESTS} subrequests, not {len(raw)}",
        )
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise _invalid("allOrNone: true or false")
    collate = body.get("collateSubrequests", True)
    if not isinstance(collate, bool):
        raise _invalid("collateSubrequests: true or false")
    subrequests = [_subrequest(item, index) for index, item in enumerate(raw)]
    seen: set[str] = set()
    for sub in subrequests:
        if sub.reference_id in seen:
            raise _invalid(f"Duplicate ReferenceId provided in the request: {sub.reference_id}")
        seen.add(sub.reference_id)
    queries = sum(1 for sub in subrequests if sub.resource in QUERY_RESOURCES)
    if queries > MAX_QUERIES:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"A composite request can have at most {MAX_QUERIES} query operations "
            f"(query, queryAll and their next batches), not {queries}",
        )
    return Composite(all_or_none, subrequests)


def _run(sub: Subrequest, store: Store, catalog: OrgCatalog, cursors: Cursors) -> Any:
    if sub.locator is not None:
        return cursors.more(sub.locator)
    return run_query(
        store,
        catalog,
        cursors,
        sub.soql,
        include_deleted=sub.resource == "queryAll",
        options=sub.options,
    )


def execute(
    composite: Composite, store: Store, catalog: OrgCatalog, cursors: Cursors
) -> dict[str, Any]:
    """Every subrequest in order, each answered in its slot."""
    results: list[dict[str, Any]] = []
    failed = False
    for sub in composite.subrequests:
        if failed and composite.all_or_none:
            results.append(_result(sub, 400, _HALTED))
            continue
        try:
            results.append(_result(sub, 200, _run(sub, store, catalog, cursors)))
        except SalesforceError as exc:
            failed = True
            results.append(_result(sub, exc.status, error_body(exc.code, exc.message, exc.fields)))
    if failed and composite.all_or_none:
        results = [
            r if r["httpStatusCode"] >= 400 else {**r, "httpStatusCode": 400, "body": _HALTED}
            for r in results
        ]
    return {"compositeResponse": results}


def _result(sub: Subrequest, status: int, body: Any) -> dict[str, Any]:
    return {
        "body": body,
        "httpHeaders": {},
        "httpStatusCode": status,
        "referenceId": sub.reference_id,
    }
