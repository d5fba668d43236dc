"""The admin console under /console: server-rendered pages drawn from the operations API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.console.pages import install_handlers, router
from app.console.session import install_sessions
from app.runtime import Runtime

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, runtime: Runtime) -> None:
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(router)
    install_handlers(app)
    install_sessions(app, runtime)
