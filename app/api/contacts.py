"""Contacts and why: `GET /contacts/{id}/qualification` explains one contact's status, and
`GET /connections/{name}/contacts/{crm_id}/qualification` finds it by its CRM id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.auth import Principal, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.api.operations import find_for
from app.explain import explain
from app.models import Contact
from app.runtime import Runtime

router = APIRouter(tags=["contacts"], responses=ERROR_RESPONSES)


class ContactRef(BaseModel):
    id: int
    crm_id: str
    kind: str
    connection: str | None
    deleted_at: datetime | None


class Explanation(BaseModel):
    contact: ContactRef
    qualification: dict[str, Any] | None  # None: stored, not scored yet


def _explained(
    session: Session, runtime: Runtime, principal: Principal, contact: Contact | None, what: str
) -> Explanation:
    if contact is None or (
        principal.connection_id is not None and contact.connection_id != principal.connection_id
    ):
        raise ApiError(404, f"no contact {what}")
    return Explanation.model_validate(
        explain(session, contact, runtime.clock.now(), runtime.settings.criteria_file)
    )


@router.get("/contacts/{contact_id}/qualification")
def qualification(
    contact_id: Annotated[int, Path(ge=1, le=2**31 - 1)], runtime: RuntimeDep, principal: Reader
) -> Explanation:
    with runtime.sessions.begin() as session:  # a fresh database activates its criteria
        contact = session.get(Contact, contact_id)
        return _explained(session, runtime, principal, contact, str(contact_id))


@router.get("/connections/{connection}/contacts/{crm_id}/qualification")
def qualification_by_crm_id(
    connection: str,
    crm_id: Annotated[str, Path(min_length=1, max_length=64)],
    runtime: RuntimeDep,
    principal: Reader,
) -> Explanation:
    found = find_for(runtime, principal, connection)
    with runtime.sessions.begin() as session:
        contact = session.scalars(
            select(Contact)
            .where(Contact.connection_id == found.id, Contact.crm_id == crm_id)
            .order_by(Contact.id)
        ).first()
        return _explained(session, runtime, principal, contact, f"{crm_id[:64]!r} in {found.name}")
