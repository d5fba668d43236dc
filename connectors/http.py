"""The HTTP client every connector shares: rate limits, retries with backoff, usage counts.

What a response means is data (`ERROR_POLICY`: status -> action), not `if` chains; a connector
refines it through `classify` (HubSpot reads `policyName` from its 429 bodies, for instance) and
reads its vendor's rate-limit headers through `pace` (HubSpot's `X-HubSpot-RateLimit-*`;
Salesforce's `Sforce-Limit-Info` plugs in the same way).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
import structlog
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
    AllocationSpent,
    AuthError,
    CrmRequestError,
    CrmUnavailable,
    DailyLimitReached,
    PermissionDenied,
)

Sleep = Callable[[float], Awaitable[None]]
# The spacing between the account's next calls, read from a response's rate-limit headers, in
# seconds: 0 when plenty remains, None when the response says nothing about it. Each connector
# supplies its vendor's reading.
Pacing = Callable[[httpx.Response], float | None]
log = structlog.stdlib.get_logger(__name__)


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


def no_pacing(_: httpx.Response) -> float | None:
    return None


class Authenticator(Protocol):
    async def headers(self) -> Mapping[str, str]: ...

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """Get a new credential after a 401 answered a request sent with the `rejected`
        headers (unless another request already replaced it); False when there is no way to."""
        ...


class UsageRecorder(Protocol):
    def __call__(self, endpoint: str, status: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Limit:
    """One rate limit of a bucket, and what happens when it is spent."""

    rate: str  # in `limits` notation, e.g. "190/10 seconds"
    exhausted: type[AllocationSpent] | None = None  # None: wait for the window; else raise it
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
    SETTLE: ClassVar[float] = 1.0

    def __post_init__(self) -> None:
        self._strategy = MovingWindowRateLimiter(self.storage)
        self._preloaded: set[str] = set()
        self._held: dict[str, float] = {}  # account -> clock time before which no call starts
        # account -> (seconds between call starts, when the headers said so)
        self._spacing: dict[str, tuple[float, float]] = {}
        self._last_start: dict[str, float] = {}  # account -> when its latest call started

    def hold(self, account: str, seconds: float) -> None:
        """No call of `account` starts in the next `seconds` (a 429 said how long)."""
        until = self.clock() + seconds
        if until > self._held.get(account, 0.0):
            self._held[account] = until

    def space(self, account: str, seconds: float) -> None:
        """From now on, calls of `account` start at least `seconds` apart (0: not spaced).

        Spaced, not held: when a hold ends every waiting call would start at once, and a
        nearly spent window is what must not be rushed. Answers to concurrent calls arrive in
        any order: within `SETTLE` seconds of a wider spacing, a narrower one is older news."""
        now = self.clock()
        current, since = self._spacing.get(account, (0.0, now - self.SETTLE))
        if seconds >= current or now - since >= self.SETTLE:
            self._spacing[account] = (seconds, now)

    async def _spaced(self, account: str) -> None:
        # Checked again every quarter second: the spacing may have grown or gone meanwhile,
        # and of the callers waking together only the first starts.
        while True:
            now = self.clock()
            spacing = self._spacing.get(account, (0.0, 0.0))[0]
            start = self._last_start.get(account, now - spacing) + spacing
            if start <= now:
                self._last_start[account] = now
                return
            await self.sleep(min(start - now, 0.25))

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
        await self._spaced(account)
        while True:
            waiting = self._held.get(account, 0.0) - self.clock()
            for limit in limits:
                scope = limit.scope or bucket
                if not await self._strategy.test(limit.item, account, scope):
                    if limit.exhausted is not None:
                        raise await self._spent(limit, account, scope)
                    stats = await self._strategy.get_window_stats(limit.item, account, scope)
                    waiting = max(waiting, stats.reset_time - self.clock())
            if waiting <= 0 and await self._take(account, bucket, limits):
                return
            await self.sleep(min(max(waiting, 0.0), 10.0) + 0.01)

    async def _take(self, account: str, bucket: str, limits: Sequence[Limit]) -> bool:
        """Count the call in every window. `hit` is atomic (a Lua script on Redis) where
        test-then-hit is not: another process may have taken the last slot meanwhile."""
        for limit in limits:
            scope = limit.scope or bucket
            if not await self._strategy.hit(limit.item, account, scope):
                if limit.exhausted is not None:
                    raise await self._spent(limit, account, scope)
                return False
        return True

    async def _spent(self, limit: Limit, account: str, scope: str) -> AllocationSpent:
        """The budget's error, saying when its window frees a call again (the oldest call of
        the moving window ages out then)."""
        assert limit.exhausted is not None
        stats = await self._strategy.get_window_stats(limit.item, account, scope)
        # `limits` counts in wall-clock seconds, whatever `self.clock` is.
        frees = datetime.fromtimestamp(stats.reset_time, UTC) if stats.reset_time > 0 else None
        return limit.exhausted(f"{scope} limit {limit.rate} reached", resumes_at=frees)


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
        pace: Pacing = no_pacing,
        on_response: UsageRecorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._timeout = timeout
        self._auth = auth
        self.account = account
        self._limiter = limiter
        self._retry = retry
        self._backoff = wait_exponential_jitter(
            multiplier=retry.backoff_initial, max=retry.backoff_max, jitter=retry.backoff_initial
        )
        self._classify = classify
        self._pace = pace
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
        """Send a request until it succeeds or fails for good; `endpoint` ("GET /path", the
        method included) names it in counts and messages."""
        refreshed = False
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=lambda state: _log_retry(endpoint, state),
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
                    except httpx.TransportError as exc:
                        self._count(endpoint, 0)
                        decision = transport_decision(exc, self._timeout)
                        if decision.action is Action.FAIL:
                            raise CrmUnavailable(f"{endpoint}: {decision.reason}") from None
                        raise _Retryable(decision, None) from exc
                    self._count(endpoint, response.status_code)
                    self._observe(response)
                    decision = self._classify(response)
                    if decision.action is Action.OK:
                        return response
                    if decision.action is Action.REFRESH_AUTH and not refreshed:
                        refreshed = True
                        if await self._auth.refresh(headers):
                            raise _Retryable(Decision(Action.RETRY, 0.0, "token refreshed"), None)
                    if decision.action is Action.WAIT and decision.retry_after:
                        # Every call of the account waits, not only this one's retry.
                        self._limiter.hold(self.account, decision.retry_after)
                    if decision.action in (Action.RETRY, Action.WAIT):
                        raise _Retryable(decision, response)
                    raise _final_error(endpoint, decision, response)
        except _Retryable as exhausted:
            raise CrmUnavailable(
                f"{endpoint} still failing after {self._retry.max_attempts} attempts: "
                f"{exhausted.decision.reason}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def judge(self, endpoint: str, response: httpx.Response) -> Decision:
        """What the policy makes of an answer that came inside another one (a Salesforce
        composite subrequest's): OK, or a transient action (retry, wait, refresh) returned for
        the caller to send the request again through `request`; a final one raises what
        `request` would have raised for that answer."""
        decision = self._classify(response)
        if decision.action in (Action.FAIL, Action.STOP_DAILY):
            raise _final_error(endpoint, decision, response)
        return decision

    def _observe(self, response: httpx.Response) -> None:
        spacing = self._pace(response)
        if spacing is not None:
            self._limiter.space(self.account, spacing)

    def _count(self, endpoint: str, status: int) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        if self._on_response is not None:
            self._on_response(endpoint, status)


def _log_retry(endpoint: str, state: RetryCallState) -> None:
    """One line per retry, so that a struggling CRM is never silence."""
    failure = state.outcome.exception() if state.outcome else None
    reason = failure.decision.reason if isinstance(failure, _Retryable) else repr(failure)
    delay = round(state.next_action.sleep, 2) if state.next_action else 0.0
    waiting = isinstance(failure, _Retryable) and failure.decision.action is Action.WAIT
    (log.info if waiting else log.warning)(
        "CRM request failed; retrying",
        endpoint=endpoint,
        reason=reason,
        attempt=state.attempt_number,
        retry_in_seconds=delay,
    )


def _host(request: httpx.Request | None) -> str:
    if request is None:
        return "the CRM"
    url = request.url
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.host if url.port in (None, default) else f"{url.host}:{url.port}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_decision(exc: httpx.TransportError, timeout: float | None = None) -> Decision:
    """What a request that got no answer means, said as such: refused, time-out or DNS."""
    try:
        host = _host(exc.request)
    except RuntimeError:  # an exception raised without its request
        host = "the CRM"
    causes = _causes(exc)
    within = f" within {timeout:g} s" if timeout else ""
    if isinstance(exc, httpx.ConnectTimeout):
        return Decision(Action.RETRY, None, f"no answer from {host} while connecting{within}")
    if isinstance(exc, httpx.TimeoutException):
        return Decision(
            Action.RETRY, None, f"{host} accepted the connection but did not answer{within}"
        )
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            # A name that does not exist will not start existing on the next attempt.
            permanent = cause.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
            action = Action.FAIL if permanent else Action.RETRY
            return Decision(action, None, f"cannot resolve {host} (DNS: {cause.strerror})")
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == (
            errno.ECONNREFUSED
        ):
            return Decision(Action.RETRY, None, f"{host} refused the connection")
    if isinstance(exc, httpx.ConnectError):
        return Decision(Action.RETRY, None, f"cannot connect to {host}: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return Decision(Action.RETRY, None, f"{host} closed the connection without an answer")
    return Decision(Action.RETRY, None, f"{host}: {type(exc).__name__}: {exc}")


def _final_error(endpoint: str, decision: Decision, response: httpx.Response) -> Exception:
    body: object
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    message = body.get("message") if isinstance(body, dict) else None
    detail = f"{endpoint}: {decision.reason}" + (f": {message}" if message else "")
    if decision.action is Action.STOP_DAILY:
        return DailyLimitReached(detail)
    if response.status_code == 403:
        return PermissionDenied(detail, body=body)
    if decision.action is Action.REFRESH_AUTH or response.status_code == 401:
        return AuthError(detail)
    return CrmRequestError(detail, status=response.status_code, body=body)


__all__ = [
    "ERROR_POLICY",
    "Action",
    "ApiClient",
    "Authenticator",
    "Decision",
    "Limit",
    "Pacing",
    "RateLimiter",
    "RetryPolicy",
    "default_classify",
    "no_pacing",
    "transport_decision",
]
