"""Claims a worker holds on rows while it works on them (inbox events, outbox rows, a sync's
lease): taken without waiting for other claimers, kept short, renewed while the work runs.

A worker that dies stops renewing, so its claims lapse within one TTL and another worker takes
the rows; a worker that fails releases them at once (the callers' `except` paths).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import SQLAlchemyError

from app.logging import bound, current_context, get_logger

log = get_logger(__name__)
S = TypeVar("S", bound=Select[Any])


def skip_locked(query: S, *of: Any) -> S:
    """Lock the selected rows for this transaction, skipping rows another claimer is taking.

    On PostgreSQL this is `FOR UPDATE SKIP LOCKED`: two claimers get disjoint rows and neither
    waits, where `UPDATE ... WHERE id IN (SELECT ... LIMIT)` made them lock the same rows in
    different orders and deadlock. SQLite renders no lock clause: its writers are serialised by
    `BEGIN IMMEDIATE` (app.db), so the second claimer sees the first one's claim."""
    return query.with_for_update(skip_locked=True, of=list(of) or None)


class Heartbeat:
    """Calls `beat` every `every` seconds in a thread of its own, until the block ends.

    In a thread, not on the job loop: a renewal must not wait behind a long synchronous step
    of the work it keeps alive (a big scoring transaction, for instance)."""

    def __init__(self, beat: Callable[[], None], every: float, *, what: str) -> None:
        self._beat = beat
        self.every = every
        self._what = what
        self._stop = threading.Event()
        self._context = dict(current_context())  # the job's log ids, for the thread's lines
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{what}", daemon=True)
        self.beats = 0

    def _run(self) -> None:
        with bound(**self._context):
            while not self._stop.wait(self.every):
                try:
                    self._beat()
                    self.beats += 1
                except SQLAlchemyError as exc:
                    # One missed renewal only shortens the claim; the next one may succeed.
                    log.warning("claim renewal failed", claim=self._what, error=type(exc).__name__)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        # A renewal in flight ends before the caller settles or releases the claim.
        self._thread.join(timeout=max(self.every, 1.0))


__all__ = ["Heartbeat", "skip_locked"]
