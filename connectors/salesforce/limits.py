"""Salesforce's API limits as the connector keeps them: what its error bodies mean (tables, not
`if` chains), and the org-wide usage every response reports in `Sforce-Limit-Info`.

Salesforce answers errors with a JSON array, `[{"message": ..., "errorCode": ...}]` ("Status
Codes and Error Responses", REST API Developer Guide). `REQUEST_LIMIT_EXCEEDED` means two
different things, told apart by its message: "TotalRequests Limit exceeded." (the org's rolling
24-hour allocation is spent: stop the run cleanly, resume another day) and
"ConcurrentPerOrgLongTxn Limit exceeded." (too many long requests at once: back off, retry).

Every response carries `Sforce-Limit-Info: api-usage=N/M` ("Limit Info Header"): N calls of
the org's M over the last 24 hours, every integration's and user's together. A connection may
take the org up to its share of M (`budget_share`): past that it pauses (`BudgetExhausted`)
and leaves the rest to the org's other users of the API.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from connectors.errors import BudgetExhausted
from connectors.http import Action, Decision, default_classify

# errorCode -> what to do, whatever the HTTP status.
ERROR_CODES: Mapping[str, Action] = {
    "INVALID_SESSION_ID": Action.REFRESH_AUTH,  # the session expired: log in again, once
    "UNABLE_TO_LOCK_ROW": Action.RETRY,  # another transaction holds the record
    "SERVER_UNAVAILABLE": Action.RETRY,
    "REQUEST_RUNNING_TOO_LONG": Action.RETRY,
    "QUERY_TIMEOUT": Action.RETRY,
}
# REQUEST_LIMIT_EXCEEDED by the limit its message names (the first match wins); any other
# limit is backed off from like a concurrency limit.
REQUEST_LIMITS: Sequence[tuple[str, Action]] = (
    ("TotalRequests", Action.STOP_DAILY),
    ("ConcurrentPerOrgLongTxn", Action.RETRY),
)
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
LIMIT_INFO = "Sforce-Limit-Info"
_API_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")  # not per-app-api-usage


@dataclass(frozen=True, slots=True)
class ApiError:
    code: str
    message: str


def errors_of_body(body: object) -> list[ApiError]:
    """The `[{"errorCode", "message"}]` entries of an error body (none when it has another
    shape: an HTML page from a proxy, an OAuth error object)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    found = []
    for entry in body:
        if isinstance(entry, dict) and isinstance(entry.get("errorCode"), str):
            found.append(ApiError(entry["errorCode"], str(entry.get("message") or "")))
    return found


def errors_of(response: httpx.Response) -> list[ApiError]:
    try:
        body = response.json()
    except ValueError:
        return []
    return errors_of_body(body)


def _action(error: ApiError) -> Action | None:
    if error.code == REQUEST_LIMIT_EXCEEDED:
        return next(
            (action for name, action in REQUEST_LIMITS if name in error.message), Action.RETRY
        )
    return ERROR_CODES.get(error.code)


def classify(response: httpx.Response) -> Decision:
    """The shared policy by status, refined by Salesforce's error codes."""
    decision = default_classify(response)
    if decision.action is Action.OK:
        return decision
    errors = errors_of(response)
    if not errors:
        return decision
    first = errors[0]
    reason = f"HTTP {response.status_code} {first.code}: {first.message}".rstrip(": ")
    action = _action(first)
    if action is None:
        # An error code the table does not name: the status decides (400s fail, 5xx retry).
        return Decision(decision.action, decision.retry_after, reason)
    return Decision(action, decision.retry_after, reason)


@dataclass(frozen=True, slots=True)
class ApiUsage:
    used: int
    allocation: int


def parse_limit_info(value: str | None) -> ApiUsage | None:
    """`api-usage=1234/15000` (other entries, such as `per-app-api-usage=...`, may follow)."""
    if not value:
        return None
    found = _API_USAGE.search(value)
    if found is None:
        return None
    used, allocation = int(found.group(1)), int(found.group(2))
    return ApiUsage(used, allocation) if allocation > 0 else None


class OrgUsage:
    """The org's API usage as the latest response reported it, against this connection's
    ceiling: `budget_share` of the org's daily allocation."""

    def __init__(self, budget_share: float) -> None:
        if not 0 < budget_share <= 1:
            raise ValueError(f"budget_share must be in (0, 1], not {budget_share}")
        self.budget_share = budget_share
        self.latest: ApiUsage | None = None

    def observe(self, response: httpx.Response) -> float | None:
        """Read the header (the shared client's `pace` hook): it never asks to space calls,
        as Salesforce has no burst window; the budget is enforced by `check`."""
        usage = parse_limit_info(response.headers.get(LIMIT_INFO))
        if usage is not None:
            self.latest = usage
        return None

    @property
    def ceiling(self) -> int | None:
        if self.latest is None:
            return None
        return max(1, math.floor(self.latest.allocation * self.budget_share))

    def check(self) -> None:
        """Raise `BudgetExhausted` once the org's usage has reached this connection's share."""
        ceiling = self.ceiling
        if self.latest is not None and ceiling is not None and self.latest.used >= ceiling:
            raise BudgetExhausted(
                f"the org has used {self.latest.used} of its {self.latest.allocation} daily API "
                f"calls, this connection's share ({self.budget_share:g}) is reached: paused "
                "until usage falls (Salesforce counts a rolling 24 hours)"
            )


__all__ = [
    "ERROR_CODES",
    "LIMIT_INFO",
    "REQUEST_LIMITS",
    "ApiError",
    "ApiUsage",
    "OrgUsage",
    "classify",
    "errors_of",
    "errors_of_body",
    "parse_limit_info",
]
