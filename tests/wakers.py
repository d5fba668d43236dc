"""A `Waker` that records what it was asked to wake, for tests that run the jobs themselves."""

from __future__ import annotations


class RecordingWaker:
    def __init__(self) -> None:
        self.inboxes: list[int] = []
        self.relays: list[int] = []
        self.syncs: list[tuple[int, bool]] = []
        self.sync_runs: list[tuple[int, int]] = []  # (connection, queued run)
        self.rescores = 0
        self.later: list[tuple[str, int, float]] = []  # (job, connection, delay) woken later

    def inbox(self, connection_id: int, delay: float | None = None) -> None:
        if delay is None:
            self.inboxes.append(connection_id)
        else:
            self.later.append(("inbox", connection_id, delay))

    def relay(self, connection_id: int, delay: float | None = None) -> None:
        if delay is None:
            self.relays.append(connection_id)
        else:
            self.later.append(("relay", connection_id, delay))

    def sync(self, connection_id: int, full: bool) -> None:
        self.syncs.append((connection_id, full))

    def sync_run(self, connection_id: int, run_id: int) -> None:
        self.sync_runs.append((connection_id, run_id))

    def rescore_all(self) -> None:
        self.rescores += 1
