"""HubSpot's API rate limits as the sandbox enforces them, and its 429 bodies and headers.

Profiles (requests per rolling 10 s, per day): pro 190 / 650,000, starter 100 / 250,000,
oauth 100 / 250,000 (an OAuth app gets 100 per 10 s per portal; the portal's daily allocation
is assumed to be Starter's); every profile allows 4 search requests per second; `off` has no
limits and sends no headers. The rolling 10 s window is a moving window; the daily allocation
is a fixed window starting at the first call (HubSpot resets at midnight in the portal's time
zone). Search requests count towards the 10 s window and the day but do not get the
`X-HubSpot-RateLimit-*` headers, as HubSpot documents. `spend` uses up the rest of the day at
once (`POST /_sandbox/faults` `{"spend_allocation": true}`), as the portal's other integrations
may; `reset` (`POST /_sandbox/stats/reset`) gives the day back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerSecond, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from connectors.hubspot.sandbox.errors import correlation_id

TEN_SECONDS_MS = 10_000


@dataclass(frozen=True, slots=True)
class RateLimitProfile:
    name: str
    per_ten_seconds: int | None
    daily: int | None
    search_per_second: int | None = 4


PROFILES: dict[str, RateLimitProfile] = {
    "pro": RateLimitProfile("pro", 190, 650_000),
    "starter": RateLimitProfile("starter", 100, 250_000),
    "oauth": RateLimitProfile("oauth", 100, 250_000),
    "off": RateLimitProfile("off", None, None, None),
}


def profile_named(name: str) -> RateLimitProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown rate-limit profile {name!r}: choose one of {', '.join(PROFILES)}"
        ) from None


_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limit_body(policy: str, group: str) -> dict[str, Any]:
    """HubSpot's 429 body (plus `category`, so that it also fits the specs' `Error` schema)."""
    return {
        "status": "error",
        "message": _MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": group,
        "category": "RATE_LIMITS",
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    policy: str | None = None
    retry_after: int | None = None  # seconds; None: no `Retry-After` (the day's 429)


class SandboxRateLimiter:
    """Counts one portal's calls against a profile (thread-safe through `limits`' storage)."""

    def __init__(
        self, profile: RateLimitProfile, *, group: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.profile = profile
        self.group = group
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            storage = MemoryStorage()
            self._moving = MovingWindowRateLimiter(storage)
            self._fixed = FixedWindowRateLimiter(storage)
            p = self.profile
            self._ten: RateLimitItem | None = (
                parse(f"{p.per_ten_seconds}/10 seconds") if p.per_ten_seconds else None
            )
            self._day: RateLimitItem | None = RateLimitItemPerDay(p.daily) if p.daily else None
            self._search: RateLimitItem | None = (
                RateLimitItemPerSecond(p.search_per_second) if p.search_per_second else None
            )

    def spend(self) -> None:
        """Use up what is left of the day now (a fault: the portal's other integrations spent
        it): every call answers the DAILY 429 until `reset`. A profile without a day has none."""
        with self._lock:
            if self._day is None:
                return
            remaining = self._fixed.get_window_stats(self._day, self.group).remaining
            if remaining > 0:
                self._fixed.hit(self._day, self.group, cost=remaining)

    def _wait(
        self, strategy: MovingWindowRateLimiter | FixedWindowRateLimiter, item: RateLimitItem
    ) -> int:
        stats = strategy.get_window_stats(item, self.group)
        return max(1, math.ceil(stats.reset_time - self._clock()))

    def check(self, *, search: bool) -> Verdict:
        """Count one request, or refuse it naming the exhausted policy."""
        with self._lock:
            return self._check(search)

    def _check(self, search: bool) -> Verdict:
        checks: list[tuple[str, MovingWindowRateLimiter | FixedWindowRateLimiter, RateLimitItem]]
        checks = []
        if self._day is not None:
            checks.append(("DAILY", self._fixed, self._day))
        if search and self._search is not None:
            checks.append(("SECONDLY", self._moving, self._search))
        if self._ten is not None:
            checks.append(("TEN_SECONDLY_ROLLING", self._moving, self._ten))
        for policy, strategy, item in checks:
            if not strategy.test(item, self.group):
                # HubSpot documents no `Retry-After` for a spent day (it ends at midnight in
                # the portal's time zone); hours of one would hold a client that honours it
                # (urllib3, under the official client) asleep until then.
                wait = None if policy == "DAILY" else self._wait(strategy, item)
                return Verdict(False, {} if search else self._headers(), policy, wait)
        for _, strategy, item in checks:
            strategy.hit(item, self.group)
        return Verdict(True, {} if search else self._headers())

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._day is not None:
            remaining = self._fixed.get_window_stats(self._day, self.group).remaining
            headers["X-HubSpot-RateLimit-Daily"] = str(self._day.amount)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        if self._ten is not None:
            remaining = self._moving.get_window_stats(self._ten, self.group).remaining
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(TEN_SECONDS_MS)
            headers["X-HubSpot-RateLimit-Max"] = str(self._ten.amount)
            headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        return headers
