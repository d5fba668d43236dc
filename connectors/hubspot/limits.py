"""HubSpot's rate limits per app type, what its 429 bodies mean, and how its
`X-HubSpot-RateLimit-*` headers pace the calls."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum

import httpx

from connectors.errors import BudgetExhausted
from connectors.http import Action, Decision, Limit, default_classify


class AppType(StrEnum):
    PRIVATE_PRO = "private-pro"
    PRIVATE_STARTER = "private-starter"
    OAUTH = "oauth"
    # No client-side limits at all: only for a sandbox started with `--rate-limits off`.
    UNLIMITED = "unlimited"


# (requests per rolling 10 s, daily allocation). OAuth apps get 100/10 s per portal; their daily
# allocation is the portal's, unknown to the app, so the budget assumes the smallest (Starter).
_APP_LIMITS: Mapping[AppType, tuple[int, int]] = {
    AppType.PRIVATE_PRO: (190, 650_000),
    AppType.PRIVATE_STARTER: (100, 250_000),
    AppType.OAUTH: (100, 250_000),
}
SEARCH_PER_SECOND = 4
# The client-side burst limits stay this far under HubSpot's: a call is counted when it leaves
# and HubSpot counts it when it arrives, so equal windows drift apart by the network's jitter,
# and other apps of the portal may draw on the same allocation.
DEFAULT_HEADROOM = 0.15
# Below this share of `X-HubSpot-RateLimit-Max` remaining, calls are spread out (see `pace`).
LOW_REMAINING = 0.05


def _under(limit: int, headroom: float) -> int:
    return max(1, math.floor(limit * (1 - headroom)))


def buckets_for(
    app_type: AppType, budget_share: float, headroom: float = DEFAULT_HEADROOM
) -> dict[str, Sequence[Limit]]:
    """Client-side limits: the burst windows (`headroom` under HubSpot's), and this
    connection's share of the day."""
    if app_type is AppType.UNLIMITED:
        return {}
    per_ten_seconds, daily = _APP_LIMITS[app_type]
    general = [
        Limit(f"{_under(per_ten_seconds, headroom)}/10 seconds", scope="general"),
        Limit(f"{max(1, int(daily * budget_share))}/day", exhausted=BudgetExhausted, scope="day"),
    ]
    # Search has its own per-second limit and also counts against the general window and day.
    search = Limit(f"{_under(SEARCH_PER_SECOND, headroom)}/second", scope="search")
    return {"general": general, "search": [search, *general]}


def _header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def pace(response: httpx.Response) -> float | None:
    """The spacing of the next calls, from HubSpot's rolling-window headers: none while plenty
    remains; once `X-HubSpot-RateLimit-Remaining` is down to 5% of `-Max`, the interval shared
    among the calls left (the whole interval per call at zero, when only calls ageing out of
    the window free room). Other apps of the portal spend the same window: these headers are
    the only sign of it. None when the response carries no such headers (search answers)."""
    remaining = _header(response, "X-HubSpot-RateLimit-Remaining")
    maximum = _header(response, "X-HubSpot-RateLimit-Max")
    interval_ms = _header(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining is None or not maximum or not interval_ms:
        return None
    if remaining > max(2, math.ceil(maximum * LOW_REMAINING)):
        return 0.0
    return interval_ms / 1000 / (max(0, remaining) + 1)


def classify(response: httpx.Response) -> Decision:
    """HubSpot names the exhausted policy in its 429 body: a spent day stops the run cleanly."""
    decision = default_classify(response)
    if response.status_code != 429:
        return decision
    try:
        policy = str(response.json().get("policyName", ""))
    except (ValueError, AttributeError):
        policy = ""
    if policy == "DAILY":
        return Decision(Action.STOP_DAILY, None, "HubSpot daily limit reached")
    return Decision(Action.WAIT, decision.retry_after, f"HubSpot rate limit {policy or '429'}")
