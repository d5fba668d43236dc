"""Contacts and why: `GET /contacts/{id}/qualification` explains one contact's status, and
`GET /connections/{name}/contacts/{crm_id}/qualification` finds it by its CRM id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.auth import Principal, Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES, ApiError
from app.api.operations import find_for
from app.explain import explain
from app.models import Contact, QualificationRecord
from app.runtime import Runtime

router = APIRouter(tags=["contacts"], responses=ERROR_RESPONSES)
# No control character: NUL is refused by PostgreSQL, and none belongs in an email or an id.
Search = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class ContactRef(BaseModel):
    id: int
    crm_id: str
    kind: str
    connection: str | None
    deleted_at: datetime | None


class ContactRow(BaseModel):
    id: int
    crm_id: str
    kind: str
    email: str | None
    status: str | None
    score: int | None
    status_since: datetime | None


class ContactPage(BaseModel):
    contacts: list[ContactRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


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


@router.get("/connections/{connection}/contacts")
def list_contacts(
    connection: str,
    runtime: RuntimeDep,
    principal: Reader,
    status: Annotated[str | None, Query(pattern="^[a-z_]{1,20}$")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    ] = None,
    cursor: Annotated[str | None, Query(pattern="^[0-9]{1,10}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ContactPage:
    """Stored contacts by id; `status` filters, `q` matches an email or CRM id (a prefix)."""
    found = find_for(runtime, principal, connection)
    query = (
        select(Contact, QualificationRecord)
        .outerjoin(QualificationRecord, QualificationRecord.contact_id == Contact.id)
        .where(Contact.connection_id == found.id, Contact.deleted_at.is_(None))
        .order_by(Contact.id)
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(Contact.id > int(cursor))
    if status is not None:
        query = query.where(QualificationRecord.status == status)
    if q is not None:
        # A prefix, its LIKE wildcards escaped: what a caller types is never a pattern.
        prefix = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            Contact.email.ilike(prefix, escape="\\") | Contact.crm_id.like(prefix, escape="\\")
        )
    with runtime.sessions() as session:
        rows = session.execute(query).all()
    shown = [
        ContactRow(
            id=c.id,
            crm_id=c.crm_id,
            kind=c.kind,
            email=c.email,
            status=r.status if r else None,
            score=r.score if r else None,
            status_since=r.status_since if r else None,
        )
        for c, r in rows[:limit]
    ]
    more = len(rows) > limit
    return ContactPage(contacts=shown, next_cursor=str(shown[-1].id) if more else None)
