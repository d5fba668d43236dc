"""`SandboxServer`: the sandbox app served by uvicorn in a thread on 127.0.0.1.

with SandboxServer(SandboxConfig(contacts=200, seed=7)) as sandbox:
    client = httpx.Client(base_url=sandbox.base_url)
    ...
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from connectors.hubspot.sandbox.app import create_app
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.runtime import Runtime
from connectors.hubspot.sandbox.seed import SeedMember, seed
from connectors.hubspot.sandbox.store import Store

POPULATION_DAYS = 90


class SandboxError(RuntimeError):
    """The sandbox could not start."""


def generated_members(count: int, seed_value: int) -> Iterable[SeedMember]:
    """`count` members from the population generator (qualification.population)."""
    try:
        population = importlib.import_module("qualification.population")
    except ModuleNotFoundError:
        raise SandboxError(
            "no population generator (qualification.population) to make contacts from"
        ) from None
    end = datetime.now(UTC)
    members: Iterable[SeedMember] = population.generate_population(
        count, seed_value, end - timedelta(days=POPULATION_DAYS), end
    )
    return members


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
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> SandboxServer:
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=self.config.host,
                port=self.config.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._server = server
        self._thread = threading.Thread(target=server.run, name="hubspot-sandbox", daemon=True)
        self.runtime.start()
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError(
                    f"the HubSpot sandbox did not start on {self.config.host}:{self.config.port}"
                )
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._wait_until_answering(deadline)
        return self

    def _wait_until_answering(self, deadline: float) -> None:
        with httpx.Client(base_url=self.base_url, timeout=1.0) as http:
            while True:
                try:
                    if http.get("/_sandbox/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise SandboxError(f"the HubSpot sandbox at {self.base_url} does not answer")
                time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
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


__all__ = ["SandboxConfig", "SandboxError", "SandboxServer", "generated_members"]
