"""Everything a Salesforce sandbox can be told at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from connectors.salesforce.sandbox.faults import FaultConfig
from connectors.salesforce.sandbox.outbound import check_url
from connectors.salesforce.sandbox.schema import OrgSettings

DEVELOPER_EDITION_DAILY_CALLS = 15_000


@dataclass
class SandboxConfig:
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    cert_dir: Path | None = None  # ca.pem, credentials.json, jwt-key.pem (None: a temp folder)
    contacts: int = 0  # people to generate (Leads and Contacts) when no members are given
    seed: int = 0
    latency_ms: int = 0
    daily_api_limit: int = DEVELOPER_EDITION_DAILY_CALLS
    session_ttl_seconds: int = 7_200  # Salesforce's default session time-out: 2 hours
    concurrent_long_requests: int = 25  # production orgs' ConcurrentPerOrgLongTxn
    long_request_seconds: float = 20.0
    org_id: str = "00D5e0000000001EAA"
    client_id: str = "3MVG9sandboxGlengarryConsumerKey"
    client_secret: str = "sandbox-consumer-secret"  # noqa: S105 - a known test value
    username: str = "integration@glengarry-sandbox.example"
    faults: FaultConfig = field(default_factory=FaultConfig)
    # The org's settings (schema.OrgSettings): multi-currency (Opportunity.CurrencyIsoCode),
    # its corporate currency, and the Feedback Management licence (the survey objects).
    multi_currency: bool = False
    currency: str = "USD"
    feedback_management: bool = True
    # Outbound Messages (outbound.py, outbox.py): at start, Lead and Contact messages to this URL.
    outbound_url: str | None = None
    outbound_send_session_id: bool = False
    outbound_skip_integration_user: bool = True
    outbound_backoff_seconds: float = 1.0  # the first retry's wait; doubles on each failure
    outbound_max_backoff_seconds: float = 7_200.0  # Salesforce's "at most two hours"
    outbound_timeout_seconds: float = 60.0  # Salesforce's time-out for one delivery
    outbound_batch_window_seconds: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in ("contacts", "latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("daily_api_limit", "session_ttl_seconds", "concurrent_long_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.long_request_seconds <= 0:
            raise ValueError("long_request_seconds must be positive")
        if self.outbound_url is not None:
            check_url(self.outbound_url)
        for name in ("outbound_backoff_seconds", "outbound_max_backoff_seconds",
                     "outbound_timeout_seconds"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.outbound_batch_window_seconds < 0:
            raise ValueError("outbound_batch_window_seconds must not be negative")
        _ = self.org_settings  # a currency that is no ISO code is refused here

    @property
    def org_settings(self) -> OrgSettings:
        return OrgSettings(
            multi_currency=self.multi_currency,
            currency=self.currency,
            feedback_management=self.feedback_management,
        )
