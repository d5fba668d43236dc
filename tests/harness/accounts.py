"""CRM accounts for the scaled set-up: sandboxes (the demo's, served in the test's process)
whose notifications go to the cluster's balancer, each connected under its own name; and the
checks every reliability test ends with: every acknowledged notification stored and processed,
no outbox row failed, `glengarry verify` finding no drift, and the sandbox's own dump equal to
the dump of a clean run of the same scenario."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.connections import connect
from app.demo_sandboxes import DemoSandbox, HubSpotDemo, SalesforceDemo
from app.models import Connection, Contact, InboxEvent, OutboxEntry, OutboxState, SyncRun
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import SyncRunner
from app.worker.jobs import decay, relay
from connectors.salesforce.sandbox.ids import to18
from connectors.sandbox_kit import SeedMember
from qualification.criteria import default_criteria
from qualification.population import generate_population
from tests.harness.cluster import Cluster
from tests.harness.services import until

APP_SECRET = "harness-app-secret"
# What the scenarios' simulated reps do: activities the CRM keeps as records of their own. A
# page view, an email open or click, a form submission is kept by HubSpot only as a contact's
# "last ... date" property (and by Salesforce as one campaign membership): real time sees each
# new value, a later read only the last, so the clean run could not tell what the live one saw.
RECORDED_KINDS = {
    "hubspot": ("call", "meeting", "email_reply", "chat"),
    "salesforce": ("call", "meeting", "email_reply", "title", "convert"),
}
_SCORING = default_criteria()  # what the cluster and the clean run qualify with
# A write follows the score (or the status, or the top reasons): a move smaller than the write
# delta is not written, so two histories may leave the scores that far apart, and the fit and
# the engagement the score is made of (fit_weight * fit + engagement_weight * engagement) as
# far as the delta over their weight: a call that lifts the engagement by 7 lifts the score by
# 3 or 4, and is written by neither (the clean run, reading it with the rest, writes it).
SCORE_DELTA = _SCORING.thresholds.score_write_delta
_PARTS = {"fit": _SCORING.score.fit_weight, "engagement": _SCORING.score.engagement_weight}


def people(count: int, seed: int) -> list[SeedMember]:
    end = datetime.now(UTC)
    return list(generate_population(count, seed, end - timedelta(days=90), end))


_numbers = itertools.count(1)


def sandbox(
    kind: str,
    name: str,
    folder: Path,
    number: int,
    hubspot_limits: str = "pro",
    *,
    hubspot_oauth: bool = False,
) -> DemoSandbox:
    """The demo's sandbox of `kind` as account `number`: its own portal or org id, so that
    several accounts of one CRM connect side by side (a twin reuses its account's number).
    `hubspot_limits`: a HubSpot portal's rate-limit profile ("off" for a benchmark);
    `hubspot_oauth`: a portal connected as an OAuth app (a refresh token) instead of a
    private app's token."""
    side: DemoSandbox
    if kind == "hubspot":
        side = HubSpotDemo(
            APP_SECRET,
            portal_id=90_000_100 + number,
            rate_limits=hubspot_limits,
            oauth=hubspot_oauth,
        )
    else:
        side = SalesforceDemo(folder / name, org_id=to18(f"00D5e{number:010d}"))
    side.connection = name
    return side


@dataclass
class Account:
    """One sandbox account, connected to the cluster as connection `side.connection`."""

    side: DemoSandbox
    number: int
    simulations: list[dict[str, Any]] = field(default_factory=list)
    edits: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # a rep's, by hand
    seeded: frozenset[str] = frozenset()  # the dump's keys before the scenario began

    @property
    def name(self) -> str:
        return self.side.connection

    def simulate(self, contacts: int, events: int) -> list[str]:
        body: dict[str, Any] = {
            "contacts": contacts,
            "events_per_contact": events,
            "kinds": list(RECORDED_KINDS[self.side.crm.kind]),
        }
        self.simulations.append(body)
        with self.side.control() as control:
            answer = control.post("/simulate", json=body)
            answer.raise_for_status()
            touched: list[str] = answer.json()["contact_ids"]
        return touched

    def edit(self, contact_id: str, properties: dict[str, str]) -> None:
        """A HubSpot rep changing a contact by hand, now; the clean run makes the same changes
        after its simulations."""
        assert self.side.crm.kind == "hubspot", "a HubSpot portal's contacts only"
        server: Any = getattr(self.side, "server")  # noqa: B009 - the HubSpot demo's
        server.runtime.store.update("contacts", contact_id, properties, source="CRM_UI")
        self.edits.append((contact_id, properties))

    def dump(self) -> dict[str, dict[str, Any]]:
        with self.side.control() as control:
            records = control.get("/dump").json()["records"]
        return {f"{r['type']}/{r['id']}": r["fields"] for r in records}

    def faults(self, **settings: Any) -> None:
        with self.side.control() as control:
            control.post("/faults", json=settings).raise_for_status()

    def hold(self, *routes: str) -> None:
        with self.side.control() as control:
            for route in routes:
                answer = control.post("/hold", json={"route": route})
                assert answer.status_code == 200, answer.text

    def release(self) -> int:
        with self.side.control() as control:
            answer = control.post("/release", json={})
            answer.raise_for_status()
            return int(answer.json()["released"])

    def held_clients(self) -> list[str]:
        """Who made the calls waiting on held routes ("host:port" each)."""
        with self.side.control() as control:
            clients = control.get("/stats").json()["held"]["clients"]
        return [client for waiting in clients.values() for client in waiting]

    def acknowledged(self) -> set[str]:
        """The ids of the notifications the receiver answered 2xx, as the sandbox logged them."""
        server: Any = getattr(self.side, "server")  # noqa: B009 - both demo sandboxes have it
        if self.side.crm.kind == "hubspot":
            return {str(i) for i in server.runtime.webhooks.acknowledged()}
        return {
            notification
            for delivery in self.side.attempts()
            if delivery["acknowledged"] and delivery["sobject"] in _STORED_SOBJECTS
            for notification in delivery["notification_ids"]
        }


_STORED_SOBJECTS = frozenset({"Lead", "Contact", "Task", "Event"})


def _event_id(kind: str, raw: Mapping[str, Any]) -> str:
    return str(raw.get("eventId") if kind == "hubspot" else raw.get("notification_id"))


@contextmanager
def accounts(
    cluster: Cluster,
    specs: Sequence[tuple[str, str]],
    members: Sequence[SeedMember],
    seed: int,
    *,
    backfill: bool = True,
    hubspot_limits: str = "pro",
    hubspot_oauth: bool = False,
) -> Iterator[list[Account]]:
    """Serve one sandbox per (kind, name), each seeded with `members`, connected and (unless
    told not to) backfilled through the cluster: a full sync asked of the operations API, run
    by a worker. HubSpot portals connect as OAuth apps with `hubspot_oauth` (their clean runs
    with a private app's token: how one logs in does not change what is written)."""
    made = []
    for kind, name in specs:
        number = next(_numbers)
        side = sandbox(
            kind,
            name,
            cluster.root / "orgs",
            number,
            hubspot_limits,
            hubspot_oauth=hubspot_oauth,
        )
        made.append(Account(side, number))
    with ExitStack() as stack:
        for account in made:
            stack.enter_context(account.side.serve(members, cluster.public_url, seed))
        runtime = cluster.runtime()
        for account in made:
            settings = account.side.new_settings()
            asyncio.run(
                connect(
                    runtime,
                    account.side.crm,
                    name=account.name,
                    secrets=settings.secrets,
                    options=settings.options,
                )
            )
            account.side.connected()  # the notifications, set up as the admin would
        if backfill:
            for account in made:
                # The schedule may have started the backfill first: a connection never synced
                # is due at the next minute's tick, and that run is the same full read.
                request_sync(cluster, account.name, scheduled_backfill_counts=True)
            for account in made:
                wait_for_sync(runtime, account.name)
        for account in made:
            account.seeded = frozenset(account.dump())
        try:
            yield made
        finally:  # gone with its sandbox: no scheduled sync may try a CRM that is not there
            with cluster.api() as api:
                for account in made:
                    api.delete(f"/connections/{account.name}")


def request_sync(
    cluster: Cluster, name: str, kind: str = "full", *, scheduled_backfill_counts: bool = False
) -> int:
    """The operator's request for a sync; its run's id. `scheduled_backfill_counts`: a
    backfill the schedule is already running (409, one at a time) is taken for it."""
    with cluster.api() as api:
        answer = api.post(f"/connections/{name}/syncs", json={"kind": kind})
    if scheduled_backfill_counts and answer.status_code == 409:
        error = answer.json()["error"]
        if error["code"] == "sync_running" and error["details"]["kind"] == "backfill":
            return int(error["details"]["id"])
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def wait_for_sync(
    runtime: Runtime, name: str, seconds: float = 180, *, must_succeed: bool = True
) -> None:
    """Until the connection's last run has ended (and succeeded, unless told otherwise)."""
    last: list[SyncRun] = []

    def ended() -> bool:
        with runtime.sessions() as session:
            run = session.scalars(
                select(SyncRun)
                .join(Connection, Connection.id == SyncRun.connection_id)
                .where(Connection.name == name)
                .order_by(SyncRun.id.desc())
                .limit(1)
            ).first()
            last[:] = [run] if run is not None else []
            return run is not None and run.finished_at is not None

    until(ended, f"{name}'s sync ends", seconds)
    if must_succeed:
        assert last[0].state == "succeeded", f"{name}: {last[0].state}: {last[0].error}"


def settle(runtime: Runtime, made: Sequence[Account], seconds: float = 180) -> None:
    """Until every sandbox of `made` has delivered what it queued, and nothing of theirs is
    left to process or write: no unprocessed inbox event, no pending outbox row, no sync
    running (other accounts' work is not waited for)."""
    mine = select(Connection.id).where(Connection.name.in_([a.name for a in made]))

    def quiet() -> bool:
        if not all(account.side.flush(0.05) for account in made):
            return False
        with runtime.sessions() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(InboxEvent)
                .where(InboxEvent.processed_at.is_(None), InboxEvent.connection_id.in_(mine))
            )
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(
                    OutboxEntry.state == OutboxState.PENDING, OutboxEntry.connection_id.in_(mine)
                )
            )
            running = session.scalar(
                select(func.count())
                .select_from(SyncRun)
                .where(SyncRun.finished_at.is_(None), SyncRun.connection_id.in_(mine))
            )
        return not (waiting or pending or running)

    names = ", ".join(a.name for a in made)
    until(quiet, f"{names} settle (inbox, outbox and syncs empty)", seconds)


@dataclass
class Findings:
    """What the end-of-test checks found; each list empty when all is well."""

    lost: list[str] = field(default_factory=list)  # acknowledged, never stored
    unprocessed: list[str] = field(default_factory=list)  # stored, never processed
    failed_writes: list[str] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)  # `glengarry verify` output per account
    differs: dict[str, list[str]] = field(default_factory=dict)  # dump against the clean run

    def __bool__(self) -> bool:
        return bool(
            self.lost or self.unprocessed or self.failed_writes or self.drift or self.differs
        )


def check(
    cluster: Cluster, made: Sequence[Account], members: Sequence[SeedMember], seed: int
) -> Findings:
    runtime = cluster.runtime()
    found = Findings()
    with runtime.sessions() as session:
        for account in made:
            kind = account.side.crm.kind
            rows = session.execute(
                select(InboxEvent.event, InboxEvent.processed_at)
                .join(Connection, Connection.id == InboxEvent.connection_id)
                .where(Connection.name == account.name)
            ).all()
            stored = {_event_id(kind, event.get("raw") or {}): done for event, done in rows}
            for event_id in sorted(account.acknowledged()):
                if event_id not in stored:
                    found.lost.append(f"{account.name}: {event_id}")
                elif stored[event_id] is None:
                    found.unprocessed.append(f"{account.name}: {event_id}")
        failed = session.execute(
            select(Connection.name, OutboxEntry.contact_id, OutboxEntry.last_error)
            .join(Connection, Connection.id == OutboxEntry.connection_id)
            .join(Contact, Contact.id == OutboxEntry.contact_id)
            .where(
                OutboxEntry.state == OutboxState.FAILED,
                Connection.name.in_([a.name for a in made]),
                # A write that raced a Lead's conversion is refused for good, as it should be:
                # the Lead now follows its Contact, which is written instead.
                ~(
                    (Contact.deleted_at.is_not(None) | Contact.merged_into_id.is_not(None))
                    & OutboxEntry.last_error.contains("CANNOT_UPDATE_CONVERTED_LEAD")
                ),
            )
        ).all()
        found.failed_writes = [f"{name}: contact {cid}: {error}" for name, cid, error in failed]
    for account in made:
        done = cluster.cli("verify", account.name)
        report = json.loads(done.stdout)
        if done.returncode != 0 or any(report["drift"].values()):
            found.drift[account.name] = report
        seeded, clean = clean_run(account, members, seed, cluster)
        # The clean run is scored now; the live one last moved when its events did, and its
        # decay (every minute) may not have run since a status fell due. Both as of now:
        caught_up(runtime, account)
        differences = compare_dumps(account.dump(), clean, account.seeded & seeded)
        if differences:
            found.differs[account.name] = differences
    return found


def caught_up(runtime: Runtime, account: Account) -> None:
    """The live connection's decay run now (what its schedule does every minute), and its
    writes landed: its fields are then as of now, as the clean run's are."""
    with runtime.sessions() as session:
        connection_id = session.scalar(select(Connection.id).where(Connection.name == account.name))
    assert connection_id is not None
    if asyncio.run(decay(runtime, connection_id)).to_write:
        asyncio.run(relay(runtime, connection_id))  # this runtime wakes no worker
    settle(runtime, [account])


def clean_run(
    account: Account, members: Sequence[SeedMember], seed: int, cluster: Cluster
) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
    """The same scenario without faults: a twin sandbox, seeded alike and given the same
    simulations and hand edits, qualified by a fresh embedded Glengarry (SQLite, one
    process, no queue)."""
    folder = cluster.root / "clean" / account.name
    twin = Account(sandbox(account.side.crm.kind, account.name, folder, account.number), 0)
    settings = load_settings(data_dir=folder, database_url=None, queue_url=None)
    runtime = Runtime.from_settings(settings)
    with twin.side.serve(members, "http://127.0.0.1:9", seed):  # nobody listens: no webhooks
        new = twin.side.new_settings()
        asyncio.run(
            connect(
                runtime, twin.side.crm, name=twin.name, secrets=new.secrets, options=new.options
            )
        )
        asyncio.run(SyncRunner(runtime, twin.name, full=True).run())
        twin.seeded = frozenset(twin.dump())
        with twin.side.control() as control:
            for body in account.simulations:
                control.post("/simulate", json=body).raise_for_status()
        for contact_id, properties in account.edits:
            twin.edit(contact_id, properties)
        # A full resync, not an incremental one: the twin's changes come within milliseconds
        # of its backfill, where a cursor's window is no judge of what a clean run would see.
        asyncio.run(SyncRunner(runtime, twin.name, full=True).run())
        return twin.seeded, twin.dump()  # the keys before its scenario, and the dump after


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _tolerance(name: str) -> float:
    """How far apart two histories may leave a number field unwritten (`_SCORING`)."""
    weight = next((w for part, w in _PARTS.items() if part in name.lower()), None)
    if weight is None:
        return SCORE_DELTA
    return SCORE_DELTA / weight if weight > 0 else math.inf


def _differences(key: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    found = []
    for name in sorted(set(mine) | set(theirs)):
        if "since" in name.lower() or "reasons" in name.lower():
            continue
        a, b = mine.get(name), theirs.get(name)
        x, y = _number(a), _number(b)
        if x is not None and y is not None:
            if abs(x - y) > _tolerance(name):
                found.append(f"{key} {name}: {a} against {b} in the clean run")
        elif a != b:
            found.append(f"{key} {name}: {a!r} against {b!r} in the clean run")
    return found


def compare_dumps(
    found: Mapping[str, Mapping[str, Any]],
    clean: Mapping[str, Mapping[str, Any]],
    seeded: frozenset[str],
) -> list[str]:
    """Record by record: statuses and texts equal, scores within the write delta (a smaller
    move is not written, so two histories may leave them that far apart) and their fit and
    engagement within what such a move hides (`_SCORING`), times and reasons not compared (a
    status's start is the moment each run saw it). Records made during the scenario (a
    converted Lead's new Contact) may carry other ids in the twin, whose id sequence moved
    otherwise (an id may even name another person there): they are counted by type, and each
    must have been qualified."""
    differences = []
    for key in sorted(seeded):
        differences += _differences(key, found.get(key, {}), clean.get(key, {}))
    alone = sorted(set(found) - seeded), sorted(set(clean) - seeded)
    by_type: dict[str, tuple[list[str], list[str]]] = {}
    for side, keys in enumerate(alone):
        for key in keys:
            by_type.setdefault(key.partition("/")[0], ([], []))[side].append(key)
    for kind, (mine, theirs) in sorted(by_type.items()):
        if len(mine) != len(theirs):
            differences.append(f"{kind}: {mine} here, {theirs} in the clean run")
            continue
        for a in mine:
            # Qualified and written, not compared value by value: the live run moved the
            # converted Lead's history onto its Contact, a fresh read sees what the org moved.
            if not any("status" in name.lower() and value for name, value in found[a].items()):
                differences.append(f"{a}: made during the scenario, never qualified")
    return differences
