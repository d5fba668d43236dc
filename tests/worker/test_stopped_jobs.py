"""A job asked for while the process stops is closed, never left "never awaited" (the warning
the demo printed at its end), and the shutdown is logged as such."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from app.worker import loop, queue


@pytest.fixture
def stopping() -> Iterator[None]:
    loop.stop_jobs(timeout=1)
    yield
    loop.accept_jobs()


async def _work() -> int:
    return 1


def test_a_job_refused_by_a_stopping_process_is_closed(stopping: None) -> None:
    work = _work()
    with capture_logs() as logs:
        queue._run("process_inbox", work)
    assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED
    assert any(entry.get("job") == "process_inbox" for entry in logs)


def test_a_job_that_ran_is_left_as_it_finished() -> None:
    work = _work()
    queue._run("relay", work)
    assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED
