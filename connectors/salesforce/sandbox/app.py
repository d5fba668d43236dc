"""`create_app(config, store, connected_app)`: the FastAPI app that behaves like Salesforce."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from connectors.salesforce.sandbox.bulk import QueryJobs
from connectors.salesforce.sandbox.config import SandboxConfig
from connectors.salesforce.sandbox.errors import (
    SalesforceError,
    error_body,
    not_found_handler,
    salesforce_error_handler,
)
from connectors.salesforce.sandbox.gateway import Gateway, SlashInsensitive
from connectors.salesforce.sandbox.oauth import ConnectedApp
from connectors.salesforce.sandbox.routes import (
    bulk,
    collections,
    composite,
    limits,
    oauth,
    outbound,
    query,
    sandbox,
    sobjects,
    tooling,
)
from connectors.salesforce.sandbox.runtime import Runtime
from connectors.salesforce.sandbox.store import Store
from connectors.sandbox_kit import Turnstile, endpoints_of


async def _validation_handler(request: Request, exc: Exception) -> Response:
    return SalesforceError(400, "INVALID_INPUT", str(exc)).response()


def create_app(
    config: SandboxConfig, store: Store, connected_app: ConnectedApp, instance_url: str = ""
) -> FastAPI:
    """The app; its `state.sandbox` is the `Runtime`."""
    app = FastAPI(title="Salesforce sandbox (Glengarry)", docs_url=None, redoc_url=None)
    modules = (
        oauth,
        query,
        composite,
        sobjects,
        collections,
        tooling,
        limits,
        sandbox,
        outbound,
        bulk,
    )
    for module in modules:
        app.include_router(module.router)
    routes = [r for m in modules for r in m.router.routes if isinstance(r, APIRoute)]
    runtime = Runtime.build(config, store, connected_app, instance_url, endpoints_of(routes))
    app.state.sandbox = runtime
    app.state.bulk = QueryJobs(store, runtime.catalog)  # Bulk API 2.0 query jobs
    app.add_exception_handler(SalesforceError, salesforce_error_handler)
    app.add_exception_handler(HTTPException, not_found_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_middleware(Gateway, runtime=runtime)
    app.add_middleware(
        Turnstile,
        stats=runtime.stats,
        holds=runtime.holds,
        routes=routes,
        discarded=lambda: error_body("SERVER_UNAVAILABLE", "Discarded by the sandbox while held"),
    )
    app.add_middleware(SlashInsensitive)
    return app
