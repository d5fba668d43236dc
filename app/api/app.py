"""The FastAPI application: one factory, given the process runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from app import __version__
from app.api import (
    admin,
    alerts,
    contacts,
    criteria,
    docs,
    health,
    operations,
    rejects,
    report,
    syncs,
    webhooks,
    whoami,
)
from app.api.access import RequestObservation
from app.api.auth import invalid_or_unauthenticated
from app.api.body_limit import OperationsBodyLimit
from app.api.errors import database_unavailable, http_error
from app.console import install as install_console
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

    # /docs is served by `docs` from assets shipped with the app: it works with no internet.
    app = FastAPI(
        title="Glengarry", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(operations.router)
    app.include_router(report.router)
    app.include_router(syncs.router)
    app.include_router(rejects.router)
    app.include_router(contacts.router)
    app.include_router(criteria.router)
    app.include_router(alerts.router)
    app.include_router(admin.router)
    app.include_router(whoami.router)
    docs.install(app)
    install_console(app, runtime)
    app.add_exception_handler(HTTPException, http_error)
    # Connection lost, server restarting: the database's outage, not a bug of ours.
    for unreachable in (OperationalError, InterfaceError):
        app.add_exception_handler(unreachable, database_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_or_unauthenticated)
    app.add_middleware(OperationsBodyLimit)
    app.add_middleware(RequestObservation)
    # The service's own secrets are scrubbed from every log line, access log included.
    app_secrets = [
        getattr(runtime.settings, c.shared_app_setting) for c in REGISTRY if c.shared_app_setting
    ]
    for secret in (runtime.settings.api_token, *app_secrets):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return app
