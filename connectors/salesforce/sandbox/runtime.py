"""Everything the routes and the gateway share: the store, sessions, limits, faults, counts,
holds and query locators."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from connectors.salesforce.sandbox.catalog import OrgCatalog
from connectors.salesforce.sandbox.config import SandboxConfig
from connectors.salesforce.sandbox.faults import Faults
from connectors.salesforce.sandbox.limits import Allocation, LongRequests
from connectors.salesforce.sandbox.oauth import ConnectedApp, Sessions, TokenEndpoint
from connectors.salesforce.sandbox.outbound import DEFAULT_OBJECTS
from connectors.salesforce.sandbox.outbox import Outbox, OutboxSettings
from connectors.salesforce.sandbox.permissions import Access
from connectors.salesforce.sandbox.query import Cursors
from connectors.salesforce.sandbox.schema import SURVEY_OBJECTS
from connectors.salesforce.sandbox.store import Store
from connectors.salesforce.sandbox.values import to_json
from connectors.salesforce.sandbox.writes import Faults as WriteFaults
from connectors.salesforce.sandbox.writes import Writer
from connectors.sandbox_kit import CallStats, DumpRecord, Holds

# What `query` may read: the CRM objects, the Organization and the permission objects (Setup's
# others are not); the survey objects where the org has them (Feedback Management).
QUERYABLE = (
    "Lead",
    "Contact",
    "Account",
    "Opportunity",
    "OpportunityContactRole",
    "Case",
    *SURVEY_OBJECTS,
    "Campaign",
    "CampaignMember",
    "Task",
    "Event",
    "Organization",
    "User",
    "PermissionSet",
    "ObjectPermissions",
    "FieldPermissions",
    "PermissionSetAssignment",
)


@dataclass
class Runtime:
    config: SandboxConfig
    store: Store
    sessions: Sessions
    tokens: TokenEndpoint
    allocation: Allocation
    long_requests: LongRequests
    faults: Faults
    access: Access
    catalog: OrgCatalog
    writer: Writer
    cursors: Cursors
    outbox: Outbox
    stats: CallStats = field(default_factory=lambda: CallStats(limited_statuses=()))
    holds: Holds = field(default_factory=Holds)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def build(
        cls,
        config: SandboxConfig,
        store: Store,
        app: ConnectedApp,
        instance_url: str,
        endpoints: Iterable[str] = (),
    ) -> Runtime:
        fault_config = config.faults
        if config.latency_ms and not fault_config.latency_ms:
            fault_config = replace(fault_config, latency_ms=config.latency_ms)
        faults = Faults(fault_config)
        sessions = Sessions(store.clock, config.session_ttl_seconds)
        access = Access(store)
        tokens = TokenEndpoint(app, sessions, org_id=config.org_id, instance_url=instance_url)
        runtime = cls(
            config=config,
            store=store,
            sessions=sessions,
            tokens=tokens,
            allocation=Allocation(config.daily_api_limit, store.clock.timestamp),
            long_requests=LongRequests(
                config.concurrent_long_requests, config.long_request_seconds
            ),
            faults=faults,
            access=access,
            catalog=OrgCatalog(store, access, QUERYABLE),
            writer=Writer(store, access, WriteFaults(faults.lock_row, faults.validation)),
            cursors=Cursors(store.clock),
            outbox=_outbox(config, store, app, tokens, sessions),
            holds=Holds(endpoints),
            rng=random.Random(config.seed),  # noqa: S311 - simulation, not security
        )
        store.subscribe(runtime.outbox.on_saved)
        return runtime

    def stats_json(self) -> dict[str, Any]:
        return {
            **self.stats.snapshot(),
            "api_usage": {"used": self.allocation.used(), "max": self.allocation.maximum},
            "long_running": self.long_requests.long_running(),
            "held": self.holds.snapshot(),
            "outbound": self.outbox.stats(),
        }

    def dump(self) -> list[DumpRecord]:
        """Every live Lead's and Contact's Glengarry_*__c values (for drift checks). A
        converted Lead is not live: it is read-only from its conversion on, its values frozen
        at whatever was written before it, and its person is its Contact now."""
        records: list[DumpRecord] = []
        for sobject in ("Lead", "Contact"):
            for record in self.store.records(sobject):
                if record.get("IsConverted"):
                    continue
                fields = {
                    name: value
                    for name, value in record.values.items()
                    if name.startswith("Glengarry_") and name.endswith("__c")
                }
                records.append(DumpRecord(sobject, record.id, _json_values(fields)))
        return records


def _outbox(
    config: SandboxConfig,
    store: Store,
    app: ConnectedApp,
    tokens: TokenEndpoint,
    sessions: Sessions,
) -> Outbox:
    """The outbound message queue; with `outbound_url`, Lead and Contact messages from the start."""
    outbox = Outbox(
        store,
        organization_id=config.org_id,
        integration_user=app.run_as,
        instance_url=lambda: tokens.instance_url,
        session_id=lambda: sessions.open(config.org_id, app.run_as).token,
        settings=OutboxSettings(
            backoff_seconds=config.outbound_backoff_seconds,
            max_backoff_seconds=config.outbound_max_backoff_seconds,
            timeout_seconds=config.outbound_timeout_seconds,
            batch_window_seconds=config.outbound_batch_window_seconds,
            send_session_id=config.outbound_send_session_id,
            skip_integration_user=config.outbound_skip_integration_user,
        ),
    )
    if config.outbound_url is not None:
        outbox.configure(DEFAULT_OBJECTS, config.outbound_url)
    return outbox


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: to_json(value) for name, value in values.items()}


def runtime_of(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.sandbox)


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
