"""One event loop per process for every async job, run in its own thread.

huey runs tasks in threads; each submits its coroutine here, so connectors, rate-limit windows
and HTTP connection pools live on one loop and are shared by every task of the process.

Stopping the process stops the jobs first (`stop_jobs`): each is cancelled where it waits (a
retry's backoff, a rate limit, a CRM call) and cleans up as it unwinds (claims released, a sync
run marked), so a shutdown never waits out a struggling CRM's retries.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_jobs: set[asyncio.Task[Any]] = set()  # touched on the loop's thread only
_stopping = threading.Event()


class JobsStopped(Exception):
    """The process is stopping: no new job starts."""


def _start() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="glengarry-jobs", daemon=True)
    thread.start()
    return loop


async def _tracked(coroutine: Coroutine[Any, Any, T]) -> T:
    task = asyncio.current_task()
    assert task is not None
    _jobs.add(task)
    try:
        return await coroutine
    finally:
        _jobs.discard(task)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the process's job loop and wait for its result.

    Raises `JobsStopped` once the process is stopping, and `concurrent.futures.CancelledError`
    for a job that `stop_jobs` cancelled."""
    global _loop
    if _stopping.is_set():
        coroutine.close()
        raise JobsStopped("the process is stopping")
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = _start()
        loop = _loop
    return asyncio.run_coroutine_threadsafe(_tracked(coroutine), loop).result()


def stop_jobs(timeout: float = 10.0) -> int:
    """Refuse new jobs, cancel the running ones and wait up to `timeout` seconds for them to
    unwind; returns how many were running."""
    _stopping.set()
    with _lock:
        loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return 0

    async def cancel_all() -> int:
        running = [task for task in _jobs if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=timeout)
        return len(running)

    return asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout + 5)


def accept_jobs() -> None:
    """Start jobs again after `stop_jobs` (a process that serves again, as tests do)."""
    _stopping.clear()
