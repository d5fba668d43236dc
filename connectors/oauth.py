"""OAuth 2 access tokens for any CRM: one refresh at a time, retried while the token endpoint
is unwell, permanent only when the grant itself is refused.

A connector supplies how to ask its token endpoint (`TokenRequest`: HubSpot's refresh-token
grant, Salesforce's refresh token or JWT login); `OAuthSession` keeps the token valid: it
refreshes shortly before expiry and after a 401 (the shared client asks once per request, then
repeats the request), and concurrent callers wait for the one refresh in flight instead of
starting their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors.errors import AuthError, TokenEndpointUnavailable
from connectors.http import Action, RetryPolicy, Sleep, transport_decision

# Token-endpoint answers that fix themselves: the server's trouble, or too many calls.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
TOKEN_RETRY = RetryPolicy(max_attempts=5, backoff_initial=0.5, backoff_max=30.0)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_at: datetime | None = None  # None: valid until the CRM refuses it


TokenRequest = Callable[[], Awaitable[AccessToken]]


class TokenEndpointTrouble(Exception):
    """The token endpoint failed in a way worth another attempt (5xx, 429, no answer)."""


def token_failure(response: httpx.Response, what: str) -> Exception:
    """What a non-2xx answer of a token endpoint means: trouble to retry, or a refusal.

    OAuth servers answer a revoked or expired grant with 400 (`invalid_grant`) and a bad client
    with 400/401 (`invalid_client`): those stay refused, whatever the number of attempts."""
    status = response.status_code
    if status in TRANSIENT_STATUSES or status >= 500:
        return TokenEndpointTrouble(f"{what} answered HTTP {status}")
    error = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or body.get("status") or "")
        detail = str(body.get("error_description") or body.get("message") or "")
        error = f"{error}: {detail}" if error and detail else error or detail
    named = f" ({error})" if error else ""
    return AuthError(f"{what} refused the grant (HTTP {status}{named}): reconnect the app")


class OAuthSession:
    """An `Authenticator` (connectors.http) holding one OAuth access token."""

    EARLY = timedelta(seconds=60)  # refresh a minute early: in-flight requests stay valid

    def __init__(
        self,
        request_token: TokenRequest,
        *,
        now: Callable[[], datetime],
        what: str = "the token endpoint",
        token: AccessToken | None = None,
        retry: RetryPolicy = TOKEN_RETRY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._request_token = request_token
        self._now = now
        self._what = what
        self._token = token
        self._retry = retry
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.requests = 0  # token requests made, retries included

    def _fresh(self, token: AccessToken | None) -> bool:
        if token is None:
            return False
        return token.expires_at is None or token.expires_at - self.EARLY > self._now()

    async def headers(self) -> Mapping[str, str]:
        token = self._token
        if not self._fresh(token):
            token = await self._renew(stale=token)
        assert token is not None
        return {"Authorization": f"Bearer {token.value}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """After a 401: a new token, unless another request already replaced the refused one."""
        sent = rejected.get("Authorization", "").removeprefix("Bearer ")
        current = self._token
        await self._renew(stale=current if current is None or current.value == sent else None)
        return True

    async def _renew(self, *, stale: AccessToken | None) -> AccessToken:
        async with self._lock:
            # Checked again under the lock: whoever waited here behind a refresh uses its token.
            current = self._token
            if current is not None and current is not stale:
                return current
            self._token = await self._request_with_retries()
            return self._token

    async def _request_with_retries(self) -> AccessToken:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=wait_exponential_jitter(
                multiplier=self._retry.backoff_initial,
                max=self._retry.backoff_max,
                jitter=self._retry.backoff_initial,
            ),
            retry=retry_if_exception(_worth_retrying),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    self.requests += 1
                    return await self._request_token()
        except TokenEndpointTrouble as exc:
            raise TokenEndpointUnavailable(
                f"{exc} on all {self._retry.max_attempts} attempts (the connection is kept; "
                "it is tried again later)"
            ) from None
        except httpx.TransportError as exc:
            raise TokenEndpointUnavailable(
                f"{self._what}: {transport_decision(exc).reason}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")


def _worth_retrying(exc: BaseException) -> bool:
    if isinstance(exc, TokenEndpointTrouble):
        return True
    # No answer is worth another attempt, except from a host name that does not resolve.
    return isinstance(exc, httpx.TransportError) and (
        transport_decision(exc).action is not Action.FAIL
    )


__all__ = [
    "TOKEN_RETRY",
    "TRANSIENT_STATUSES",
    "AccessToken",
    "OAuthSession",
    "TokenEndpointTrouble",
    "TokenRequest",
    "token_failure",
]
