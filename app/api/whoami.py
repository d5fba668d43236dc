"""`GET /whoami`: the caller's key, its scope and its connection, so a client (the console)
shows only what the key may do."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.auth import Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES
from app.models import Connection

router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)


class Identity(BaseModel):
    name: str = Field(description="The key's name, as the audit log shows it")
    scope: str = Field(description="read, operate or admin: each includes the ones before")
    connection: str | None = Field(description="The one connection the key sees; null: all")


@router.get("/whoami")
def whoami(runtime: RuntimeDep, principal: Reader) -> Identity:
    connection = None
    if principal.connection_id is not None:
        with runtime.sessions() as session:
            row = session.get(Connection, principal.connection_id)
            connection = row.name if row is not None else None
    return Identity(name=principal.name, scope=principal.scope.value, connection=connection)
