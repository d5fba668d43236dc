"""The FastAPI application: one factory, given the process runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app import __version__
from app.api import health, operations, report, webhooks
from app.api.access import RequestObservation
from app.crms import REGISTRY
from app.logging import register_secret
from app.runtime import Runtime


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
    app.include_router(report.router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(RequestObservation)
    # The service's own secrets are scrubbed from every log line, access log included.
    app_secrets = [
        getattr(runtime.settings, c.shared_app_setting) for c in REGISTRY if c.shared_app_setting
    ]
    for secret in (runtime.settings.api_token, *app_secrets):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return app


async def _invalid_request(_: Request, exc: Exception) -> Response:
    """422 naming each problem by where it is, without repeating the input (which may be a
    credential, or NaN that no JSON answer can carry)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {
            "loc": [_printable(part) for part in error.get("loc", ())],
            "msg": _printable(error.get("msg", "")),
            "type": _printable(error.get("type", "")),
        }
        for error in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _printable(part: Any) -> Any:
    if isinstance(part, int):
        return part
    return str(part)[:100].encode("utf-8", "replace").decode("utf-8")
