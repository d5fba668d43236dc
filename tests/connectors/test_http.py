"""The shared HTTP client: the error policy table, retries, Retry-After, refresh, the limiter."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx
import pytest
import respx

from connectors.errors import AuthError, BudgetExhausted, CrmRequestError, CrmUnavailable
from connectors.http import ApiClient, Limit, RateLimiter, RetryPolicy

BASE = "https://api.example.test"


class StaticAuth:
    def __init__(self, refreshable: bool = False) -> None:
        self.token = "t1"
        self.refreshable = refreshable
        self.refreshes = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self) -> bool:
        self.refreshes += 1
        if self.refreshable:
            self.token = "t2"
        return self.refreshable


class FakeTime:
    """Sleeps advance a fake clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client(auth: StaticAuth, fake: FakeTime, limiter: RateLimiter | None = None) -> ApiClient:
    return ApiClient(
        BASE,
        auth,
        account="acct",
        limiter=limiter or RateLimiter({}),
        retry=RetryPolicy(max_attempts=4, backoff_initial=0.5, backoff_max=8),
        sleep=fake.sleep,
    )


@respx.mock
async def test_5xx_then_success_is_retried_with_growing_backoff() -> None:
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, json={"a": 1})]
    )
    fake = FakeTime()
    response = await client(StaticAuth(), fake).request("GET", "/x", endpoint="GET /x")
    assert response.json() == {"a": 1}
    assert route.call_count == 3
    assert len(fake.sleeps) == 2
    assert 0 < fake.sleeps[0] <= fake.sleeps[1] + 0.5


@respx.mock
async def test_429_waits_for_retry_after() -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200)]
    )
    fake = FakeTime()
    await client(StaticAuth(), fake).request("GET", "/x", endpoint="GET /x")
    assert len(fake.sleeps) == 1
    assert 3.0 <= fake.sleeps[0] < 3.5


@respx.mock
async def test_persistent_5xx_ends_in_crm_unavailable_after_the_configured_attempts() -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(500))
    with pytest.raises(CrmUnavailable, match="after 4 attempts"):
        await client(StaticAuth(), FakeTime()).request("GET", "/x", endpoint="GET /x")
    assert route.call_count == 4


@respx.mock
async def test_timeouts_are_retried() -> None:
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200)]
    )
    await client(StaticAuth(), FakeTime()).request("GET", "/x", endpoint="GET /x")
    assert route.call_count == 2


@respx.mock
async def test_a_400_fails_at_once_with_the_crm_message() -> None:
    route = respx.post(f"{BASE}/x").mock(
        return_value=httpx.Response(400, json={"status": "error", "message": "bad filter"})
    )
    with pytest.raises(CrmRequestError, match="bad filter") as failure:
        await client(StaticAuth(), FakeTime()).request("POST", "/x", endpoint="POST /x", json={})
    assert failure.value.status == 400
    assert route.call_count == 1


@respx.mock
async def test_a_401_refreshes_the_token_once_and_retries_with_the_new_one() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200 if request.headers["Authorization"] == "Bearer t2" else 401)

    respx.get(f"{BASE}/x").mock(side_effect=answer)
    auth = StaticAuth(refreshable=True)
    await client(auth, FakeTime()).request("GET", "/x", endpoint="GET /x")
    assert seen == ["Bearer t1", "Bearer t2"]
    assert auth.refreshes == 1


@respx.mock
async def test_a_401_that_refresh_cannot_fix_is_an_auth_error() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(401, json={"message": "expired"}))
    auth = StaticAuth(refreshable=False)
    with pytest.raises(AuthError, match="expired"):
        await client(auth, FakeTime()).request("GET", "/x", endpoint="GET /x")
    assert auth.refreshes == 1


@respx.mock
async def test_the_limiter_keeps_calls_within_its_moving_window_and_counts_them() -> None:
    stamps: list[float] = []

    def answer(_: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return httpx.Response(200)

    respx.get(f"{BASE}/x").mock(side_effect=answer)
    api = ApiClient(
        BASE, StaticAuth(), account="acct", limiter=RateLimiter({"general": [Limit("5/second")]})
    )
    for _ in range(7):
        await api.request("GET", "/x", endpoint="GET /x")
    # No more than 5 calls in any one-second window, so the 6th is a second after the 1st.
    assert stamps[5] - stamps[0] >= 0.95
    assert api.calls == {"GET /x": 7}


async def test_a_spent_budget_raises_instead_of_waiting() -> None:
    limiter = RateLimiter({"general": [Limit("2/day", exhausted=BudgetExhausted)]})
    await limiter.acquire("acct", "general")
    await limiter.acquire("acct", "general")
    with pytest.raises(BudgetExhausted, match="2/day"):
        await limiter.acquire("acct", "general")
    # Another account has its own allowance.
    await limiter.acquire("other", "general")


async def test_limits_with_one_scope_share_a_window_across_buckets() -> None:
    day = Limit("3/day", exhausted=BudgetExhausted, scope="day")
    limiter = RateLimiter({"general": [day], "search": [Limit("10/second", scope="search"), day]})
    await limiter.acquire("portal", "general")
    await limiter.acquire("portal", "search")
    await limiter.acquire("portal", "general")
    with pytest.raises(BudgetExhausted):
        await limiter.acquire("portal", "search")  # the day's three calls are spent


async def test_calls_already_spent_today_count_against_the_budget() -> None:
    day = Limit("5/day", exhausted=BudgetExhausted, scope="day")
    limiter = RateLimiter({"general": [day]}, spent=4)
    await limiter.acquire("portal", "general")
    with pytest.raises(BudgetExhausted):
        await limiter.acquire("portal", "general")
