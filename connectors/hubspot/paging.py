"""Paging HubSpot: the list endpoint's `after` tokens, and search windows past the 10,000 cap.

HubSpot's search returns at most 10,000 results per query. `SearchSweep` walks
`lastmodifieddate` in ascending windows: when a window nears the cap, the next one starts at the
latest timestamp seen (records at that instant are read again, harmlessly). If 10,000 records
share one timestamp, it sweeps that instant by `hs_object_id` before moving past it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEARCH_CAP = 10_000
SEARCH_PAGE = 200


def next_after(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging") or {}
    after = (paging.get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


@dataclass
class SearchSweep:
    """Plans the search requests of one incremental sync: `request()`, then `advance(...)`."""

    since_ms: int  # lastmodifieddate >= since (the stored cursor minus the overlap)
    until_ms: int  # <= the sweep's start: the sweep ends even while writes go on
    properties: Sequence[str]
    after: str | None = None
    strictly_after: bool = False  # GT instead of GTE, once an instant has been swept by id
    tie_at_ms: int | None = None  # sweeping one instant by hs_object_id
    tie_after_id: int = 0
    done: bool = False
    max_seen_ms: int | None = None

    def request(self) -> dict[str, Any]:
        if self.tie_at_ms is not None:
            filters = [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "EQ",
                    "value": str(self.tie_at_ms),
                },
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(self.tie_after_id)},
            ]
            sort = "hs_object_id"
        else:
            filters = [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "GT" if self.strictly_after else "GTE",
                    "value": str(self.since_ms),
                },
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "LTE",
                    "value": str(self.until_ms),
                },
            ]
            sort = "lastmodifieddate"
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": list(self.properties),
            "limit": SEARCH_PAGE,
        }
        if self.after is not None:
            body["after"] = self.after
        return body

    def advance(self, modified_ms: Sequence[int], ids: Sequence[int], after: str | None) -> None:
        """Take in one page (its records' timestamps and ids, and its next `after`)."""
        if modified_ms:
            top = max(modified_ms)
            self.max_seen_ms = top if self.max_seen_ms is None else max(self.max_seen_ms, top)
        if self.tie_at_ms is not None:
            self._advance_tie(ids, after)
            return
        if after is None:
            self.done = True
        elif int(after) + SEARCH_PAGE > SEARCH_CAP:
            if self.max_seen_ms is not None and self.max_seen_ms > self.since_ms:
                self.since_ms, self.strictly_after, self.after = self.max_seen_ms, False, None
            else:  # a whole window at one instant: sweep it by id
                self.tie_at_ms, self.tie_after_id, self.after = self.since_ms, 0, None
        else:
            self.after = after

    def _advance_tie(self, ids: Sequence[int], after: str | None) -> None:
        assert self.tie_at_ms is not None
        if after is None:
            self.since_ms, self.strictly_after = self.tie_at_ms, True
            self.tie_at_ms, self.after = None, None
        elif int(after) + SEARCH_PAGE > SEARCH_CAP:
            self.tie_after_id, self.after = max(ids), None
        else:
            self.after = after
