"""The huey queue: wakes jobs and runs the schedules. It is a signal, never the record.

Embedded default: `SqliteHuey` in its own file, consumed inside `glengarry serve`. Scaled:
`RedisHuey`, consumed by any number of `glengarry worker` processes. huey can lose a task whose
worker dies; the tables keep the work, and the sweeper wakes it again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer, ConsumerStopped
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.alerts import check_alerts
from app.errors import GlengarryError
from app.logging import bound, get_logger
from app.models import Connection
from app.runtime import Runtime
from app.settings import Settings
from app.worker import jobs, loop
from connectors.errors import ConnectorError

log = get_logger(__name__)
T = TypeVar("T")
# What an unreachable queue raises: Redis, or the embedded SQLite file.
QUEUE_ERRORS: tuple[type[Exception], ...] = (RedisError, sqlite3.Error, OSError)
# Failures a job reports in one line: the CRM, a credential, the database or the queue being
# unwell. Anything else is a bug and keeps huey's traceback.
EXPECTED = (GlengarryError, ConnectorError, OperationalError, RedisError)
JOB_STOP_SECONDS = 10.0  # how long a stop waits for cancelled jobs to release what they hold


class QueueUnreachable(GlengarryError):
    pass


async def _job(name: str, work: Coroutine[Any, Any, T]) -> T:
    """Every log line of a job carries its name and a job id (bound inside the job's loop)."""
    with bound(job=name, job_id=uuid.uuid4().hex[:12]):
        return await work


@contextmanager
def _reported(name: str) -> Iterator[None]:
    """A job's expected failures and a shutdown's stops in one line each, never a traceback:
    the tables keep the work, and the sweeper and schedules wake it again."""
    try:
        yield
    except (loop.JobsStopped, concurrent.futures.CancelledError):
        log.info("job stopped by the shutdown; its work is picked up again", job=name)
    except EXPECTED as exc:
        log.error("job failed", job=name, error=f"{type(exc).__name__}: {exc}")


def _run(name: str, work: Coroutine[Any, Any, Any]) -> None:
    with _reported(name):
        try:
            loop.run(_job(name, work))
        finally:
            # Not started when the process was stopping: closed, never left "never awaited".
            work.close()


def queue_label(settings: Settings) -> str:
    """Where the queue is, as it may be shown (no password)."""
    if not settings.queue_url:
        return str(settings.data_dir / "queue.db")
    url = urlsplit(settings.queue_url)
    if url.password is None:
        return settings.queue_url
    host = url.hostname or ""
    netloc = f"{url.username or ''}:***@{host}" + (f":{url.port}" if url.port else "")
    return urlunsplit(url._replace(netloc=netloc))


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
            _run("process_inbox", jobs.process_inbox(runtime(), connection_id))

        @huey.task(name="relay")
        def relay(connection_id: int) -> None:
            _run("relay", jobs.relay(runtime(), connection_id))

        @huey.task(name="incremental_sync")
        def incremental_sync(
            connection_id: int, full: bool = False, run_id: int | None = None
        ) -> None:
            _run("incremental_sync", jobs.incremental_sync(runtime(), connection_id, full, run_id))

        @huey.task(name="decay")
        def decay(connection_id: int) -> None:
            _run("decay", jobs.decay(runtime(), connection_id))

        @huey.task(name="rescore_all")
        def rescore_all() -> None:
            _run("rescore_all", jobs.rescore_all(runtime()))

        # Each minute: which connections are due is each one's own interval (or the default).
        @huey.periodic_task(crontab(minute="*"), name="sync_all")
        def sync_all() -> None:
            with _reported("sync_all"):
                for connection_id in jobs.due_syncs(runtime()):
                    incremental_sync(connection_id)

        @huey.periodic_task(
            crontab(minute=f"*/{settings.decay_interval_minutes}"), name="decay_all"
        )
        def decay_all() -> None:
            with _reported("decay_all"):
                for connection_id in _connections(runtime()):
                    decay(connection_id)

        @huey.periodic_task(crontab(minute="*"), name="sweep")
        def sweep() -> None:
            with _reported("sweep"):
                jobs.sweep(runtime())

        @huey.periodic_task(crontab(minute="7", hour="4"), name="capacity")
        def capacity() -> None:
            # daily: a bar sized to weekly capacity, sticky within its margin
            _run("recompute_capacity", jobs.recompute_capacity(runtime()))

        @huey.periodic_task(crontab(minute="*"), name="check_alerts")
        def alerts() -> None:
            with _reported("check_alerts"):
                check_alerts(runtime())

        @huey.periodic_task(crontab(minute="17", hour="3"), name="prune_inbox")
        def prune() -> None:
            with _reported("prune_inbox"):
                jobs.prune_inbox(runtime())

        self.process_inbox: Any = process_inbox
        self.relay: Any = relay
        self.rescore_all: Any = rescore_all
        self.incremental_sync: Any = incremental_sync
        self._coalesce = settings.webhook_coalesce_ms / 1000

    def inbox(self, connection_id: int, delay: float | None = None) -> None:
        # A short delay lets a burst of deliveries gather: one claim, a few batch reads.
        self.process_inbox.schedule(
            (connection_id,), delay=self._coalesce if delay is None else delay
        )

    def relay_later(self, connection_id: int, delay: float | None = None) -> None:
        if delay:
            self.relay.schedule((connection_id,), delay=delay)
        else:
            self.relay(connection_id)


class HueyWaker:
    """The runtime's `Waker`, through the queue."""

    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks

    def inbox(self, connection_id: int, delay: float | None = None) -> None:
        self._tasks.inbox(connection_id, delay)

    def relay(self, connection_id: int, delay: float | None = None) -> None:
        self._tasks.relay_later(connection_id, delay)

    def sync(self, connection_id: int, full: bool) -> None:
        self._tasks.incremental_sync(connection_id, full)

    def sync_run(self, connection_id: int, run_id: int) -> None:
        self._tasks.incremental_sync(connection_id, False, run_id)

    def rescore_all(self) -> None:
        self._tasks.rescore_all()


def _connections(runtime: Runtime) -> list[int]:
    """The connections scheduled work is for: neither deleted nor paused."""
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(Connection.id)
                .where(Connection.deleted_at.is_(None), Connection.paused.is_(False))
                .order_by(Connection.id)
            )
        )


class EmbeddedConsumer(Consumer):
    """A consumer running beside the web server: the server owns the process's signals."""

    def _set_signal_handlers(self) -> None:
        return None

    def start(self) -> None:
        loop.accept_jobs()
        quiet_queue_errors()
        super().start()

    def stop(self, graceful: bool = False) -> None:
        # The running jobs first: cancelled where they wait, they release what they hold, and
        # the join below does not wait out a CRM's retries.
        loop.stop_jobs(JOB_STOP_SECONDS)
        super().stop(graceful=graceful)


class WorkerConsumer(Consumer):
    """`glengarry worker`'s consumer: stops its jobs promptly on SIGTERM/SIGINT, and stops
    the process (non-zero) when the queue stays unreachable for `outage_seconds`."""

    def __init__(self, huey: Huey, *, label: str, outage_seconds: float, **options: Any) -> None:
        super().__init__(huey, **options)
        self.label = label
        self.outage_seconds = outage_seconds
        self.queue_lost: str | None = None
        self._down_since: float | None = None

    def start(self) -> None:
        loop.accept_jobs()
        quiet_queue_errors()
        super().start()

    def stop(self, graceful: bool = False) -> None:
        loop.stop_jobs(JOB_STOP_SECONDS)
        super().stop(graceful=graceful)

    def check_worker_health(self) -> bool:
        healthy = bool(super().check_worker_health())
        if self.check_queue():
            self.stop(graceful=False)
            raise ConsumerStopped
        return healthy

    def check_queue(self) -> bool:
        """Ping the queue; True once it has been unreachable for `outage_seconds`."""
        try:
            ping(self.huey)
        except QUEUE_ERRORS as exc:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
                log.warning("the queue is unreachable; waiting for it", error=_reason(exc))
            if now - self._down_since >= self.outage_seconds:
                self.queue_lost = (
                    f"the queue at {self.label} has been unreachable for "
                    f"{now - self._down_since:.0f} s: {_reason(exc)}"
                )
                return True
            return False
        if self._down_since is not None:
            log.info("the queue answers again")
        self._down_since = None
        return False


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "workers": settings.worker_threads,
        "worker_type": "thread",
        "periodic": True,
        "initial_delay": 0.05,
        "max_delay": 0.25,  # the SQLite queue is polled: keep the wake-up latency short
        "backoff": 1.5,
    }


def consumer(huey: Huey, settings: Settings, *, embedded: bool) -> Consumer:
    if embedded:
        return EmbeddedConsumer(huey, **_options(settings))
    return WorkerConsumer(
        huey,
        label=queue_label(settings),
        outage_seconds=QUEUE_OUTAGE_SECONDS,
        **_options(settings),
    )


def ping(huey: Huey) -> None:
    """Raise when the queue's storage cannot be reached (for /readyz)."""
    huey.pending_count()


QUEUE_OUTAGE_SECONDS = 60.0  # a running worker gives up on a queue unreachable this long
STARTUP_ATTEMPTS = 5  # a starting worker tries the queue this often (about 8 s) before giving up


def wait_for_queue(
    huey: Huey, label: str, *, attempts: int = STARTUP_ATTEMPTS, backoff: float = 0.5
) -> None:
    """Raise `QueueUnreachable` (one line naming the queue and why) if the queue does not
    answer within a few attempts."""
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=backoff, max=4),
            retry=retry_if_exception_type(QUEUE_ERRORS),
        ):
            with attempt:
                ping(huey)
    except RetryError as failed:
        exc = failed.last_attempt.exception()
        raise QueueUnreachable(
            f"cannot reach the queue at {label} after {attempts} attempts: {_reason(exc)}"
        ) from None


def _reason(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _QueueErrorLines(logging.Filter):
    """huey logs 'Error reading from queue' with a traceback on every poll while the queue is
    down (several a second per thread): one line per kind of error and minute instead."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, QUEUE_ERRORS):
            return True
        key = f"{record.getMessage()}|{type(exc).__name__}"
        now = time.monotonic()
        if now - self._last.get(key, -60.0) < 60.0:
            return False
        self._last[key] = now
        record.msg = f"{record.getMessage()}: {_reason(exc)}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


_queue_filter = _QueueErrorLines()


def quiet_queue_errors() -> None:
    consumer_logger = logging.getLogger("huey.consumer")
    if _queue_filter not in consumer_logger.filters:
        consumer_logger.addFilter(_queue_filter)
