"""Call counts per endpoint and status, for tests and the demo (`GET /_sandbox/stats`)."""

from __future__ import annotations

import threading
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, int]] = {}
        self._rate_limited = 0

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            per_status = self._calls.setdefault(endpoint, {})
            per_status[str(status)] = per_status.get(str(status), 0) + 1
            if status == 429:
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
