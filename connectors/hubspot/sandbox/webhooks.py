"""Webhook deliveries: the store's changes as HubSpot's events, POSTed in signed batches.

Each contact change becomes an event (`contact.creation`, `.propertyChange`, `.deletion`,
`.merge`, `.restore`, `.privacyDeletion`, `.associationChange`); a deal's or ticket's creation
and changes of what says it was won, lost or closed become `deal.*` / `ticket.*` events, a
feedback submission's creation a generic `object.creation` (objectTypeId 0-19). A background
thread sends them as JSON arrays of at most 100, signed v3 (and v1, as HubSpot also sends)
with the app's client secret. A non-2xx answer or a connection error retries the batch with
exponential backoff (`base * 2**(attempt-1)`), `attemptNumber` counting up from 0, for at most
`max_attempts` attempts. `flush(timeout)` waits until nothing is queued, in flight or awaiting a
retry. HubSpot does not promise order ("use occurredAt"): `order(paused=..., newest_first=...)`
holds deliveries back (events queue up) and sends each batch newest first, as a test needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.hubspot.sandbox.store import SYSTEM_PROPERTIES, Change, ChangeKind
from connectors.hubspot.signature import (
    LEGACY_SIGNATURE_HEADER,
    LEGACY_VERSION_HEADER,
    V3_SIGNATURE_HEADER,
    V3_TIMESTAMP_HEADER,
    sign_v1,
    sign_v3,
)

BATCH_SIZE = 100
SUBSCRIPTION_IDS = {
    "contact.creation": 1_001,
    "contact.deletion": 1_002,
    "contact.propertyChange": 1_003,
    "contact.merge": 1_004,
    "contact.restore": 1_005,
    "contact.privacyDeletion": 1_006,
    "contact.associationChange": 1_007,
    "deal.creation": 1_101,
    "deal.propertyChange": 1_102,
    "ticket.creation": 1_201,
    "ticket.propertyChange": 1_202,
    "object.creation": 1_301,  # generic (beta): feedback submissions
}
# Deal and ticket events, as an app subscribed to these properties gets them (what says a
# deal was won or lost, a ticket closed); feedback submissions only by the generic
# `object.creation` (objectTypeId 0-19): HubSpot has no legacy subscription for them.
RELATED_PROPERTIES = {
    "deals": frozenset({"dealstage", "hs_is_closed", "hs_is_closed_won", "closedate", "amount"}),
    "tickets": frozenset({"hs_pipeline_stage", "hs_ticket_priority", "closed_date"}),
}
_LEGACY = {"deals": "deal", "tickets": "ticket"}
_GENERIC = {"feedback_submissions": "0-19"}
_CHANGE_FLAGS = {
    ChangeKind.CREATION: "NEW",
    ChangeKind.PROPERTY_CHANGE: "UPDATED",
    ChangeKind.DELETION: "DELETED",
    ChangeKind.RESTORE: "RESTORED",
    ChangeKind.MERGE: "MERGED",
    ChangeKind.PRIVACY_DELETION: "DELETED",
}


class EventFactory:
    """Builds HubSpot event payloads; `None` when nobody subscribed to the change."""

    def __init__(
        self, *, portal_id: int, app_id: int, subscribed_properties: Iterable[str] | None
    ) -> None:
        self.portal_id = portal_id
        self.app_id = app_id
        self.subscribed = None if subscribed_properties is None else set(subscribed_properties)
        self._next_event_id = 1
        self._lock = threading.Lock()

    def subscribes_to(self, change: Change) -> bool:
        if change.object_type in RELATED_PROPERTIES:
            if change.kind is ChangeKind.PROPERTY_CHANGE:
                return change.property_name in RELATED_PROPERTIES[change.object_type]
            return change.kind is ChangeKind.CREATION
        if change.object_type in _GENERIC:
            return change.kind is ChangeKind.CREATION
        if change.object_type != "contacts":
            return False
        if change.kind is ChangeKind.PROPERTY_CHANGE:
            name = change.property_name or ""
            if self.subscribed is None:
                return name not in SYSTEM_PROPERTIES
            return name in self.subscribed
        return True

    def event(self, change: Change) -> dict[str, Any] | None:
        if not self.subscribes_to(change):
            return None
        if change.object_type in _GENERIC:
            subscription_type = f"object.{change.kind.value}"
        else:
            prefix = _LEGACY.get(change.object_type, "contact")
            subscription_type = f"{prefix}.{change.kind.value}"
        with self._lock:
            event_id = self._next_event_id
            self._next_event_id += 1
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": SUBSCRIPTION_IDS[subscription_type],
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": int(change.occurred_at.timestamp() * 1000),
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": int(change.object_id),
            "changeSource": change.source,
        }
        if change.object_type in _GENERIC:
            event["objectTypeId"] = _GENERIC[change.object_type]
        flag = _CHANGE_FLAGS.get(change.kind)
        if flag is not None:
            event["changeFlag"] = flag
        if change.kind is ChangeKind.PROPERTY_CHANGE:
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value or ""
        for key, value in change.details.items():
            if key.endswith("ObjectId") and isinstance(value, str) and value.isdigit():
                event[key] = int(value)
            elif key == "mergedObjectIds":
                event[key] = [int(v) for v in value]
            else:
                event[key] = value
        return event


@dataclass
class _Batch:
    events: list[dict[str, Any]]
    attempt: int = 0  # attempts made so far
    due: float = 0.0


class WebhookDispatcher:
    """Queues events and delivers them from one background thread."""

    def __init__(
        self,
        url: str,
        client_secret: str,
        *,
        backoff_seconds: float = 1.0,
        max_attempts: int = 10,
        batch_window_seconds: float = 0.05,
        timeout_seconds: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._secret = client_secret
        self._backoff = backoff_seconds
        self._max_attempts = max_attempts
        self._window = batch_window_seconds
        self._monotonic = monotonic
        self._http = httpx.Client(timeout=timeout_seconds, transport=transport)
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, dict[str, Any]]] = deque()
        self._retries: list[_Batch] = []
        self._in_flight = 0
        self._stopping = False
        self._paused = False
        self._newest_first = False
        self.delivered = 0
        self.failed_attempts = 0
        self.dropped = 0
        # The delivery log: every event a 2xx answered, in order (a redelivered one twice).
        self._acknowledged: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._http.close()

    def enqueue(self, event: dict[str, Any]) -> None:
        with self._cond:
            self._queue.append((self._monotonic(), event))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self._pending()

    def order(
        self, *, paused: bool | None = None, newest_first: bool | None = None
    ) -> dict[str, bool]:
        """Hold deliveries back (`paused`), send each batch newest first; the modes after."""
        with self._cond:
            if paused is not None:
                self._paused = paused
            if newest_first is not None:
                self._newest_first = newest_first
            self._cond.notify_all()
            return {"paused": self._paused, "newest_first": self._newest_first}

    def _pending(self) -> int:
        return len(self._queue) + sum(len(b.events) for b in self._retries) + self._in_flight

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "delivered": self.delivered,
                "failed_attempts": self.failed_attempts,
                "pending": self._pending(),
                "dropped": self.dropped,
            }

    def acknowledged(self) -> list[int]:
        """The ids of the events the receiver answered 2xx, in delivery order."""
        with self._cond:
            return [event["eventId"] for event in self._acknowledged]

    def acknowledged_events(self) -> list[dict[str, Any]]:
        """The events the receiver answered 2xx, as sent (a test replays them)."""
        with self._cond:
            return [dict(event) for event in self._acknowledged]

    def reset_stats(self) -> None:
        with self._cond:
            self.delivered = self.failed_attempts = self.dropped = 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event is delivered or given up on; False on time-out."""
        deadline = self._monotonic() + timeout
        with self._cond:
            while self._pending():
                left = deadline - self._monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    # --- the delivery thread ------------------------------------------------------------------

    def _next_batch(self) -> _Batch | None:
        """Under the lock: a batch to send now, or None after waiting a little."""
        if self._paused and not self._stopping:
            self._cond.wait(0.5)
            return None
        now = self._monotonic()
        due = [batch for batch in self._retries if batch.due <= now]
        if due:
            batch = min(due, key=lambda b: b.due)
            self._retries.remove(batch)
            return batch
        waits = [batch.due - now for batch in self._retries]
        if self._queue:
            oldest = self._queue[0][0]
            if len(self._queue) >= BATCH_SIZE or now - oldest >= self._window or self._stopping:
                events = [
                    self._queue.popleft()[1] for _ in range(min(BATCH_SIZE, len(self._queue)))
                ]
                if self._newest_first:
                    events.reverse()  # queued as they happened
                return _Batch(events)
            waits.append(oldest + self._window - now)
        self._cond.wait(min([0.5, *waits]) if waits else 0.5)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                batch = self._next_batch()
                if batch is None:
                    continue
                self._in_flight += len(batch.events)
            ok = self._deliver(batch)
            with self._cond:
                self._in_flight -= len(batch.events)
                batch.attempt += 1
                if ok:
                    self.delivered += len(batch.events)
                    self._acknowledged.extend(batch.events)
                else:
                    self.failed_attempts += 1
                    if batch.attempt < self._max_attempts:
                        batch.due = self._monotonic() + self._backoff * 2 ** (batch.attempt - 1)
                        self._retries.append(batch)
                    else:
                        self.dropped += len(batch.events)
                self._cond.notify_all()

    def _deliver(self, batch: _Batch) -> bool:
        events = [{**event, "attemptNumber": batch.attempt} for event in batch.events]
        body = json.dumps(events, separators=(",", ":")).encode()
        timestamp = int(datetime.now(UTC).timestamp() * 1000)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - Glengarry sandbox",
            V3_SIGNATURE_HEADER: sign_v3(self._secret, "POST", self.url, body, timestamp),
            V3_TIMESTAMP_HEADER: str(timestamp),
            LEGACY_SIGNATURE_HEADER: sign_v1(self._secret, body),
            LEGACY_VERSION_HEADER: "v1",
        }
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return response.is_success
