"""Contacts (and Salesforce leads) mirrored from the CRM, and their activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow

# None is SQL NULL here (not JSON null), so that "no event-carried values" is `IS NULL`.
TIMES = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class ContactKind(StrEnum):
    CONTACT = "contact"
    LEAD = "lead"  # Salesforce keeps leads apart from contacts


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "crm_id"),
        Index("ix_contacts_connection_modified", "connection_id", "crm_modified_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    crm_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10), default=ContactKind.CONTACT)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_customer: Mapped[bool] = mapped_column(default=False)
    # A merged contact follows its survivor; it is kept so that late events still find their way.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    deleted_at: Mapped[datetime | None]
    crm_modified_at: Mapped[datetime | None]
    # Property -> ISO instant of the value held, for values a webhook event carried after the
    # last read of the record (`crm_modified_at` dates everything else); SQL NULL when none.
    property_times: Mapped[dict[str, Any] | None] = mapped_column(TIMES)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("connection_id", "crm_id"),
        Index("ix_activities_contact_occurred", "contact_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # Engagement object id, or a derived key for activities the CRM only exposes as properties.
    crm_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
