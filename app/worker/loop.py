"""One event loop per process for every async job, run in its own thread.

huey runs tasks in threads; each submits its coroutine here, so connectors, rate-limit windows
and HTTP connection pools live on one loop and are shared by every task of the process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _start() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="glengarry-jobs", daemon=True)
    thread.start()
    return loop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the process's job loop and wait for its result."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = _start()
        loop = _loop
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
