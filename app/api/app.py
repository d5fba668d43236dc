"""The FastAPI application: one factory, given the process runtime."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from app import __version__
from app.api import health, operations, webhooks
from app.logging import bound
from app.runtime import Runtime

# A caller's request id is echoed into logs, so only a short, plain one is taken as given.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(runtime: Runtime, *, consumer: Any = None) -> FastAPI:
    """The service; with `consumer`, a huey consumer runs beside it (the embedded default)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if consumer is not None:
            consumer.start()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(
        title="Glengarry", version=__version__, docs_url="/docs", redoc_url=None, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(operations.router)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Every log line of a request carries its id, and the client gets it back to quote.
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        with bound(request_id=rid):
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    return app
