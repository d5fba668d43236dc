"""The huey queue: wakes jobs and runs the schedules. It is a signal, never the record.

Embedded default: `SqliteHuey` in its own file, consumed inside `glengarry serve`. Scaled:
`RedisHuey`, consumed by any number of `glengarry worker` processes. huey can lose a task whose
worker dies; the tables keep the work, and the sweeper wakes it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy import select

from app.logging import bound, get_logger
from app.models import Connection
from app.runtime import Runtime
from app.settings import Settings
from app.worker import jobs, loop

log = get_logger(__name__)
T = TypeVar("T")


async def _job(name: str, work: Coroutine[Any, Any, T]) -> T:
    """Every log line of a job carries its name and a job id (bound inside the job's loop)."""
    with bound(job=name, job_id=uuid.uuid4().hex[:12]):
        return await work


def build_huey(settings: Settings, name: str = "glengarry") -> Huey:
    if settings.queue_url:
        return RedisHuey(name, url=settings.queue_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    queue_file = str(settings.data_dir / "queue.db")
    return SqliteHuey(name, filename=queue_file, results=False, fsync=False)


class Tasks:
    """The jobs as huey tasks and schedules, bound to one process runtime."""

    def __init__(self, huey: Huey, runtime: Callable[[], Runtime]) -> None:
        self.huey = huey
        settings = runtime().settings

        @huey.task(name="process_inbox")
        def process_inbox(connection_id: int) -> None:
            loop.run(_job("process_inbox", jobs.process_inbox(runtime(), connection_id)))

        @huey.task(name="relay")
        def relay(connection_id: int) -> None:
            loop.run(_job("relay", jobs.relay(runtime(), connection_id)))

        @huey.task(name="incremental_sync")
        def incremental_sync(connection_id: int, full: bool = False) -> None:
            loop.run(
                _job("incremental_sync", jobs.incremental_sync(runtime(), connection_id, full))
            )

        @huey.task(name="decay")
        def decay(connection_id: int) -> None:
            loop.run(_job("decay", jobs.decay(runtime(), connection_id)))

        @huey.task(name="rescore_all")
        def rescore_all() -> None:
            loop.run(_job("rescore_all", jobs.rescore_all(runtime())))

        @huey.periodic_task(crontab(minute=f"*/{settings.sync_interval_minutes}"), name="sync_all")
        def sync_all() -> None:
            for connection_id in _connections(runtime()):
                incremental_sync(connection_id)

        @huey.periodic_task(
            crontab(minute=f"*/{settings.decay_interval_minutes}"), name="decay_all"
        )
        def decay_all() -> None:
            for connection_id in _connections(runtime()):
                decay(connection_id)

        @huey.periodic_task(crontab(minute="*"), name="sweep")
        def sweep() -> None:
            jobs.sweep(runtime())

        @huey.periodic_task(crontab(minute="7", hour="4"), name="capacity")
        def capacity() -> None:
            # daily: a bar sized to weekly capacity, sticky within its margin
            loop.run(_job("recompute_capacity", jobs.recompute_capacity(runtime())))

        @huey.periodic_task(crontab(minute="17", hour="3"), name="prune_inbox")
        def prune() -> None:
            jobs.prune_inbox(runtime())

        self.process_inbox: Any = process_inbox
        self.relay: Any = relay
        self.rescore_all: Any = rescore_all
        self.incremental_sync: Any = incremental_sync
        self._coalesce = settings.webhook_coalesce_ms / 1000

    def inbox(self, connection_id: int) -> None:
        # A short delay lets a burst of deliveries gather: one claim, a few batch reads.
        self.process_inbox.schedule((connection_id,), delay=self._coalesce)

    def relay_now(self, connection_id: int) -> None:
        self.relay(connection_id)


class HueyWaker:
    """The runtime's `Waker`, through the queue."""

    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks

    def inbox(self, connection_id: int) -> None:
        self._tasks.inbox(connection_id)

    def relay(self, connection_id: int) -> None:
        self._tasks.relay_now(connection_id)

    def sync(self, connection_id: int, full: bool) -> None:
        self._tasks.incremental_sync(connection_id, full)


def _connections(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Connection.id).order_by(Connection.id)))


class EmbeddedConsumer(Consumer):
    """A consumer running beside the web server: the server owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        return None


def consumer(huey: Huey, settings: Settings, *, embedded: bool) -> Consumer:
    options: dict[str, Any] = {
        "workers": settings.worker_threads,
        "worker_type": "thread",
        "periodic": True,
        "initial_delay": 0.05,
        "max_delay": 0.25,  # the SQLite queue is polled: keep the wake-up latency short
        "backoff": 1.5,
    }
    return EmbeddedConsumer(huey, **options) if embedded else Consumer(huey, **options)


def ping(huey: Huey) -> None:
    """Raise when the queue's storage cannot be reached (for /readyz)."""
    huey.pending_count()
