"""Connector errors: one base, each saying what the caller should do."""

from __future__ import annotations

from datetime import datetime, timedelta


class ConnectorError(Exception):
    """A CRM call failed in a way retries did not fix."""


class AuthError(ConnectorError):
    """The CRM refused the credentials (after a token refresh, where there is one)."""


class PermissionDenied(AuthError):
    """A 403: the credentials are good but lack a permission for this call (a scope the token
    was not granted, a product the account is not licensed for). `body` is the CRM's answer."""

    def __init__(self, message: str, *, body: object = None) -> None:
        super().__init__(message)
        self.body = body


class RateLimited(ConnectorError):
    """A 429 the caller may wait out; `retry_after` in seconds."""

    def __init__(self, message: str, *, policy: str, retry_after: float) -> None:
        super().__init__(message)
        self.policy = policy
        self.retry_after = retry_after


class AllocationSpent(ConnectorError):
    """A daily allocation of API calls is spent: the run pauses cleanly. `resumes_at` is when
    calls may start again, where the connector can tell (None: it cannot)."""

    def __init__(self, message: str, *, resumes_at: datetime | None = None) -> None:
        super().__init__(message)
        self.resumes_at = resumes_at

    def retry_at(self, now: datetime, at_most: timedelta) -> datetime:
        """When work refused for it is tried again: when calls free up, where the connector
        can tell, and at the latest `at_most` from now (a CRM's rolling or time-zoned day
        cannot tell; a share of the allocation raised meanwhile is followed within it)."""
        latest = now + at_most
        return latest if self.resumes_at is None else min(self.resumes_at, latest)


class DailyLimitReached(AllocationSpent):
    """The CRM's daily allocation is spent: stop the run cleanly and resume another day."""


class BudgetExhausted(AllocationSpent):
    """This connection's share of the daily allocation is spent: pause cleanly."""


class CrmUnavailable(ConnectorError):
    """5xx or time-outs outlasted the retries."""


class TokenEndpointUnavailable(CrmUnavailable):
    """The OAuth token endpoint failed (5xx, 429, no answer) on every attempt: no login, so no
    request of the caller's was sent, and nothing it asked is at fault; the grant itself is not
    in question (a refused one is an `AuthError`). The work waits for the endpoint, uncharged."""


class CrmRequestError(ConnectorError):
    """The CRM refused a request as invalid (4xx other than auth and rate limits)."""

    def __init__(self, message: str, *, status: int, body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class SignatureError(ConnectorError):
    """A webhook delivery is unsigned, wrongly signed or stale.

    `reason` is one of a few fixed words (missing, malformed, stale, mismatch), fit for a metric
    label; the message says more, for a log line, and never echoes the request's headers.
    """

    def __init__(self, message: str, *, reason: str = "mismatch") -> None:
        super().__init__(message)
        self.reason = reason


class WebhookPayloadError(ConnectorError):
    """A webhook body is not what the CRM sends."""


class CrmResponseError(ConnectorError):
    """The CRM answered 2xx with a body that is not what its API documents."""
