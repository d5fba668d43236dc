"""`query` and `queryAll`: a SOQL query run over the store, answered in batches with a query
locator ("Query", "QueryAll", "Query More Results", "Query Options Header", REST API Developer
Guide; "Change the Batch Size in Queries", SOQL and SOSL Reference).

The batch is 2,000 records, or `Sforce-Query-Options: batchSize=N` (200 to 2,000; a smaller
value reads as 200, a larger as 2,000); at most 200 when two or more long text area fields
are selected. `nextRecordsUrl` is `/services/data/vXX.X/query/{locator}-{offset}` for both
resources. Results are fixed when the query runs. A locator unused for 15 minutes, or beyond
the 10 a user may keep open, answers `INVALID_QUERY_LOCATOR`.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.sandbox.catalog import DATA, OrgCatalog, read_path, record_json
from connectors.salesforce.sandbox.clock import Clock
from connectors.salesforce.sandbox.errors import SalesforceError
from connectors.salesforce.sandbox.soql import SoqlError, compile_query
from connectors.salesforce.sandbox.store import Record, Store

DEFAULT_BATCH = 2_000
MIN_BATCH = 200
LONG_TEXT_BATCH = 200
OPEN_LOCATORS = 10
LOCATOR_IDLE = timedelta(minutes=15)
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(slots=True)
class _Cursor:
    rows: list[dict[str, Any]]
    batch: int
    used_at: datetime


def batch_size(header: str | None, long_text_fields: int) -> int:
    size = DEFAULT_BATCH
    if header:
        found = _BATCH_SIZE.search(header)
        if found is not None:
            size = min(max(int(found.group(1)), MIN_BATCH), DEFAULT_BATCH)
    return min(size, LONG_TEXT_BATCH) if long_text_fields >= 2 else size


class Cursors:
    def __init__(self, clock: Clock) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self._open: OrderedDict[str, _Cursor] = OrderedDict()

    def page(self, rows: list[dict[str, Any]], batch: int) -> dict[str, Any]:
        """The first batch of fresh results."""
        if len(rows) <= batch:
            return {"totalSize": len(rows), "done": True, "records": rows}
        locator = "01g5e" + secrets.token_hex(7)[:13].upper()
        with self._lock:
            self._open[locator] = _Cursor(rows, batch, self.clock.now())
            while len(self._open) > OPEN_LOCATORS:
                self._open.popitem(last=False)
        return self._answer(locator, rows, 0, batch)

    def more(self, identifier: str) -> dict[str, Any]:
        locator, _, offset_text = identifier.rpartition("-")
        now = self.clock.now()
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is not None and now - cursor.used_at > LOCATOR_IDLE:
                del self._open[locator]
                cursor = None
            if cursor is None or not offset_text.isdigit():
                raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.used_at = now
            self._open.move_to_end(locator)
        offset = int(offset_text)
        if offset >= len(cursor.rows):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._answer(locator, cursor.rows, offset, cursor.batch)

    def _answer(
        self, locator: str, rows: list[dict[str, Any]], offset: int, batch: int
    ) -> dict[str, Any]:
        end = offset + batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            body["nextRecordsUrl"] = f"{DATA}/query/{locator}-{end}"
        body["records"] = rows[offset:end]
        if end >= len(rows):
            with self._lock:
                self._open.pop(locator, None)
        return body


def run_query(
    store: Store,
    catalog: OrgCatalog,
    cursors: Cursors,
    text: str | None,
    *,
    include_deleted: bool,
    options: str | None,
) -> dict[str, Any]:
    if not text:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        query = compile_query(text, catalog)
    except SoqlError as exc:
        raise SalesforceError(400, str(exc.error_code), exc.message) from None
    with store.locked():
        candidates = store.records(query.sobject, deleted=include_deleted)

        def get(record: Record, path: tuple[str, ...]) -> object:
            return read_path(store, record, path)

        matched = query.run(candidates, get)
        if query.is_count:
            return {"totalSize": len(matched), "done": True, "records": []}
        rows = [record_json(store, record, query.fields) for record in matched]
    obj = store.objects[query.sobject]
    long_text = sum(
        1
        for f in query.fields
        if len(f.path) == 1 and obj.fields[f.path[0]].custom and obj.fields[f.path[0]].long_text
    )
    return cursors.page(rows, batch_size(options, long_text))
