"""The HTTP client every connector shares: rate limits, retries with backoff, usage counts.

What a response means is data (`ERROR_POLICY`: status -> action), not `if` chains; a connector
refines it through `classify` (HubSpot reads `policyName` from its 429 bodies, for instance).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors.errors import (
    AuthError,
    CrmRequestError,
    CrmUnavailable,
    DailyLimitReached,
)

Sleep = Callable[[float], Awaitable[None]]


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"  # transient: back off and try again
    WAIT = "wait"  # rate limited: wait as told, then try again
    REFRESH_AUTH = "refresh_auth"  # refresh the token once, then try again
    STOP_DAILY = "stop_daily"  # the day's allocation is spent: stop cleanly
    FAIL = "fail"  # the request itself is wrong: no retry


ERROR_POLICY: Mapping[int, Action] = {
    401: Action.REFRESH_AUTH,
    408: Action.RETRY,
    423: Action.RETRY,
    429: Action.WAIT,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    retry_after: float | None = None
    reason: str = ""


def default_classify(response: httpx.Response) -> Decision:
    if response.is_success:
        return Decision(Action.OK)
    action = ERROR_POLICY.get(response.status_code)
    if action is None:
        action = Action.RETRY if response.status_code >= 500 else Action.FAIL
    retry_after = _retry_after(response)
    return Decision(action, retry_after, f"HTTP {response.status_code}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Authenticator(Protocol):
    async def headers(self) -> Mapping[str, str]: ...

    async def refresh(self) -> bool:
        """Get a new credential after a 401; False when there is no way to."""
        ...


class UsageRecorder(Protocol):
    def __call__(self, endpoint: str, status: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Limit:
    """One rate limit of a bucket, and what happens when it is spent."""

    rate: str  # in `limits` notation, e.g. "190/10 seconds"
    exhausted: type[Exception] | None = None  # None: wait for the window; else raise this
    # Limits with one scope share one window whichever bucket they are listed in (a search
    # call also counts against the general 10-second window and the day); None: the bucket's.
    scope: str | None = None

    @property
    def item(self) -> RateLimitItem:
        return parse(self.rate)


@dataclass
class RateLimiter:
    """Client-side limits per account and bucket (general, search), shared through `storage`.

    With the in-memory storage the limits hold within one process; with `limits`' Redis storage
    they hold across every process and machine of a deployment.
    """

    buckets: Mapping[str, Sequence[Limit]]
    storage: Storage = field(default_factory=MemoryStorage)
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.time
    # Calls already spent against the budget limits (those that raise when exhausted), from the
    # caller's own records: a process that starts fresh still respects the day's budget.
    spent: int = 0

    def __post_init__(self) -> None:
        self._strategy = MovingWindowRateLimiter(self.storage)
        self._preloaded: set[str] = set()

    async def _preload(self, account: str, bucket: str, limits: Sequence[Limit]) -> None:
        if self.spent <= 0 or bucket in self._preloaded:
            return
        self._preloaded.add(bucket)
        for limit in limits:
            if limit.exhausted is not None:
                cost = min(self.spent, limit.item.amount)
                await self._strategy.hit(limit.item, account, limit.scope or bucket, cost=cost)

    async def acquire(self, account: str, bucket: str) -> None:
        limits = self.buckets.get(bucket, ())
        await self._preload(account, bucket, limits)
        while True:
            waiting = 0.0
            for limit in limits:
                scope = limit.scope or bucket
                if not await self._strategy.test(limit.item, account, scope):
                    if limit.exhausted is not None:
                        raise limit.exhausted(f"{scope} limit {limit.rate} reached")
                    stats = await self._strategy.get_window_stats(limit.item, account, scope)
                    waiting = max(waiting, stats.reset_time - self.clock())
            if waiting <= 0:
                for limit in limits:
                    await self._strategy.hit(limit.item, account, limit.scope or bucket)
                return
            await self.sleep(min(waiting, 10.0) + 0.01)


class _Retryable(Exception):
    def __init__(self, decision: Decision, response: httpx.Response | None) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        self.response = response


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 60.0


class ApiClient:
    """An async JSON API client: rate-limited, retried with jittered backoff, counted."""

    def __init__(
        self,
        base_url: str,
        auth: Authenticator,
        *,
        account: str,
        limiter: RateLimiter,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 30.0,
        classify: Callable[[httpx.Response], Decision] = default_classify,
        on_response: UsageRecorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._auth = auth
        self.account = account
        self._limiter = limiter
        self._retry = retry
        self._backoff = wait_exponential_jitter(
            multiplier=retry.backoff_initial, max=retry.backoff_max, jitter=retry.backoff_initial
        )
        self._classify = classify
        self._on_response = on_response
        self._sleep = sleep
        self.calls: dict[str, int] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._backoff(state)
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retryable) and failure.decision.retry_after is not None:
            # The server said how long: honour it (plus a little jitter from the backoff).
            return min(self._retry.backoff_max, failure.decision.retry_after) + backoff / 10
        return backoff

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        bucket: str = "general",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send a request until it succeeds or fails for good; `endpoint` names it in counts."""
        refreshed = False
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._limiter.acquire(self.account, bucket)
                    headers = dict(await self._auth.headers()) if authenticated else {}
                    try:
                        response = await self._http.request(
                            method, path, json=json, params=params, headers=headers
                        )
                    except (httpx.TimeoutException, httpx.TransportError) as exc:
                        self._count(endpoint, 0)
                        raise _Retryable(
                            Decision(Action.RETRY, None, type(exc).__name__), None
                        ) from exc
                    self._count(endpoint, response.status_code)
                    decision = self._classify(response)
                    if decision.action is Action.OK:
                        return response
                    if decision.action is Action.REFRESH_AUTH and not refreshed:
                        refreshed = True
                        if await self._auth.refresh():
                            raise _Retryable(Decision(Action.RETRY, 0.0, "token refreshed"), None)
                    if decision.action in (Action.RETRY, Action.WAIT):
                        raise _Retryable(decision, response)
                    raise _final_error(decision, response)
        except _Retryable as exhausted:
            raise CrmUnavailable(
                f"{method} {endpoint} still failing after {self._retry.max_attempts} attempts: "
                f"{exhausted.decision.reason}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _count(self, endpoint: str, status: int) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        if self._on_response is not None:
            self._on_response(endpoint, status)


def _final_error(decision: Decision, response: httpx.Response) -> Exception:
    body: object
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    message = body.get("message") if isinstance(body, dict) else None
    detail = f"{decision.reason}: {message}" if message else decision.reason
    if decision.action is Action.STOP_DAILY:
        return DailyLimitReached(detail)
    if decision.action is Action.REFRESH_AUTH or response.status_code in (401, 403):
        return AuthError(detail)
    return CrmRequestError(detail, status=response.status_code, body=body)


__all__ = [
    "ERROR_POLICY",
    "Action",
    "ApiClient",
    "Authenticator",
    "Decision",
    "Limit",
    "RateLimiter",
    "RetryPolicy",
    "default_classify",
]
