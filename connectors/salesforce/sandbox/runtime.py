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
from connectors.salesforce.sandbox.permissions import Access
from connectors.salesforce.sandbox.query import Cursors
from connectors.salesforce.sandbox.store import Store
from connectors.salesforce.sandbox.values import to_json
from connectors.salesforce.sandbox.writes import Faults as WriteFaults
from connectors.salesforce.sandbox.writes import Writer
from connectors.sandbox_kit import CallStats, DumpRecord, Holds

# What `query` may read: the CRM objects and the permission objects (Setup's others are not).
QUERYABLE = (
    "Lead",
    "Contact",
    "Account",
    "Opportunity",
    "Campaign",
    "CampaignMember",
    "Task",
    "Event",
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
        return cls(
            config=config,
            store=store,
            sessions=sessions,
            tokens=TokenEndpoint(app, sessions, org_id=config.org_id, instance_url=instance_url),
            allocation=Allocation(config.daily_api_limit, store.clock.timestamp),
            long_requests=LongRequests(
                config.concurrent_long_requests, config.long_request_seconds
            ),
            faults=faults,
            access=access,
            catalog=OrgCatalog(store, access, QUERYABLE),
            writer=Writer(store, access, WriteFaults(faults.lock_row, faults.validation)),
            cursors=Cursors(store.clock),
            holds=Holds(endpoints),
            rng=random.Random(config.seed),  # noqa: S311 - simulation, not security
        )

    def stats_json(self) -> dict[str, Any]:
        return {
            **self.stats.snapshot(),
            "api_usage": {"used": self.allocation.used(), "max": self.allocation.maximum},
            "long_running": self.long_requests.long_running(),
            "held": self.holds.snapshot(),
        }

    def dump(self) -> list[DumpRecord]:
        """Every live Lead's and Contact's Glengarry_*__c values (for drift checks)."""
        records: list[DumpRecord] = []
        for sobject in ("Lead", "Contact"):
            for record in self.store.records(sobject):
                fields = {
                    name: value
                    for name, value in record.values.items()
                    if name.startswith("Glengarry_") and name.endswith("__c")
                }
                records.append(DumpRecord(sobject, record.id, _json_values(fields)))
        return records


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: to_json(value) for name, value in values.items()}


def runtime_of(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.sandbox)


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
