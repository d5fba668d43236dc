"""API calls per connection, day and endpoint: counted in memory, added to the table in batches."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy.orm import Session

from app.metrics import API_CALLS
from app.models import ApiUsage
from app.sql import upsert_insert


class UsageCounter:
    """The connector's `on_response` hook; `flush` adds what was counted since the last flush."""

    def __init__(self, connection_id: int, name: str | None = None) -> None:
        self.connection_id = connection_id
        self._label = name or str(connection_id)
        self.calls: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()  # never flushed: the run's own figures
        self.total_calls = 0
        self.total_rate_limited = 0

    def __call__(self, endpoint: str, status: int) -> None:
        self.calls[endpoint] += 1
        self.totals[endpoint] += 1
        API_CALLS.labels(self._label, str(status)).inc()
        self.total_calls += 1
        if status == 429:
            self.rate_limited[endpoint] += 1
            self.total_rate_limited += 1

    def flush(self, session: Session, day: date) -> None:
        if not self.calls:
            return
        rows = [
            {
                "connection_id": self.connection_id,
                "day": day,
                "endpoint": endpoint[:120],
                "calls": calls,
                "rate_limited": self.rate_limited.get(endpoint, 0),
            }
            for endpoint, calls in self.calls.items()
        ]
        insert = upsert_insert(session, ApiUsage)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["connection_id", "day", "endpoint"],
                set_={
                    "calls": ApiUsage.calls + insert.excluded.calls,
                    "rate_limited": ApiUsage.rate_limited + insert.excluded.rate_limited,
                },
            ),
            rows,
        )
        self.calls.clear()
        self.rate_limited.clear()
