"""Call counts per endpoint ("METHOD /template") and status, for tests and the demo."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


class CallStats:
    """`limited_statuses` count as rate-limited on their own; a sandbox whose limit refusals
    share a status with other errors (Salesforce's 403) says so with `note_limited`."""

    def __init__(self, limited_statuses: Iterable[int] = (429,)) -> None:
        self._lock = threading.Lock()
        self._limited_statuses = frozenset(limited_statuses)
        self._calls: dict[str, dict[str, int]] = {}
        self._rate_limited = 0

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            per_status = self._calls.setdefault(endpoint, {})
            per_status[str(status)] = per_status.get(str(status), 0) + 1
            if status in self._limited_statuses:
                self._rate_limited += 1

    def note_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._rate_limited = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {endpoint: dict(s) for endpoint, s in self._calls.items()},
                "rate_limited": self._rate_limited,
            }
