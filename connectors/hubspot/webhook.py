"""HubSpot webhook deliveries: verified (v3 by default, v1/v2 where configured) and parsed.

No CRM call happens here: the receiver verifies, parses and stores, and the worker does the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from connectors.base import ChangeEvent, ChangeKind
from connectors.errors import SignatureError, WebhookPayloadError
from connectors.hubspot.mapping import ENGAGEMENT_OBJECTS, SERVICE_OBJECTS
from connectors.hubspot.signature import (
    LEGACY_SIGNATURE_HEADER,
    V3_SIGNATURE_HEADER,
    V3_TIMESTAMP_HEADER,
    verify_v1,
    verify_v2,
    verify_v3,
)
from connectors.payload import PayloadError, load_json


class SignatureVersion(StrEnum):
    V3 = "v3"
    V2 = "v2"
    V1 = "v1"


SUBSCRIPTIONS: Mapping[str, ChangeKind] = {
    "contact.creation": ChangeKind.CREATED,
    "contact.propertyChange": ChangeKind.PROPERTY_CHANGED,
    "contact.deletion": ChangeKind.DELETED,
    "contact.restore": ChangeKind.RESTORED,
    "contact.merge": ChangeKind.MERGED,
    "contact.privacyDeletion": ChangeKind.PRIVACY_DELETED,
    "contact.associationChange": ChangeKind.ASSOCIATION_CHANGED,
}
# What became of contacts, said by the deal, ticket or feedback submission that changed: the
# worker re-reads the contacts associated with it (`related_id`), so a deal won, a ticket
# closed or a survey answered reaches the outcomes and the score without a sync. Legacy
# subscriptions for deals and tickets ("Webhooks API": deal.* and ticket.*); feedback
# submissions only through the generic `object.*` subscriptions (public beta since August
# 2024), which name the type by `objectTypeId`. Deletions, merges and restores of these are
# left to the sync: their associations are gone by then.
RELATED_SUBSCRIPTIONS: Mapping[str, ChangeKind] = {
    "deal.creation": ChangeKind.CREATED,
    "deal.propertyChange": ChangeKind.PROPERTY_CHANGED,
    "deal.associationChange": ChangeKind.ASSOCIATION_CHANGED,
    "ticket.creation": ChangeKind.CREATED,
    "ticket.propertyChange": ChangeKind.PROPERTY_CHANGED,
    "ticket.associationChange": ChangeKind.ASSOCIATION_CHANGED,
}
GENERIC_SUBSCRIPTIONS: Mapping[str, ChangeKind] = {
    "object.creation": ChangeKind.CREATED,
    "object.propertyChange": ChangeKind.PROPERTY_CHANGED,
    "object.associationChange": ChangeKind.ASSOCIATION_CHANGED,
}
_LEGACY_TYPES = {"deal": "deals", "ticket": "tickets"}
# objectTypeId -> object type ("0-3" deals, "0-5" tickets, "0-19" feedback submissions).
OBJECT_TYPE_IDS: Mapping[str, str] = {
    "0-3": "deals",
    "0-5": "tickets",
    "0-19": "feedback_submissions",
}
RELATED_SEPARATOR = ":"  # never in a HubSpot id, which is a number


def related_id(object_type: str, object_id: str) -> str:
    """The event's `crm_id` for a record that is not a contact: `deals:123`."""
    return f"{object_type}{RELATED_SEPARATOR}{object_id}"


# contact.associationChange's associationType for records a contact's activities are read from
# ("CONTACT_TO_CALL" -> calls): such an association added names the one record to read.
_NAMED_TYPES: Mapping[str, str] = {
    f"CONTACT_TO_{object_type[:-1].upper()}": object_type
    for object_type in (*ENGAGEMENT_OBJECTS, *SERVICE_OBJECTS)
}


def named_record(event: ChangeEvent) -> str | None:
    """The activity record (`calls:17`) a contact.associationChange event says was associated
    with the contact, to be read alone; None for anything else (a removal, a company, a deal:
    the contact is read whole)."""
    raw = event.raw
    if raw.get("subscriptionType") != "contact.associationChange":
        return None
    if raw.get("associationRemoved") is not False:  # a removal, or not said: read it all
        return None
    object_type = _NAMED_TYPES.get(str(raw.get("associationType") or ""))
    target = raw.get("toObjectId")
    if object_type is None:
        return None
    if not isinstance(target, int) or isinstance(target, bool) or target < 0:
        return None
    return related_id(object_type, str(target))


def split_related(crm_id: str) -> tuple[str, str] | None:
    """(object type, id) of a `related_id`; None for a contact's id."""
    object_type, separator, object_id = crm_id.partition(RELATED_SEPARATOR)
    return (object_type, object_id) if separator else None


# HubSpot ids are Java longs; bounding them keeps every id within the 64-character columns.
HubSpotId = Annotated[int, Field(ge=0, le=2**63 - 1)]
# Epoch milliseconds from 2000 to 2100: a time outside it is no real change, and would overflow
# the date arithmetic downstream.
EARLIEST_MS = 946_684_800_000
LATEST_MS = 4_102_444_800_000


class HubSpotEvent(BaseModel):
    """One event of a delivery, as HubSpot documents it; unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow")

    eventId: HubSpotId
    subscriptionId: HubSpotId
    portalId: Annotated[int, Field(ge=1, le=2**63 - 1)]
    appId: HubSpotId | None = None
    occurredAt: Annotated[int, Field(ge=EARLIEST_MS, lt=LATEST_MS)]
    subscriptionType: str = Field(min_length=1)
    attemptNumber: int = 0
    objectId: HubSpotId | None = None
    propertyName: str | None = None
    propertyValue: str | None = None
    changeSource: str | None = None
    changeFlag: str | None = None
    primaryObjectId: HubSpotId | None = None
    mergedObjectIds: list[HubSpotId] = Field(default_factory=list)
    newObjectId: HubSpotId | None = None
    # Association changes name both ends instead of `objectId`; for contact.associationChange
    # the contact is the `from` end.
    fromObjectId: HubSpotId | None = None
    toObjectId: HubSpotId | None = None
    associationType: str | None = None
    objectTypeId: str | None = None  # generic `object.*` subscriptions: "0-3" for deals


_DELIVERY = TypeAdapter(list[HubSpotEvent])


def dedup_key(raw: Mapping[str, Any]) -> str:
    """HubSpot's `eventId` is not unique: the event's content without its attempt number is."""
    stable = {k: v for k, v in raw.items() if k != "attemptNumber"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def public_url(url: str, headers: Mapping[str, str]) -> str:
    """The URL HubSpot called (and signed), rebuilt from a proxy's forwarded headers."""
    parts = urlsplit(url)
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme = lowered.get("x-forwarded-proto", parts.scheme).split(",")[0].strip()
    netloc = lowered.get("x-forwarded-host", parts.netloc).split(",")[0].strip()
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


class HubSpotWebhooks:
    """The `WebhookSource` of one HubSpot app (its client secret signs every delivery)."""

    def __init__(
        self,
        client_secret: str,
        *,
        version: SignatureVersion = SignatureVersion.V3,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secret = client_secret
        self.version = version
        self._now = now

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        uri = public_url(url, headers)
        if self.version is SignatureVersion.V3:
            verify_v3(
                self._secret,
                method,
                uri,
                body,
                lowered.get(V3_TIMESTAMP_HEADER.lower()),
                lowered.get(V3_SIGNATURE_HEADER.lower()),
                self._now(),
            )
            return
        signature = lowered.get(LEGACY_SIGNATURE_HEADER.lower())
        if self.version is SignatureVersion.V2:
            verify_v2(self._secret, method, uri, body, signature)
        elif self.version is SignatureVersion.V1:
            verify_v1(self._secret, body, signature)
        else:  # pragma: no cover - the enum has three members
            raise SignatureError(f"unknown signature version {self.version}")

    def parse(self, body: bytes) -> Sequence[ChangeEvent]:
        return parse_delivery(body)


def parse_delivery(body: bytes) -> list[ChangeEvent]:
    """Contact events of a delivery, and deal, ticket and feedback submission events (about
    that record: `related_id`); other object types are left out (nothing to qualify)."""
    try:
        raw = load_json(body)
    except PayloadError as exc:
        raise WebhookPayloadError(f"body refused: {exc}") from None
    if not isinstance(raw, list):
        raise WebhookPayloadError("body must be a JSON array of events")
    try:
        events = _DELIVERY.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise WebhookPayloadError(f"event {where}: {first['msg']}") from None
    parsed: list[ChangeEvent] = []
    for source, event in zip(raw, events, strict=True):
        related = _related(event, source)
        if related is not None:
            parsed.append(related)
            continue
        kind = SUBSCRIPTIONS.get(event.subscriptionType)
        if kind is None:
            continue
        if kind is ChangeKind.MERGED:
            target = event.newObjectId or event.primaryObjectId or event.objectId
            merged = tuple(str(i) for i in event.mergedObjectIds if i != target)
        elif kind is ChangeKind.ASSOCIATION_CHANGED:
            target, merged = event.objectId or event.fromObjectId, ()
        else:
            target, merged = event.objectId, ()
        if target is None:
            raise WebhookPayloadError(
                f"{event.subscriptionType} event {event.eventId} has no object"
            )
        parsed.append(
            ChangeEvent(
                dedup_key=dedup_key(source),
                account_id=str(event.portalId),
                kind=kind,
                crm_id=str(target),
                occurred_at=datetime.fromtimestamp(event.occurredAt / 1000, tz=UTC),
                property_name=event.propertyName,
                property_value=event.propertyValue,
                merged_crm_ids=merged,
                raw=source,
            )
        )
    return parsed


def _related(event: HubSpotEvent, source: Mapping[str, Any]) -> ChangeEvent | None:
    """A deal, ticket or feedback submission event, about that record; None otherwise."""
    kind = RELATED_SUBSCRIPTIONS.get(event.subscriptionType)
    if kind is not None:
        object_type = _LEGACY_TYPES[event.subscriptionType.partition(".")[0]]
    else:
        kind = GENERIC_SUBSCRIPTIONS.get(event.subscriptionType)
        object_type = OBJECT_TYPE_IDS.get(event.objectTypeId or "", "")
        if kind is None or not object_type:
            return None
    target = event.objectId or event.fromObjectId
    if target is None:
        raise WebhookPayloadError(f"{event.subscriptionType} event {event.eventId} has no object")
    return ChangeEvent(
        dedup_key=dedup_key(source),
        account_id=str(event.portalId),
        kind=kind,
        crm_id=related_id(object_type, str(target)),
        occurred_at=datetime.fromtimestamp(event.occurredAt / 1000, tz=UTC),
        property_name=event.propertyName,
        property_value=event.propertyValue,
        raw=source,
    )
