"""A round-robin load balancer in front of the `serve` processes, as a real one would stand:
the CRMs send to its one address. A backend that refuses the connection is skipped (nginx's
`proxy_next_upstream error`); one that fails mid-request answers 502, which the CRM redelivers.
The Host header is passed on, so a HubSpot v3 signature (which covers the URL) still verifies."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.serving import ServerThread

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class Balancer:
    def __init__(self, backends: Sequence[str]) -> None:
        self._backends = list(backends)
        self._turn = itertools.cycle(range(len(self._backends)))
        self._lock = threading.Lock()
        self.forwarded: dict[str, int] = dict.fromkeys(self._backends, 0)
        self._client = httpx.AsyncClient(timeout=60)
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._forward,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )
        self._server = ServerThread(app)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def start(self) -> Balancer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _next(self) -> str:
        with self._lock:
            return self._backends[next(self._turn)]

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in _HOP_BY_HOP]
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        for _ in self._backends:
            backend = self._next()
            try:
                answer = await self._client.request(
                    request.method, backend + path, headers=headers, content=body
                )
            except httpx.ConnectError:
                continue  # not listening (killed, restarting): the next backend takes it
            except httpx.HTTPError as exc:
                return Response(f"backend failed: {type(exc).__name__}", status_code=502)
            with self._lock:
                self.forwarded[backend] += 1
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return Response(answer.content, status_code=answer.status_code, headers=kept)
        return Response("no backend answers", status_code=503)
