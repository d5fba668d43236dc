"""What a running process shares: settings, the database, the clock; built once, passed down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock, SystemClock
from app.db import engine_from_settings, session_factory
from app.migrate import ensure_current
from app.settings import Settings
from app.vault import Vault


class Waker(Protocol):
    """Wakes the workers: the durable truth is in the tables, this only says 'look now' (or
    'look in `delay` seconds'; None: the waker's default)."""

    def inbox(self, connection_id: int, delay: float | None = None) -> None: ...

    def relay(self, connection_id: int, delay: float | None = None) -> None: ...

    def sync(self, connection_id: int, full: bool) -> None: ...

    def sync_run(self, connection_id: int, run_id: int) -> None: ...

    def rescore_all(self) -> None: ...


class NoWaker:
    """For one-shot commands: nothing listens, the schedules and sweeper pick the work up."""

    def inbox(self, connection_id: int, delay: float | None = None) -> None:
        return None

    def relay(self, connection_id: int, delay: float | None = None) -> None:
        return None

    def sync(self, connection_id: int, full: bool) -> None:
        return None

    def sync_run(self, connection_id: int, run_id: int) -> None:
        return None

    def rescore_all(self) -> None:
        return None


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    vault: Vault
    clock: Clock = field(default_factory=SystemClock)
    wake: Waker = field(default_factory=NoWaker)
    # Rate limiters per connection, shared by every job of the process (see app.ratelimits).
    limiters: dict[Any, Any] = field(default_factory=dict)
    # Raises when the queue cannot be reached; None where the process has no queue.
    queue_ping: Callable[[], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        engine = engine_from_settings(settings)
        # The embedded default migrates itself; a configured database is upgraded by an operator.
        ensure_current(engine, auto_upgrade=settings.database_url is None)
        # Loading the vault first generates the key on a first run, before anything is stored.
        vault = Vault.from_settings(settings)
        return cls(settings, engine, session_factory(engine), vault, clock or SystemClock())
