"""The org's outbound message queue: notifications queued as records are saved, sent by one
background thread, retried until acknowledged or 24 hours old ("Understanding
Notifications", SOAP API Developer Guide; "Considerations for Outbound Messages", Salesforce
Help).

A save queues a notification (its own `04l` id, kept across retries) when the object has a
message, the save is not a system change (a roll-up such as `LastActivityDate`), and, unless
the message says otherwise, it was not made by the integration user. Saving never waits for
the network: the store's listener only appends to the queue. The thread waits a short
window so that a burst is batched, then sends up to 100 due notifications of one message in
one POST, reading the records' values at that moment (a record changed after queuing is sent
as it is now). An attempt that is not acknowledged puts its notifications back, each due
again after `backoff * 2**(attempts-1)` seconds, at most `max_backoff` (Salesforce: "up to a
maximum of two hours between retries"); a notification queued 24 hours ago on the org's clock
(which `/_sandbox/clock` advances) is dropped. Every attempt is kept in the delivery log (the
newest 10,000), recorded before anyone waiting on the queue is woken.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from connectors.salesforce.sandbox.clock import sf_datetime
from connectors.salesforce.sandbox.outbound import (
    CONTENT_TYPE,
    DEFAULT_FIELDS,
    MAX_NOTIFICATIONS,
    OBJECTS,
    SOAP_ACTION,
    Item,
    OutboundMessage,
    check_fields,
    check_url,
    refusal,
    render,
)
from connectors.salesforce.sandbox.store import Saved, Store

RETENTION = timedelta(hours=24)
LOG_SIZE = 10_000
_IDLE_WAIT = 0.25  # seconds: how often an idle sender looks at the clock (expiry)


@dataclass(slots=True)
class _Notification:
    id: str
    sobject: str
    record_id: str
    queued_at: datetime  # the org's clock
    due: float  # monotonic
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST to an endpoint and what came of it."""

    number: int
    sobject: str
    action_id: str
    url: str
    notification_ids: tuple[str, ...]
    record_ids: tuple[str, ...]
    attempt: int  # the highest attempt number among its notifications (1: the first)
    status: int | None  # None: no HTTP answer (refused, timed out)
    acknowledged: bool
    error: str | None
    sent_at: datetime
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "sobject": self.sobject,
            "action_id": self.action_id,
            "url": self.url,
            "notification_ids": list(self.notification_ids),
            "record_ids": list(self.record_ids),
            "attempt": self.attempt,
            "status": self.status,
            "acknowledged": self.acknowledged,
            "error": self.error,
            "sent_at": sf_datetime(self.sent_at),
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 7_200.0
    timeout_seconds: float = 60.0
    batch_window_seconds: float = 0.05
    # What a message gets when it is made without saying (SandboxConfig's outbound_*).
    send_session_id: bool = False
    skip_integration_user: bool = True


class Outbox:
    def __init__(
        self,
        store: Store,
        *,
        organization_id: str,
        integration_user: str,
        instance_url: Callable[[], str],
        session_id: Callable[[], str],
        settings: OutboxSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.organization_id = organization_id
        self.integration_user = integration_user
        self._instance_url = instance_url
        self._session_id = session_id
        self.settings = settings or OutboxSettings()
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._messages: dict[str, OutboundMessage] = {}
        self._queue: list[_Notification] = []
        self._in_flight = 0
        self._log: deque[Delivery] = deque(maxlen=LOG_SIZE)
        self._attempts = 0
        self._failed_attempts = 0
        self._acknowledged = 0
        self._dropped = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- set-up -------------------------------------------------------------------------------

    def messages(self) -> list[OutboundMessage]:
        with self._cond:
            return list(self._messages.values())

    def configure(
        self,
        sobjects: Iterable[str],
        url: str | None,
        *,
        fields: Iterable[object] | None = None,
        send_session_id: bool | None = None,
        skip_integration_user: bool | None = None,
    ) -> list[OutboundMessage]:
        """Create, change or (url None) delete the messages of some objects; ValueError names
        a bad object, field or URL. Notifications of a deleted message are dropped."""
        wanted: list[tuple[str, tuple[str, ...] | None]] = []
        for name in sobjects:
            obj = self.store.sobject(name)
            if obj is None or obj.name not in OBJECTS:
                raise ValueError(f"an outbound message can be set up on {', '.join(OBJECTS)}")
            wanted.append((obj.name, check_fields(obj, fields) if fields is not None else None))
        endpoint = check_url(url) if url is not None else None
        changed: list[OutboundMessage] = []
        with self._cond:
            for sobject, chosen in wanted:
                current = self._messages.get(sobject)
                if endpoint is None:
                    self._messages.pop(sobject, None)
                    self._drop(lambda n: n.sobject not in self._messages)
                    continue
                if current is None:
                    current = OutboundMessage(
                        sobject=sobject,
                        action_id=self.store.ids.new("04k"),  # WorkflowOutboundMessage
                        url=endpoint,
                        fields=DEFAULT_FIELDS[sobject],
                        send_session_id=self.settings.send_session_id,
                        skip_integration_user=self.settings.skip_integration_user,
                    )
                current = replace(
                    current,
                    url=endpoint,
                    fields=chosen if chosen is not None else current.fields,
                    send_session_id=(
                        current.send_session_id if send_session_id is None else send_session_id
                    ),
                    skip_integration_user=(
                        current.skip_integration_user
                        if skip_integration_user is None
                        else skip_integration_user
                    ),
                )
                self._messages[sobject] = current
                changed.append(current)
            self._cond.notify_all()
        return changed

    # --- queuing (the store's listener: called under the store's lock, so quick) ---------------

    def on_saved(self, saved: Saved) -> None:
        record = saved.record
        with self._cond:
            message = self._messages.get(record.type)
            if message is None or saved.system:
                return
            if message.skip_integration_user and saved.actor == self.integration_user:
                return
            self._queue.append(
                _Notification(
                    id=self.store.ids.new("04l"),  # an outbound message notification's prefix
                    sobject=record.type,
                    record_id=record.id,
                    queued_at=self.store.clock.now(),
                    due=self._monotonic() + self.settings.batch_window_seconds,
                )
            )
            self._start()
            self._cond.notify_all()

    # --- reading and waiting --------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._log)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "queued": len(self._queue) + self._in_flight,
                "attempts": self._attempts,
                "failed_attempts": self._failed_attempts,
                "acknowledged": self._acknowledged,
                "dropped": self._dropped,
            }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every notification is acknowledged or dropped; False on time-out."""
        return self._wait(lambda: not self._queue and not self._in_flight, timeout)

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least `count` attempts are in the log; False on time-out."""
        return self._wait(lambda: self._attempts >= count, timeout)

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = self._monotonic() + timeout
        with self._cond:
            while not done():
                left = deadline - self._monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, _IDLE_WAIT))
            return True

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- the sender thread ----------------------------------------------------------------------

    def _start(self) -> None:
        """Under the lock: the sender runs from the first notification on."""
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(
                target=self._run, name="salesforce-outbound", daemon=True
            )
            self._thread.start()

    def _drop(self, doomed: Callable[[_Notification], bool]) -> None:
        """Under the lock."""
        kept = [n for n in self._queue if not doomed(n)]
        self._dropped += len(self._queue) - len(kept)
        self._queue = kept

    def _expired(self, notification: _Notification, now: datetime) -> bool:
        return now - notification.queued_at >= RETENTION

    def _next_batch(self) -> tuple[OutboundMessage, list[_Notification]] | None:
        """Under the lock: up to 100 due notifications of one message, or None after a wait."""
        now = self.store.clock.now()
        self._drop(lambda n: self._expired(n, now) or n.sobject not in self._messages)
        moment = self._monotonic()
        due = sorted((n for n in self._queue if n.due <= moment), key=lambda n: n.due)
        if not due:
            waits = [n.due - moment for n in self._queue]
            self._cond.wait(min([_IDLE_WAIT, *waits]))
            return None
        sobject = due[0].sobject
        batch = [n for n in due if n.sobject == sobject][:MAX_NOTIFICATIONS]
        taken = {id(n) for n in batch}
        self._queue = [n for n in self._queue if id(n) not in taken]
        self._in_flight += len(batch)
        return self._messages[sobject], batch

    def _run(self) -> None:
        with httpx.Client(timeout=self.settings.timeout_seconds) as http:
            while self._send_one(http):
                pass

    def _send_one(self, http: httpx.Client) -> bool:
        """One turn of the sender: False once stopping."""
        with self._cond:
            if self._stopping:
                return False
            picked = self._next_batch()
        if picked is None:
            return True
        message, batch = picked
        started, sent_at = self._monotonic(), self.store.clock.now()
        status, error = self._deliver(http, message, batch)
        elapsed = int((self._monotonic() - started) * 1000)
        with self._cond:
            self._in_flight -= len(batch)
            for notification in batch:
                notification.attempts += 1
            self._attempts += 1
            self._log.append(
                Delivery(
                    number=self._attempts,
                    sobject=message.sobject,
                    action_id=message.action_id,
                    url=message.url,
                    notification_ids=tuple(n.id for n in batch),
                    record_ids=tuple(n.record_id for n in batch),
                    attempt=max(n.attempts for n in batch),
                    status=status,
                    acknowledged=error is None,
                    error=error,
                    sent_at=sent_at,
                    duration_ms=elapsed,
                )
            )
            if error is None:
                self._acknowledged += len(batch)
            else:
                self._failed_attempts += 1
                self._retry(batch)
            self._cond.notify_all()
        return True

    def _retry(self, batch: list[_Notification]) -> None:
        """Under the lock: back in the queue, each due after its own backoff."""
        settings = self.settings
        now, moment = self.store.clock.now(), self._monotonic()
        for notification in batch:
            if self._expired(notification, now) or notification.sobject not in self._messages:
                self._dropped += 1
                continue
            wait = settings.backoff_seconds * 2 ** (notification.attempts - 1)
            notification.due = moment + min(wait, settings.max_backoff_seconds)
            self._queue.append(notification)

    def _deliver(
        self, http: httpx.Client, message: OutboundMessage, batch: list[_Notification]
    ) -> tuple[int | None, str | None]:
        """Outside the lock: (HTTP status or None, None if acknowledged or why not)."""
        items = []
        with self.store.locked():
            for notification in batch:
                record = self.store.get(message.sobject, notification.record_id)
                values = dict(record.values) if record is not None else None
                items.append(Item(notification.id, notification.record_id, values))
        body = render(
            message,
            items,
            organization_id=self.organization_id,
            instance_url=self._instance_url(),
            session_id=self._session_id() if message.send_session_id else None,
        )
        try:
            response = http.post(
                message.url,
                content=body,
                headers={
                    "Content-Type": CONTENT_TYPE,
                    "SOAPAction": SOAP_ACTION,
                    "User-Agent": "Salesforce Outbound Messaging (Glengarry sandbox)",
                },
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, f"no answer: {type(exc).__name__}: {exc}"
        return response.status_code, refusal(response.status_code, response.content)
