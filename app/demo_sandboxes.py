"""The demo's CRMs: each one's sandbox, served in-process, seen through one small interface.

`app.demo` runs the same story on each (connect, backfill, live activity, latency); what differs
between CRMs lives here: how the sandbox is started and pointed at our receiver, how a
connection to it is described, what its backfill costs at least, and how Glengarry's writes
are seen landing in it.
"""

from __future__ import annotations

import math
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from app.sync.run import SyncReport
from connectors.crm import Crm, NewSettings
from connectors.hubspot.crm import CRM as HUBSPOT
from connectors.hubspot.crm import HubSpotCredentials
from connectors.hubspot.mapping import ENGAGEMENT_OBJECTS, SERVICE_OBJECTS
from connectors.hubspot.sandbox.config import SandboxConfig as HubSpotConfig
from connectors.hubspot.sandbox.server import SandboxServer as HubSpotServer
from connectors.hubspot.sandbox.store import Change, ChangeKind
from connectors.salesforce.crm import CRM as SALESFORCE
from connectors.salesforce.crm import PATH_TOKEN
from connectors.salesforce.realtime import FIELDS as OUTBOUND_FIELDS
from connectors.salesforce.sandbox.config import SandboxConfig as SalesforceConfig
from connectors.salesforce.sandbox.server import SandboxServer as SalesforceServer
from connectors.salesforce.sandbox.store import Record, Saved
from connectors.sandbox_kit import SeedMember

# Called for each of Glengarry's writes as it lands: the CRM id written, the new status when
# the write changed it (else None), and who the record is when the CRM says so (else None).
Landed = Callable[[str, str | None, str | None], None]


@dataclass(frozen=True)
class Deliveries:
    """What the sandbox's notification sender did: the figures a reader checks at the end."""

    delivered: int  # events (HubSpot) or notifications (Salesforce) acknowledged
    failed_attempts: int
    dropped: int
    pending: int
    noun: str  # "webhook events", "Outbound Messages"

    def line(self) -> str:
        return (
            f"{self.delivered:,} {self.noun} acknowledged, {self.failed_attempts} failed "
            f"attempts, {self.dropped} dropped, {self.pending} still queued"
        )


class DemoSandbox(Protocol):
    """One CRM's side of the demo; `serve` must be entered before anything else is used."""

    crm: Crm
    connection: str  # the demo's connection to it ("demo-hubspot")

    def serve(
        self, members: Iterable[SeedMember], receiver_url: str, seed: int
    ) -> AbstractContextManager[None]: ...

    def new_settings(self) -> NewSettings:
        """The credentials and options `connect` is given, as `glengarry connect` builds them."""
        ...

    def connected(self) -> str:
        """Called once connected (the notifications are set up then); a line for the reader."""
        ...

    @property
    def seeded(self) -> Mapping[str, str]:
        """Generated person's id -> the CRM id the sandbox gave it."""
        ...

    def floor(self, report: SyncReport) -> str:
        """The fewest calls the backfill could have made, explained, or ""."""
        ...

    def control(self) -> httpx.Client:
        """A client of the sandbox's own routes (`/_sandbox/...`: `simulate`, `dump`), which
        have the same paths and bodies in every sandbox."""
        ...

    def watch(self, landed: Landed) -> AbstractContextManager[None]:
        """While entered, `landed` is called as Glengarry's writes land (under the CRM's lock:
        it must be quick)."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until the CRM has delivered every notification it queued; False on time-out."""
        ...

    def deliveries(self) -> Deliveries: ...

    def attempts(self) -> list[dict[str, Any]]:
        """Every delivery attempt the sandbox logs, as its route lists them ([]: none kept)."""
        ...


# --- HubSpot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """The fewest calls a backfill can make with HubSpot's batch endpoints."""

    list_pages: int
    association_reads: int
    engagement_reads: int
    writes: int

    @property
    def total(self) -> int:
        return self.list_pages + self.association_reads + self.engagement_reads + self.writes


# Everything HubSpot's connector reads through associations: engagements, survey answers and
# tickets.
ASSOCIATED_OBJECTS = (*ENGAGEMENT_OBJECTS, *SERVICE_OBJECTS)


def backfill_floor(contacts: int, engagements: int, written: int) -> Floor:
    return Floor(
        list_pages=math.ceil(contacts / 100),
        association_reads=math.ceil(contacts / 1000) * len(ASSOCIATED_OBJECTS),
        engagement_reads=math.ceil(engagements / 100),
        writes=math.ceil(written / 100),
    )


class HubSpotDemo:
    crm: Crm = HUBSPOT
    connection = "demo-hubspot"

    def __init__(
        self,
        app_secret: str,
        portal_id: int | None = None,
        rate_limits: str = "pro",
        *,
        oauth: bool = False,
    ) -> None:
        self._app_secret = app_secret  # the sandbox signs its webhooks with it
        self._portal_id = portal_id  # None: the sandbox's own (several portals need their own)
        self._oauth = oauth  # connected as an OAuth app (refresh token) instead of a private app
        # The sandbox's limits profile; "off" also connects with no client-side limits (the
        # `unlimited` app type), so that a benchmark sees the pipeline's own pace.
        HubSpotConfig(rate_limits=rate_limits)  # an unknown profile is refused here, not later
        self._rate_limits = rate_limits
        self._server: HubSpotServer | None = None

    @property
    def server(self) -> HubSpotServer:
        assert self._server is not None, "serve() first"
        return self._server

    @contextmanager
    def serve(self, members: Iterable[SeedMember], receiver_url: str, seed: int) -> Iterator[None]:
        config = HubSpotConfig(
            rate_limits=self._rate_limits,
            seed=seed,
            client_secret=self._app_secret,
            webhook_url=f"{receiver_url}/webhooks/{self.crm.kind}/{self.connection}",
        )
        if self._portal_id is not None:
            config = replace(config, portal_id=self._portal_id)
        with HubSpotServer(config, members=members) as server:
            self._server = server
            try:
                yield
            finally:
                self._server = None

    def new_settings(self) -> NewSettings:
        server = self.server
        config = server.config
        access = (
            {
                "oauth_client_id": config.client_id,
                "oauth_client_secret": config.client_secret,
                "refresh_token": config.refresh_tokens[0],
            }
            if self._oauth
            else {"token": config.token}
        )
        credentials = HubSpotCredentials(**access, app_client_secret=self._app_secret)
        values = {"base_url": server.base_url}
        if self._rate_limits == "off":
            values["app_type"] = "unlimited"
        options = self.crm.settings(values, new=True).options
        return NewSettings(credentials.to_dict(), options)

    def connected(self) -> str:
        return f"portal {self.server.config.portal_id} at {self.server.base_url}"

    @property
    def seeded(self) -> Mapping[str, str]:
        return self.server.ids

    def floor(self, report: SyncReport) -> str:
        store = self.server.store
        engagements = sum(store.count(object_type) for object_type in ASSOCIATED_OBJECTS)
        floor = backfill_floor(report.pulled, engagements, report.relay.sent)
        ratio = report.api_calls / floor.total if floor.total else 0.0
        return (
            f"the floor is {floor.total:,} ({floor.list_pages} list pages + "
            f"{floor.association_reads} association reads + {floor.engagement_reads} engagement "
            f"reads + {floor.writes} writes): {ratio:.2f}x the floor"
        )

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.server.base_url}/_sandbox", timeout=10)

    @contextmanager
    def watch(self, landed: Landed) -> Iterator[None]:
        def on_change(change: Change) -> None:
            name = change.property_name or ""
            if change.kind is ChangeKind.PROPERTY_CHANGE and name.startswith("glengarry_"):
                status = change.property_value if name == "glengarry_status" else None
                landed(change.object_id, status, None)

        store = self.server.store
        store.subscribe(on_change)
        try:
            yield
        finally:
            store.unsubscribe(on_change)

    def flush(self, timeout: float) -> bool:
        return self.server.flush_webhooks(timeout)

    def deliveries(self) -> Deliveries:
        stats = self.server.stats()["webhooks"]
        return Deliveries(
            stats["delivered"],
            stats["failed_attempts"],
            stats["dropped"],
            stats["pending"],
            "webhook events",
        )

    def attempts(self) -> list[dict[str, Any]]:
        return []  # the HubSpot sandbox counts its deliveries (above) without a log


# --- Salesforce -------------------------------------------------------------------------------

# What the Outbound Messages are set up on: Lead and Contact (their Flows), with the fields
# Glengarry's set-up lists (a Lead's carry its values: no read), and Task and Event, so that a
# logged call or a meeting reaches Glengarry at once rather than at the next sync.
OUTBOUND_OBJECTS = ("Lead", "Contact", "Task", "Event")
STATUS_FIELD = "Glengarry_Status__c"


def _who(record: Record) -> str:
    """ "First Last (Title, Company)": a Lead converted during the demo is a Contact Glengarry
    had not read when the demo began."""
    who = f"{record.get('FirstName') or ''} {record.get('LastName') or ''}".strip() or record.id
    role = ", ".join(str(p) for p in (record.get("Title"), record.get("Company")) if p)
    return f"{who} ({role})" if role else who


class SalesforceDemo:
    crm: Crm = SALESFORCE
    connection = "demo-salesforce"

    def __init__(self, data_dir: Path, org_id: str | None = None) -> None:
        self._cert_dir = data_dir / "salesforce-sandbox"  # ca.pem, jwt-key.pem, ...
        self._org_id = org_id  # None: the sandbox's own (several orgs need their own)
        self._server: SalesforceServer | None = None
        self._receiver_url = ""
        self._token: str | None = None  # the path token, once `new_settings` made it

    @property
    def server(self) -> SalesforceServer:
        assert self._server is not None, "serve() first"
        return self._server

    def control(self) -> httpx.Client:
        trust = ssl.create_default_context(cafile=str(self.server.ca_file))
        return httpx.Client(
            base_url=f"{self.server.instance_url}/_sandbox", verify=trust, timeout=10
        )

    @contextmanager
    def serve(self, members: Iterable[SeedMember], receiver_url: str, seed: int) -> Iterator[None]:
        self._receiver_url = receiver_url
        config = SalesforceConfig(seed=seed, cert_dir=self._cert_dir)
        if self._org_id is not None:
            config = replace(config, org_id=self._org_id)
        with SalesforceServer(config, members=members) as server:
            self._server = server
            try:
                yield
            finally:
                self._server = None

    def new_settings(self) -> NewSettings:
        server = self.server
        values = {
            "instance_url": server.instance_url,
            "login_url": server.instance_url,
            "ca_bundle": server.ca_file,
            "client_id": server.config.client_id,
            "username": server.config.username,
            "jwt_key": server.jwt_key_file,
        }
        settings = self.crm.settings(values, new=True)
        # The path token `connect` would make, made here so the demo knows its URL.
        secrets = self.crm.completed(settings.secrets)
        self._token = str(secrets[PATH_TOKEN])
        return replace(settings, secrets=secrets)

    def connected(self) -> str:
        # As the admin does once connected: the Outbound Messages, to the connection's URL.
        url = f"{self._receiver_url}/webhooks/{self.crm.kind}/{self.connection}/{self._token}"
        with self.control() as control:
            for sobject in OUTBOUND_OBJECTS:
                body: dict[str, Any] = {"url": url, "sobject": sobject}
                if sobject in OUTBOUND_FIELDS:  # the sandbox's own choice for the others
                    body["fields"] = list(OUTBOUND_FIELDS[sobject])
                control.post("/outbound-message", json=body).raise_for_status()
        return (
            f"org {self.server.config.org_id} at {self.server.instance_url}; Outbound Messages "
            "on Lead, Contact, Task and Event"
        )

    @property
    def seeded(self) -> Mapping[str, str]:
        return self.server.ids

    def floor(self, report: SyncReport) -> str:
        return ""  # REST pages or Bulk jobs by size: the calls table says which

    @contextmanager
    def watch(self, landed: Landed) -> Iterator[None]:
        server = self.server
        integration_user = server.user.id
        lock = threading.Lock()
        with server.store.locked() as store:
            statuses = {
                r.id: r.get(STATUS_FIELD) for t in ("Lead", "Contact") for r in store.records(t)
            }

        def on_saved(saved: Saved) -> None:
            record = saved.record
            # Glengarry writes as the integration user and writes nothing but its own fields.
            if saved.system or saved.actor != integration_user:
                return
            if record.type not in ("Lead", "Contact"):
                return
            status = record.get(STATUS_FIELD)
            with lock:
                changed = statuses.get(record.id) != status
                statuses[record.id] = status
            landed(record.id, str(status) if changed and status is not None else None, _who(record))

        server.store.subscribe(on_saved)
        try:
            yield
        finally:
            server.store.unsubscribe(on_saved)

    def flush(self, timeout: float) -> bool:
        return self.server.flush_outbound(timeout)

    def deliveries(self) -> Deliveries:
        stats = self.server.stats()["outbound"]
        return Deliveries(
            stats["acknowledged"],
            stats["failed_attempts"],
            stats["dropped"],
            stats["queued"],
            "Outbound Message notifications",
        )

    def attempts(self) -> list[dict[str, Any]]:
        with self.control() as control:
            listed: list[dict[str, Any]] = control.get("/deliveries").json()["deliveries"]
        return listed


DEMO_CRMS = (HUBSPOT.kind, SALESFORCE.kind)  # the demo's order when it runs on every CRM
DEMO_CONNECTIONS = (HubSpotDemo.connection, SalesforceDemo.connection)


def demo_sandboxes(kinds: Iterable[str], *, app_secret: str, data_dir: Path) -> list[DemoSandbox]:
    """The demo's side of each CRM asked for, in the order given."""
    made: Mapping[str, Callable[[], DemoSandbox]] = {
        HUBSPOT.kind: lambda: HubSpotDemo(app_secret),
        SALESFORCE.kind: lambda: SalesforceDemo(data_dir),
    }
    return [made[kind]() for kind in kinds]
