"""The org's API limits ("API Request Limits and Allocations", Salesforce Developer Limits and
Allocations Quick Reference; "Limits" resource and "Limit Info Header", REST API Developer
Guide).

- Total requests: every API call counts against an allocation over a rolling 24 hours, on the
  org's clock (15,000 for a Developer Edition); once spent, calls answer
  `403 REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit exceeded." until old calls age out. Every
  response carries `Sforce-Limit-Info: api-usage=N/M`.
- Concurrent long-running requests: requests that have run for `long_seconds` (20) or more
  count; a new request while `concurrent` (25) of them are running answers
  `403 REQUEST_LIMIT_EXCEEDED` "ConcurrentPerOrgLongTxn Limit exceeded.".
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

DAY_SECONDS = 86_400.0


class Allocation:
    """Calls over a rolling 24 hours, counted in per-second buckets."""

    def __init__(self, maximum: int, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self.maximum = maximum
        self._clock = clock
        self._buckets: deque[list[float]] = deque()  # [second, calls]
        self._used = 0

    def _prune(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - DAY_SECONDS:
            self._used -= int(self._buckets.popleft()[1])

    def _add(self, now: float, calls: int) -> None:
        second = float(int(now))
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += calls
        else:
            self._buckets.append([second, float(calls)])
        self._used += calls

    def take(self) -> bool:
        """Count one call, or False when the allocation is spent."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            if self._used >= self.maximum:
                return False
            self._add(now, 1)
            return True

    def used(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return self._used

    def spend(self) -> None:
        """Use up what is left now (a fault: the next call is refused)."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            if self._used < self.maximum:
                self._add(now, self.maximum - self._used)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._used = 0

    def header(self) -> str:
        return f"api-usage={self.used()}/{self.maximum}"


class LongRequests:
    """Requests in flight, to count the long-running ones (real seconds, not the org clock)."""

    def __init__(
        self, limit: int, long_seconds: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self.limit = limit
        self.long_seconds = long_seconds
        self._monotonic = monotonic
        self._started: dict[int, float] = {}
        self._ids = itertools.count()

    def long_running(self) -> int:
        with self._lock:
            now = self._monotonic()
            return sum(1 for t in self._started.values() if now - t >= self.long_seconds)

    def admit(self) -> int | None:
        """A ticket for a new request, or None when too many long requests are running."""
        with self._lock:
            now = self._monotonic()
            running = sum(1 for t in self._started.values() if now - t >= self.long_seconds)
            if running >= self.limit:
                return None
            ticket = next(self._ids)
            self._started[ticket] = now
            return ticket

    def done(self, ticket: int) -> None:
        with self._lock:
            self._started.pop(ticket, None)
