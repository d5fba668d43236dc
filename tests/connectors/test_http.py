"""The shared HTTP client: the error policy table, retries, Retry-After, refresh, the limiter."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from limits.aio.storage import MemoryStorage
from structlog.testing import capture_logs

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

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
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


def client(
    auth: StaticAuth,
    fake: FakeTime,
    limiter: RateLimiter | None = None,
    **options: Any,
) -> ApiClient:
    return ApiClient(
        BASE,
        auth,
        account="acct",
        limiter=limiter or RateLimiter({}, sleep=fake.sleep, clock=fake.clock),
        retry=RetryPolicy(max_attempts=4, backoff_initial=0.5, backoff_max=8),
        sleep=fake.sleep,
        **options,
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
    with pytest.raises(CrmUnavailable, match="after 4 attempts") as failure:
        await client(StaticAuth(), FakeTime()).request("GET", "/x", endpoint="GET /x")
    assert route.call_count == 4
    # The endpoint names its method once ("GET /x"), never "GET GET /x".
    assert str(failure.value).startswith("GET /x still failing")


@respx.mock
async def test_every_retry_says_so_in_one_line_so_a_struggling_crm_is_never_silence() -> None:
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503), httpx.Response(200)])
    with capture_logs() as logs:
        await client(StaticAuth(), FakeTime()).request("GET", "/x", endpoint="GET /x")
    retries = [entry for entry in logs if entry["event"] == "CRM request failed; retrying"]
    assert len(retries) == 1
    assert retries[0]["log_level"] == "warning"
    assert (retries[0]["endpoint"], retries[0]["reason"]) == ("GET /x", "HTTP 503")


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
    before = datetime.now(UTC)
    await limiter.acquire("acct", "general")
    after = datetime.now(UTC)
    await limiter.acquire("acct", "general")
    with pytest.raises(BudgetExhausted, match="2/day") as spent:
        await limiter.acquire("acct", "general")
    # It says when the window frees a call: a day after its oldest call.
    resumes_at = spent.value.resumes_at
    assert resumes_at is not None
    assert before + timedelta(days=1) <= resumes_at <= after + timedelta(days=1)
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


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def test_a_refused_connection_is_called_refused_after_its_retries(closed_port: int) -> None:
    fake = FakeTime()
    api = ApiClient(
        f"http://127.0.0.1:{closed_port}",
        StaticAuth(),
        account="acct",
        limiter=RateLimiter({}),
        retry=RetryPolicy(max_attempts=3),
        sleep=fake.sleep,
    )
    with pytest.raises(CrmUnavailable) as failure:
        await api.request("GET", "/x", endpoint="GET /x")
    assert str(failure.value) == (
        f"GET /x still failing after 3 attempts: 127.0.0.1:{closed_port} refused the connection"
    )
    assert len(fake.sleeps) == 2


async def test_silence_is_called_a_time_out_not_a_refusal(silent_port: int) -> None:
    api = ApiClient(
        f"http://127.0.0.1:{silent_port}",
        StaticAuth(),
        account="acct",
        limiter=RateLimiter({}),
        retry=RetryPolicy(max_attempts=2),
        timeout=0.2,
        sleep=FakeTime().sleep,
    )
    with pytest.raises(CrmUnavailable) as failure:
        await api.request("GET", "/x", endpoint="GET /x")
    message = str(failure.value)
    assert "accepted the connection but did not answer within 0.2 s" in message
    assert "refused" not in message


async def test_a_host_name_that_does_not_resolve_fails_at_once_saying_so() -> None:
    def unknown_host(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc

    fake = FakeTime()
    api = ApiClient(
        "https://api.hubapi.invalid",
        StaticAuth(),
        account="acct",
        limiter=RateLimiter({}),
        retry=RetryPolicy(max_attempts=4),
        transport=httpx.MockTransport(unknown_host),
        sleep=fake.sleep,
    )
    with pytest.raises(CrmUnavailable) as failure:
        await api.request("GET", "/x", endpoint="GET /x")
    assert str(failure.value) == (
        "GET /x: cannot resolve api.hubapi.invalid (DNS: Name or service not known)"
    )
    assert fake.sleeps == []  # no retries: the name will not resolve on the next attempt


@respx.mock
async def test_a_429_with_retry_after_holds_every_call_of_the_account() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429, headers={"Retry-After": "3"}))
    respx.get(f"{BASE}/y").mock(return_value=httpx.Response(200))
    fake = FakeTime()
    limiter = RateLimiter({}, sleep=fake.sleep, clock=fake.clock)
    api = ApiClient(
        BASE,
        StaticAuth(),
        account="acct",
        limiter=limiter,
        retry=RetryPolicy(max_attempts=1),  # /x gives up at once: only the hold remains
        sleep=fake.sleep,
    )
    with pytest.raises(CrmUnavailable):
        await api.request("GET", "/x", endpoint="GET /x")
    assert fake.sleeps == []
    await api.request("GET", "/y", endpoint="GET /y")
    assert 3.0 <= sum(fake.sleeps) <= 3.1  # another call of the account waited out the 3 s


@respx.mock
async def test_a_connector_reads_its_rate_limit_headers_through_the_pace_hook() -> None:
    left = ["50", "1", "", "0", "40"]  # "": an answer without the headers (HubSpot's search)
    respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.Response(200, headers={"X-Left": n} if n else {}) for n in left]
        + [httpx.Response(200)]
    )

    def pace(response: httpx.Response) -> float | None:
        if "X-Left" not in response.headers:
            return None
        return 0.0 if int(response.headers["X-Left"]) > 1 else 2.0

    fake = FakeTime()
    limiter = RateLimiter({}, sleep=fake.sleep, clock=fake.clock)
    api = client(StaticAuth(), fake, limiter, pace=pace)
    starts: list[float] = []
    for _ in left:
        await api.request("GET", "/x", endpoint="GET /x")
        starts.append(fake.now)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(starts)]
    # Plenty left: no wait. Nearly spent: calls start 2 s apart, also after an answer that
    # says nothing, until an answer says plenty remains again.
    assert gaps == [0.0, 2.0, 2.0, 2.0]
    before = fake.now
    await api.request("GET", "/x", endpoint="GET /x")
    assert fake.now == before  # after "40": not spaced any more


async def test_a_slot_taken_by_another_process_between_test_and_hit_is_not_overdrawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two processes on one window: both may see the last slot free; only one may take it."""
    storage = MemoryStorage()
    buckets = {"general": [Limit("1/minute")]}
    mine = RateLimiter(buckets, storage=storage, sleep=_refuse_to_wait)
    theirs = RateLimiter(buckets, storage=storage, sleep=_refuse_to_wait)
    real_test = mine._strategy.test

    async def test_then_lose_the_race(*args: Any, **kwargs: Any) -> bool:
        free = await real_test(*args, **kwargs)
        await theirs.acquire("portal", "general")  # the other process takes the slot meanwhile
        monkeypatch.setattr(mine._strategy, "test", real_test)
        return free

    monkeypatch.setattr(mine._strategy, "test", test_then_lose_the_race)
    with pytest.raises(Waited):
        await mine.acquire("portal", "general")


class Waited(Exception):
    pass


async def _refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)
