"""HubSpot's rate limits per app type, and what its 429 bodies mean."""

from __future__ import annotations

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
SEARCH_RATE = "4/second"


def buckets_for(app_type: AppType, budget_share: float) -> dict[str, Sequence[Limit]]:
    """Client-side limits: the burst window, and this connection's share of the day."""
    if app_type is AppType.UNLIMITED:
        return {}
    per_ten_seconds, daily = _APP_LIMITS[app_type]
    general = [
        Limit(f"{per_ten_seconds}/10 seconds", scope="general"),
        Limit(f"{max(1, int(daily * budget_share))}/day", exhausted=BudgetExhausted, scope="day"),
    ]
    # Search has its own per-second limit and also counts against the general window and day.
    return {"general": general, "search": [Limit(SEARCH_RATE, scope="search"), *general]}


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
