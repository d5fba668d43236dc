"""The connector protocol: what the one pipeline needs from any CRM, and the records exchanged.

A connector is narrow and async: stream contacts since a cursor, read activities for a set of
contacts, install Glengarry's fields, write qualifications in batches. Webhook verification and
parsing are separate (`WebhookSource`) because the receiver runs them without a CRM call.
Properties use HubSpot's internal names as the canonical vocabulary; other CRMs map onto them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CrmContact:
    crm_id: str
    properties: Mapping[str, str | None]
    modified_at: datetime
    kind: str = "contact"  # or "lead" (Salesforce)
    archived: bool = False
    merged_crm_ids: tuple[str, ...] = ()  # records merged into this one


@dataclass(frozen=True, slots=True)
class CrmActivity:
    crm_id: str  # stable per connection: engagement id, or derived from the property it comes from
    contact_crm_id: str
    type: str  # the engine's vocabulary: email_open, page_view, meeting, ...
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    stream: str = ""  # which stream it came from (Salesforce: "Task", "Event", "CampaignMember")


class OutcomeKind(StrEnum):
    BECAME_OPPORTUNITY = "became_opportunity"
    BECAME_CUSTOMER = "became_customer"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"


@dataclass(frozen=True, slots=True)
class CrmOutcome:
    """What became of a contact, as the CRM records it: a lifecycle stage reached, or a deal
    (HubSpot) or opportunity (Salesforce) it is associated with closed, won or lost."""

    contact_crm_id: str
    kind: OutcomeKind
    occurred_at: datetime
    amount: float | None = None  # deals only, in `currency`
    currency: str | None = None  # ISO 4217; None where the CRM keeps one company currency
    deal_crm_id: str | None = None  # the deal or opportunity, for deal outcomes


@dataclass(frozen=True, slots=True)
class ContactBatch:
    """Contacts to store, and the cursor to persist once they are stored (never before)."""

    contacts: Sequence[CrmContact]
    cursor: str | None
    # The CRM forgot deletions since the stored cursor (Salesforce's recycle bin was emptied,
    # or the last run is older than its deleted log): before storing anything further, the
    # pipeline asks the connector (`Reconciling`) for every live id and marks each stored
    # contact absent from it deleted. Such a batch comes first and carries no cursor.
    reconcile: bool = False


@dataclass(frozen=True, slots=True)
class FieldWrite:
    contact_crm_id: str
    values: Mapping[str, str]
    kind: str = "contact"


@dataclass(frozen=True, slots=True)
class WriteFailure:
    message: str
    code: str = ""  # the CRM's own error code (CANNOT_UPDATE_CONVERTED_LEAD, VALIDATION_ERROR, ...)
    permanent: bool = False  # retrying cannot help: kept as failed at once


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    written: Sequence[str]
    failed: Mapping[str, WriteFailure]  # contact CRM id -> why


class FieldState(StrEnum):
    CREATED = "created"
    KEPT = "kept"  # already there with the right type
    CONFLICT = "conflict"  # there with another definition: never redefined, never written


@dataclass(frozen=True, slots=True)
class FieldStatus:
    name: str
    state: FieldState
    detail: str = ""


class ChangeKind(StrEnum):
    CREATED = "created"
    PROPERTY_CHANGED = "property_changed"
    DELETED = "deleted"
    RESTORED = "restored"
    MERGED = "merged"
    PRIVACY_DELETED = "privacy_deleted"
    ASSOCIATION_CHANGED = "association_changed"


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One webhook event, normalised."""

    dedup_key: str  # stable across the CRM's retries of the same event
    account_id: str
    kind: ChangeKind
    crm_id: str
    occurred_at: datetime
    property_name: str | None = None
    property_value: str | None = None
    merged_crm_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    """One CRM account, reached over its API."""

    kind: str

    async def account_id(self) -> str: ...

    def contacts(self, since: str | None) -> AsyncIterator[ContactBatch]:
        """Every contact (since=None) or those changed since a cursor, in stored-cursor order."""
        ...

    async def read_contacts(self, crm_ids: Sequence[str]) -> Sequence[CrmContact]: ...

    async def activities(self, contacts: Sequence[CrmContact]) -> Sequence[CrmActivity]: ...

    async def install_fields(self, statuses: Sequence[str]) -> Sequence[FieldStatus]: ...

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Reconciling(Protocol):
    """A connector that can list every live contact id (for `ContactBatch.reconcile`)."""

    async def live_crm_ids(self) -> frozenset[str]: ...


# Kinds of record a connection may not read, as `SaysUnavailable.unavailable` names them beside
# the CRM's own object types (HubSpot's "feedback_submissions", "tickets", "deals"): survey
# answers, support requests (tickets, cases), and outcomes read at all.
SURVEYS = "surveys"
SUPPORT = "support"
OUTCOMES = "outcomes"


@runtime_checkable
class SaysUnavailable(Protocol):
    """A connector that keeps the kinds of record it may not read, with why ("not licensed:
    ...", "scope missing: ..."), as it finds out while reading them: a kind it says is
    reported in words, never as none of them."""

    unavailable: dict[str, str]


@runtime_checkable
class ProbesUnavailable(Protocol):
    """A connector that can tell what it may not read without reading any record (Salesforce's
    describe): asked once per whole sync, so that a sync that read nobody still knows."""

    async def probe_unavailable(self) -> None:
        """Fill `unavailable` (see `SaysUnavailable`)."""
        ...


@runtime_checkable
class ReadsNamed(Protocol):
    """A connector that can read the activity records events named (`Crm.named_record`)
    without re-reading their contacts: the budget of a webhook batch goes further."""

    async def named_activities(
        self, named: Mapping[str, Sequence[str]]
    ) -> Sequence[CrmActivity]: ...


@runtime_checkable
class OutcomeSource(Protocol):
    """A connector that can read what became of contacts (issue 14's outcomes table).

    A kind of record the connection may not read (a scope missing) is left out and said once in
    `unavailable`, never reported as "no outcomes"."""

    async def outcomes(self, contacts: Sequence[CrmContact]) -> Sequence[CrmOutcome]: ...


class WebhookSource(Protocol):
    """Verifies and parses a CRM's webhook deliveries; makes no CRM call."""

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise `SignatureError` unless the delivery is signed by the CRM for this app."""
        ...

    def parse(self, body: bytes) -> Sequence[ChangeEvent]:
        """Raise `WebhookPayloadError` naming the problem when the body is not valid events."""
        ...
