"""`SandboxServer`: the sandbox app served by uvicorn in a thread on 127.0.0.1.

with SandboxServer(SandboxConfig(contacts=200, seed=7)) as sandbox:
    client = httpx.Client(base_url=sandbox.base_url)
    ...
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from connectors.hubspot.sandbox.app import create_app
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.runtime import Runtime
from connectors.hubspot.sandbox.seed import seed
from connectors.hubspot.sandbox.store import Store
from connectors.sandbox_kit import (
    POPULATION_DAYS,
    SandboxError,
    SeedMember,
    ServerThread,
    generated_members,
)


class SandboxServer:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        store: Store | None = None,
        members: Iterable[SeedMember] | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.config = config or SandboxConfig()
        self.store = store or Store(search_lag_seconds=self.config.search_lag_seconds)
        self.ids: dict[str, str] = {}  # population id -> HubSpot id
        if members is not None:
            self.ids = seed(self.store, members)
        elif self.config.contacts > 0:
            self.ids = seed(self.store, generated_members(self.config.contacts, self.config.seed))
        self.app = create_app(self.config, self.store)
        self.runtime: Runtime = self.app.state.sandbox
        self._thread = ServerThread(
            self.app,
            label="the HubSpot sandbox",
            host=self.config.host,
            port=self.config.port,
            startup_timeout=startup_timeout,
        )

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def base_url(self) -> str:
        return self._thread.base_url

    def start(self) -> SandboxServer:
        self.runtime.start()
        try:
            self._thread.start()
        except SandboxError:
            self.runtime.stop()
            raise
        return self

    def stop(self) -> None:
        self._thread.stop()
        self.runtime.stop()

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats_json()

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        webhooks = self.runtime.webhooks
        return webhooks.flush(timeout) if webhooks is not None else True

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["POPULATION_DAYS", "SandboxConfig", "SandboxError", "SandboxServer", "generated_members"]
