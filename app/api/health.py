"""Liveness and readiness, for container health checks and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import RuntimeDep
from app.metrics import REGISTRY, BacklogCollector

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving; says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when every dependency answers; 503 names the ones that do not."""
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if runtime.queue_ping is not None:
        try:
            runtime.queue_ping()
            checks["queue"] = "ok"
        except Exception as exc:  # any failure of the queue's storage means not ready
            checks["queue"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format: this process's counters and the database's backlogs."""
    backlog = CollectorRegistry()
    backlog.register(BacklogCollector(runtime.sessions))
    body = generate_latest(REGISTRY) + generate_latest(backlog)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
