"""A long-running process: the runtime wired to its queue (for `serve`, `worker` and the demo)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from huey import Huey

from app.runtime import Runtime
from app.worker.queue import HueyWaker, Tasks, build_huey, consumer, ping


@dataclass
class Service:
    runtime: Runtime
    huey: Huey
    tasks: Tasks

    @classmethod
    def wire(cls, runtime: Runtime, *, queue_name: str = "glengarry") -> Service:
        huey = build_huey(runtime.settings, queue_name)
        tasks = Tasks(huey, lambda: runtime)
        runtime.wake = HueyWaker(tasks)
        runtime.queue_ping = lambda: ping(huey)
        return cls(runtime, huey, tasks)

    @property
    def embedded(self) -> bool:
        return self.runtime.settings.queue_url is None

    def consumer(self, *, embedded: bool) -> Any:
        return consumer(self.huey, self.runtime.settings, embedded=embedded)
