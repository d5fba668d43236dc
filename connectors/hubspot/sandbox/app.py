"""`create_app(config, store)`: the FastAPI app that behaves like HubSpot's API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.errors import (
    HubSpotError,
    error_body,
    hubspot_error_handler,
    validation_error_handler,
)
from connectors.hubspot.sandbox.gateway import Gateway
from connectors.hubspot.sandbox.routes import (
    associations,
    auth,
    objects,
    properties,
    sandbox,
    search,
)
from connectors.hubspot.sandbox.runtime import Runtime
from connectors.hubspot.sandbox.store import Store
from connectors.sandbox_kit import Turnstile, endpoints_of


def create_app(config: SandboxConfig | None = None, store: Store | None = None) -> FastAPI:
    """The app; its `state.sandbox` is the `Runtime` (start/stop its webhook thread with it)."""
    config = config or SandboxConfig()
    store = store or Store(search_lag_seconds=config.search_lag_seconds)
    app = FastAPI(title="HubSpot sandbox (Glengarry)", docs_url=None, redoc_url=None)
    # Search before objects: its literal path must win over the generic object routes.
    modules = (search, objects, associations, properties, auth, sandbox)
    for module in modules:
        app.include_router(module.router)
    routes = [r for m in modules for r in m.router.routes if isinstance(r, APIRoute)]
    runtime = Runtime.build(config, store, endpoints_of(routes))
    app.state.sandbox = runtime
    app.add_exception_handler(HubSpotError, hubspot_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(Gateway, runtime=runtime)
    # Added last, so outermost: it counts every answer, the gateway's refusals included.
    app.add_middleware(
        Turnstile,
        stats=runtime.stats,
        holds=runtime.holds,
        routes=routes,
        discarded=lambda: error_body("Discarded by the sandbox while held", "INTERNAL_ERROR"),
    )
    return app
