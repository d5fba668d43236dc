"""A `Waker` that records what it was asked to wake, for tests that run the jobs themselves."""

from __future__ import annotations


class RecordingWaker:
    def __init__(self) -> None:
        self.inboxes: list[int] = []
        self.relays: list[int] = []
        self.syncs: list[tuple[int, bool]] = []

    def inbox(self, connection_id: int) -> None:
        self.inboxes.append(connection_id)

    def relay(self, connection_id: int) -> None:
        self.relays.append(connection_id)

    def sync(self, connection_id: int, full: bool) -> None:
        self.syncs.append((connection_id, full))
