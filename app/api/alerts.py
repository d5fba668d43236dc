"""A connection's alerts: where they go (a Slack-compatible incoming webhook) and when."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from app.api.auth import Admin, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.api.operations import find_for
from app.audit import record
from app.models import AlertState, AlertTarget

router = APIRouter(tags=["alerts"], responses=ERROR_RESPONSES)
Number = StrictFloat | StrictInt


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description='An incoming webhook (Slack\'s JSON: {"text": ...})')
    reject_share: Number = Field(0.05, gt=0, le=1)
    inbox_backlog: StrictInt = Field(1000, ge=1)
    outbox_lag_minutes: Number = Field(30, gt=0)
    silent_minutes: Number = Field(120, gt=0)
    repeat_minutes: Number = Field(240, gt=0)


class AlertsOut(BaseModel):
    url: str = Field(description="Scheme and host only: the path of a webhook URL is its secret")
    reject_share: float
    inbox_backlog: int
    outbox_lag_minutes: float
    silent_minutes: float
    repeat_minutes: float
    firing: dict[str, str]


def _out(target: AlertTarget, host: str, firing: dict[str, str]) -> AlertsOut:
    return AlertsOut(
        url=host,
        reject_share=target.reject_share,
        inbox_backlog=target.inbox_backlog,
        outbox_lag_minutes=target.outbox_lag_minutes,
        silent_minutes=target.silent_minutes,
        repeat_minutes=target.repeat_minutes,
        firing=firing,
    )


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/***"


@router.put("/connections/{connection}/alerts")
def put_alerts(
    connection: str, request: AlertSettings, runtime: RuntimeDep, principal: Admin
) -> AlertsOut:
    found = find_for(runtime, principal, connection)
    url = str(request.url)
    with runtime.sessions.begin() as session:
        target = session.get(AlertTarget, found.id) or AlertTarget(connection_id=found.id)
        target.url = runtime.vault.encrypt({"url": url})
        for name, value in request.model_dump(exclude={"url"}).items():
            setattr(target, name, value)
        session.add(target)
        record(
            session,
            actor=principal.name,
            action="alerts.set",
            at=runtime.clock.now(),
            connection=found.name,
            details={"host": _host(url), **request.model_dump(exclude={"url"})},
        )
        session.flush()
        return _out(target, _host(url), {})


@router.get("/connections/{connection}/alerts")
def get_alerts(connection: str, runtime: RuntimeDep, principal: Reader) -> AlertsOut:
    found = find_for(runtime, principal, connection)
    with runtime.sessions() as session:
        target = session.get(AlertTarget, found.id)
        if target is None:
            raise ApiError(404, f"no alerts set for {found.name}")
        url = str(runtime.vault.decrypt(target.url, what="an alert URL")["url"])
        firing = {
            s.condition: s.detail
            for s in session.query(AlertState).filter(AlertState.connection_id == found.id)
        }
        return _out(target, _host(url), firing)


@router.delete("/connections/{connection}/alerts", status_code=204)
def delete_alerts(connection: str, runtime: RuntimeDep, principal: Admin) -> Response:
    found = find_for(runtime, principal, connection)
    with runtime.sessions.begin() as session:
        target = session.get(AlertTarget, found.id)
        if target is None:
            raise ApiError(404, f"no alerts set for {found.name}")
        session.delete(target)
        session.query(AlertState).filter(AlertState.connection_id == found.id).delete()
        record(
            session,
            actor=principal.name,
            action="alerts.delete",
            at=runtime.clock.now(),
            connection=found.name,
        )
    return Response(status_code=204)
