"""The per-portal rate limit: in memory on the embedded default, shared through Redis when a
queue URL is set, so that two processes draw on one allocation."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage

from app.ratelimits import storage_for
from app.settings import load_settings
from connectors.http import Limit, RateLimiter
from tests.conftest import REDIS_URL


class Waited(Exception):
    pass


async def _refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


def test_the_embedded_default_keeps_windows_in_memory(tmp_path: Path) -> None:
    assert isinstance(storage_for(load_settings(data_dir=tmp_path)), MemoryStorage)


@pytest.mark.scaled
async def test_two_processes_share_one_window_through_redis(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, queue_url=REDIS_URL)
    storage_a, storage_b = storage_for(settings), storage_for(settings)  # as two processes would
    assert isinstance(storage_a, RedisStorage)
    buckets = {"general": [Limit("2/10 seconds")]}
    portal = f"portal-{uuid.uuid4().hex}"  # a window of its own in the shared Redis
    first = RateLimiter(buckets, storage=storage_a, sleep=_refuse_to_wait)
    second = RateLimiter(buckets, storage=storage_b, sleep=_refuse_to_wait)
    await first.acquire(portal, "general")
    await second.acquire(portal, "general")
    with pytest.raises(Waited):
        await first.acquire(portal, "general")  # the third call in the window must wait
    with pytest.raises(Waited):
        await second.acquire(portal, "general")
