"""Liveness and readiness, for container health checks and load balancers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from app.api.auth import authenticate, bearer
from app.api.deps import RuntimeDep
from app.api.errors import ErrorBody
from app.metrics import REGISTRY, BacklogCollector
from app.models import Connection
from app.runtime import Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving; says nothing about its dependencies."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `checks` says what is not"}},
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when every dependency answers and every connection's credentials can be read;
    503 names what is not."""
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["credentials"] = _credentials(runtime)
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


def _credentials(runtime: Runtime) -> str:
    """Whether this process's keys still decrypt every connection's credentials: a rotation by
    another process with keys this one was never given stops all its work with the CRM."""
    with runtime.sessions() as session:
        stored = session.execute(select(Connection.name, Connection.credentials)).all()
    unreadable = sorted(name for name, token in stored if not runtime.vault.readable(token))
    if not unreadable:
        return "ok"
    return (
        f"the secret key does not decrypt the credentials of {', '.join(unreadable)}: they were "
        "re-encrypted under a key this process was not given (`glengarry keys rotate`?); "
        "restart it with that key in GLENGARRY_SECRET_KEY (NEW,OLD)"
    )


def _metrics_access(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """/metrics names connections: GLENGARRY_METRICS_PUBLIC=false puts it behind a key."""
    if not runtime.settings.metrics_public:
        authenticate(request, runtime, credentials)  # any scope reads


@router.get(
    "/metrics",
    dependencies=[Depends(_metrics_access)],
    response_class=PlainTextResponse,
    responses={401: {"model": ErrorBody, "description": "GLENGARRY_METRICS_PUBLIC=false: a key"}},
)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format: this process's counters and the database's backlogs."""
    backlog = CollectorRegistry()
    backlog.register(BacklogCollector(runtime.sessions))
    body = generate_latest(REGISTRY) + generate_latest(backlog)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
