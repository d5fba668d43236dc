"""Admin routes: API keys (made, listed, revoked) and the audit log of operator actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import Admin
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.apikeys import KeyView, create_key, list_keys, revoke_key
from app.audit import entries, record
from app.connections import UnknownConnection
from app.errors import InputError
from app.models import Connection

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scope: str = Field(pattern="^(read|operate|admin)$")
    connection: str | None = Field(None, max_length=100)


class KeyOut(BaseModel):
    name: str
    scope: str
    connection: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKey(KeyOut):
    key: str = Field(description="Shown this once: only a salted hash of it is stored.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    connection: str | None
    target: str | None
    details: dict[str, Any]


def _out(view: KeyView) -> KeyOut:
    return KeyOut(**view.__dict__)


@router.get("/apikeys")
def get_keys(runtime: RuntimeDep, principal: Admin) -> list[KeyOut]:
    with runtime.sessions() as session:
        return [_out(v) for v in list_keys(session)]


@router.post("/apikeys", status_code=201)
def post_key(request: KeyRequest, runtime: RuntimeDep, principal: Admin) -> NewKey:
    """Make a key; its value is in this answer only."""
    if principal.connection_id is not None:
        raise ApiError(403, "a key bound to one connection cannot make keys", code="forbidden")
    now = runtime.clock.now()
    try:
        with runtime.sessions.begin() as session:
            key, view = create_key(
                session,
                name=request.name,
                scope=request.scope,
                connection=request.connection,
                now=now,
            )
            record(
                session,
                actor=principal.name,
                action="apikey.create",
                at=now,
                connection=view.connection,
                target=view.name,
                details={"scope": view.scope},
            )
    except UnknownConnection:  # its message lists the names there are: not for the API
        raise ApiError(404, f"no connection {request.connection!r}") from None
    except InputError as exc:  # a taken name
        raise ApiError(409, str(exc)) from None
    return NewKey(key=key, **view.__dict__)


@router.post("/apikeys/{name}/revoke")
def post_revoke(name: str, runtime: RuntimeDep, principal: Admin) -> KeyOut:
    if principal.connection_id is not None:
        raise ApiError(403, "a key bound to one connection cannot revoke keys", code="forbidden")
    now = runtime.clock.now()
    try:
        with runtime.sessions.begin() as session:
            view = revoke_key(session, name, now)
            record(
                session,
                actor=principal.name,
                action="apikey.revoke",
                at=now,
                connection=view.connection,
                target=view.name,
            )
    except InputError as exc:
        raise ApiError(404, str(exc)) from None
    return _out(view)


@router.get("/audit")
def get_audit(
    runtime: RuntimeDep,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[AuditOut]:
    """Operator actions, newest first; `before` (an id) pages back."""
    with runtime.sessions() as session:
        connection = None
        if principal.connection_id is not None:
            bound = session.get(Connection, principal.connection_id)
            connection = bound.name if bound else ""
        found = entries(session, limit=limit, before=before, connection=connection)
    return [AuditOut(**e.__dict__) for e in found]
