"""The org's clock: real time plus an offset that `POST /_sandbox/clock` advances, so that
sessions, the rolling 24-hour allocation and the 15-day recycle bin can be aged in tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    def __init__(self, source: Callable[[], datetime] = utcnow) -> None:
        self._lock = threading.Lock()
        self._source = source
        self._offset = timedelta()
        self._last: datetime | None = None

    def now(self) -> datetime:
        """Now, to the millisecond, never before the previous reading."""
        with self._lock:
            moment = (self._source() + self._offset).astimezone(UTC)
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            if self._last is not None and moment < self._last:
                moment = self._last
            self._last = moment
            return moment

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta():
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += delta
        return self.now()


def sf_datetime(moment: datetime) -> str:
    """Salesforce's JSON date-time: 2024-05-01T12:00:00.000+0000."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time with an offset (Z, +hh:mm or +hhmm); None if it is not one."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-3] != ":" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)
