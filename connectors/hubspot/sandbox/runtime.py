"""Everything the routes share: the store, tokens, limits, faults, counts, holds and webhooks."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.errors import missing_scopes
from connectors.hubspot.sandbox.faults import Faults
from connectors.hubspot.sandbox.properties import READ_SCOPES
from connectors.hubspot.sandbox.ratelimit import SandboxRateLimiter
from connectors.hubspot.sandbox.store import Change, Store
from connectors.hubspot.sandbox.tokens import Tokens
from connectors.hubspot.sandbox.webhooks import EventFactory, WebhookDispatcher
from connectors.sandbox_kit import CallStats, DumpRecord, Holds


@dataclass
class Runtime:
    config: SandboxConfig
    store: Store
    tokens: Tokens
    limiter: SandboxRateLimiter
    faults: Faults
    stats: CallStats = field(default_factory=CallStats)
    holds: Holds = field(default_factory=Holds)
    events: EventFactory | None = None
    webhooks: WebhookDispatcher | None = None
    rng: random.Random = field(default_factory=random.Random)
    # The last search query's ordered matches, by store revision (paging reuses them).
    search_cache: dict[str, tuple[int, list[Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, config: SandboxConfig, store: Store, endpoints: Iterable[str] = ()) -> Runtime:
        faults = config.faults
        if config.latency_ms and not faults.latency_ms:
            faults = replace(faults, latency_ms=config.latency_ms)
        runtime = cls(
            config=config,
            store=store,
            tokens=Tokens(
                private_token=config.token,
                client_id=config.client_id,
                client_secret=config.client_secret,
                refresh_tokens=config.refresh_tokens,
                ttl_seconds=config.access_token_ttl_seconds,
            ),
            limiter=SandboxRateLimiter(
                config.profile, group=f"publicapi:private-app:{config.app_id}:{config.portal_id}"
            ),
            faults=Faults(faults),
            holds=Holds(endpoints),
            rng=random.Random(config.seed),  # noqa: S311 - simulation, not security
        )
        if config.webhook_url:
            runtime.events = EventFactory(
                portal_id=config.portal_id,
                app_id=config.app_id,
                subscribed_properties=config.subscribed_properties,
            )
            runtime.webhooks = WebhookDispatcher(
                config.webhook_url,
                config.client_secret,
                backoff_seconds=config.webhook_backoff_seconds,
                max_attempts=config.webhook_max_attempts,
                batch_window_seconds=config.webhook_batch_window_seconds,
            )
            store.subscribe(runtime.on_change)
        return runtime

    def on_change(self, change: Change) -> None:
        if self.events is None or self.webhooks is None:
            return
        event = self.events.event(change)
        if event is not None:
            self.webhooks.enqueue(event)

    def require_read(self, *object_types: str) -> None:
        """Refuse, as HubSpot does, a read of a type whose scope the token lacks."""
        granted = self.config.scopes
        if granted is None:
            return
        lacking = [
            scope
            for scope in dict.fromkeys(READ_SCOPES.get(t, "") for t in object_types)
            if scope and scope not in granted
        ]
        if lacking:
            raise missing_scopes(lacking)

    def start(self) -> None:
        if self.webhooks is not None:
            self.webhooks.start()

    def stop(self) -> None:
        self.store.unsubscribe(self.on_change)
        if self.webhooks is not None:
            self.webhooks.stop()

    def stats_json(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot()
        webhooks = (
            self.webhooks.stats()
            if self.webhooks is not None
            else {"delivered": 0, "failed_attempts": 0, "pending": 0, "dropped": 0}
        )
        return {**snapshot, "webhooks": webhooks, "held": self.holds.snapshot()}

    def dump(self) -> list[DumpRecord]:
        """Every live contact's `glengarry_*` values (for drift checks)."""
        return [
            DumpRecord(
                "contacts",
                obj.id,
                {k: v for k, v in obj.properties.items() if k.startswith("glengarry_")},
            )
            for obj in self.store.all("contacts")
        ]


def runtime_of(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.sandbox)


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
