"""One rate limiter per connection and process, on shared storage when there is Redis.

The embedded default keeps the windows in memory (one process serves everything); the scaled
set-up keeps them in Redis so that every process and machine draws on the same allocation.
Memory windows are bound to an event loop, so workers run their jobs on one loop
(`app.worker.loop`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from app.crms import crm_for
from app.models import Connection
from app.settings import Settings
from connectors.http import RateLimiter

_lock = threading.Lock()


def storage_for(settings: Settings) -> Storage:
    if settings.queue_url:
        return RedisStorage(f"async+{settings.queue_url}", implementation="redispy")
    return MemoryStorage()


def limiter_for(
    settings: Settings,
    cache: dict[Any, RateLimiter],
    connection: Connection,
    spent_today: Callable[[], int] = lambda: 0,
) -> RateLimiter:
    """The limiter of this connection in `cache` (the process runtime's), made on first use.

    In memory a new process would start the day afresh: it is told what the day has spent
    already (the API usage table), so the budget holds across runs. Redis remembers by itself."""
    limits_key, buckets = crm_for(connection.kind).rate_limits(
        connection.options or {}, connection.api_budget_share, settings.rate_limit_headroom
    )
    try:  # memory windows belong to one event loop: never hand them to another
        loop = id(asyncio.get_running_loop())
    except RuntimeError:
        loop = 0
    key = (connection.id, limits_key, connection.api_budget_share, loop)
    with _lock:
        limiter = cache.get(key)
        if limiter is None:
            storage = storage_for(settings)
            limiter = RateLimiter(
                buckets,
                storage=storage,
                spent=spent_today() if isinstance(storage, MemoryStorage) else 0,
            )
            cache[key] = limiter
        return limiter
