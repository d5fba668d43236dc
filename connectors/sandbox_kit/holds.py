"""Holding calls to a route open: `POST /_sandbox/hold` then `/_sandbox/release`.

While a route is held, each call to it is read in full (the server has the request) and then
waits, unanswered, until the route is released: a test can kill a client while its batch is in
flight. On release the held calls are processed as usual, even when their client has gone, as
a request a server already received would be; with `discard` they are answered 503 instead and
change nothing. Calls wait on the server's event loop; `release` may come from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    client: str  # "host:port" of the caller: a test finds the process that made the call
    event: asyncio.Event = field(default_factory=asyncio.Event)
    discard: bool = False


class Holds:
    def __init__(self, endpoints: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known = frozenset(endpoints)
        self._held: set[str] = set()
        self._waiting: dict[str, list[_Waiter]] = {}

    def hold(self, endpoint: str) -> None:
        """Hold calls to `endpoint` ("METHOD /template"); ValueError for a route not served."""
        if self._known and endpoint not in self._known:
            raise ValueError(
                f"no route {endpoint!r} to hold: use one of {', '.join(sorted(self._known))}"
            )
        with self._lock:
            self._held.add(endpoint)

    def release(self, endpoint: str | None = None, *, discard: bool = False) -> int:
        """Stop holding `endpoint` (None: every route); returns how many calls were let go."""
        with self._lock:
            routes = set(self._held) if endpoint is None else {endpoint} & self._held
            self._held -= routes
            waiters = [w for route in routes for w in self._waiting.pop(route, [])]
        for waiter in waiters:
            waiter.discard = discard
            waiter.loop.call_soon_threadsafe(waiter.event.set)
        return len(waiters)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "holding": sorted(self._held),
                "waiting": {route: len(w) for route, w in sorted(self._waiting.items()) if w},
                "clients": {
                    route: [w.client for w in waiters]
                    for route, waiters in sorted(self._waiting.items())
                    if waiters
                },
            }

    def is_held(self, endpoint: str) -> bool:
        with self._lock:
            return endpoint in self._held

    async def admit(
        self, endpoint: str, receive: Receive, client: tuple[str, int] | None = None
    ) -> Receive | None:
        """`receive` at once for a route not held; else, after the release, a `receive` that
        replays the request read in full (None when the release discarded it)."""
        if not self.is_held(endpoint):
            return receive
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        caller = f"{client[0]}:{client[1]}" if client else ""
        waiter = _Waiter(asyncio.get_running_loop(), caller)
        with self._lock:
            if endpoint in self._held:
                self._waiting.setdefault(endpoint, []).append(waiter)
            else:  # released while the body was being read
                waiter.event.set()
        await waiter.event.wait()
        if waiter.discard:
            return None

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay
