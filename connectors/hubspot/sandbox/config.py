"""Everything a sandbox can be told at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.hubspot.sandbox.faults import FaultConfig
from connectors.hubspot.sandbox.ratelimit import RateLimitProfile, profile_named


@dataclass
class SandboxConfig:
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    token: str = "sandbox-token"  # noqa: S105 - the private app's token, a known test value
    portal_id: int = 90_000_001
    app_id: int = 1_000_001
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a known test value
    # Refresh tokens the OAuth endpoint accepts besides those it issues itself.
    refresh_tokens: tuple[str, ...] = ("sandbox-refresh-token",)
    access_token_ttl_seconds: int = 1800
    webhook_url: str | None = None
    # propertyChange events are sent for these properties; None: every property.
    subscribed_properties: tuple[str, ...] | None = None
    webhook_backoff_seconds: float = 1.0
    webhook_max_attempts: int = 10
    webhook_batch_window_seconds: float = 0.05
    latency_ms: int = 0
    rate_limits: str | RateLimitProfile = "pro"
    search_lag_seconds: float = 0.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0  # the random generator of `simulate` and the generated population
    contacts: int = 0  # generate this many contacts at start-up (when a population exists)
    # Scopes the token was granted; None: every scope. A portal without Service Hub
    # Professional cannot grant crm.objects.feedback_submissions.read: leave it out.
    scopes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.profile  # noqa: B018 - validates the profile name early
        if self.access_token_ttl_seconds < 0:
            raise ValueError("access_token_ttl_seconds must not be negative")
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be at least 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")

    @property
    def profile(self) -> RateLimitProfile:
        if isinstance(self.rate_limits, RateLimitProfile):
            return self.rate_limits
        return profile_named(self.rate_limits)
