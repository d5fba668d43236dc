"""The scaled set-up against the embedded default, side by side in one run: intake and
processing, processing from 1 to 3 workers, a four-connection backfill, and a sustained load
with a worker killed and Redis restarted in the middle.

    .venv/bin/python bench/bench_scaled.py                      # every part (about 7 minutes)
    .venv/bin/python bench/bench_scaled.py --part intake --part workers
    .venv/bin/python bench/bench_scaled.py --part sustained --no-faults --people-per-second 5

Needs what `tests/reliability` needs (root, `pg_createcluster`, `redis-server`). The set-ups
are those of `tests.harness.cluster.Cluster`: **scaled** is a private PostgreSQL cluster and a
private Redis, two `glengarry serve` behind a round-robin balancer and three `glengarry worker`;
**embedded** is one `glengarry serve` on SQLite with its consumer in the process (behind the
same balancer). The CRM accounts are the demo's sandboxes served in this process
(`tests.harness.accounts`), each seeded with the same generated people.

- **intake**: `--portals` HubSpot portals (rate limits off, the connection `unlimited`), each
  backfilled, then given `--latency-ms` per API call; one simulate call a portal touches
  `--touched` people with `--events` activities each. Accepted: events the receivers answered
  2xx, over the time until every portal had delivered; processed: inbox events stored and
  processed (our own writes' echoes included) over the time until inbox and outbox were empty,
  every write landed. Embedded, then scaled with 1, 2 and 3 workers (the same load each time,
  on fresh accounts seeded alike).
- **backfill**: 2 HubSpot portals and 2 Salesforce orgs of `--backfill-people` each, at
  `--latency-ms`, a full sync asked of each at once: contacts per second until the last ended.
- **sustained**: one HubSpot portal with the `pro` limits (the connection's default
  `private-pro` limiter), `--latency-ms`; `--people-per-second` touched
  (`--sustained-events` each) in bursts every 0.5 s for `--seconds`; at 40% a worker is
  SIGKILLed, at 50% Redis is restarted (its queue lost), at 60% the killed worker is started
  again. Event-to-field latency as
  `app.demo.LandingWatch` takes it (from the simulate call to the write landing in the
  sandbox; people whose activity changed nothing worth writing are not timed, nor people
  touched again before a write of theirs landed), split into people whose whole wait lay
  outside the fault window (the kill until Redis and the replaced worker answer again) and
  those whose wait overlapped it. Then the harness's end-of-test checks (`check`): events
  acknowledged but not stored or not processed, outbox rows failed, `glengarry verify` drift,
  and the dump against a clean run's. `--no-faults`: the same load with nothing broken.
  `--mix recorded` (the default) simulates only activities HubSpot keeps as records of their
  own (`RECORDED_KINDS`), so that the clean run can replay what the live one saw; `--mix all`
  adds page views, email opens and clicks and forms, which HubSpot keeps only as a contact's
  "last ... date" (real time sees each, a later read only the last: the dump comparison then
  differs by design).

CPU seconds are counted per component (serve, worker, PostgreSQL's server processes, Redis,
and this process, which serves the sandboxes and the balancer) from /proc, over each part.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402 - after the path is set
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.models import Connection, InboxEvent, SyncRun  # noqa: E402
from connectors.hubspot.limits import DEFAULT_HEADROOM  # noqa: E402
from connectors.sandbox_kit import SeedMember  # noqa: E402
from tests.harness.accounts import (  # noqa: E402
    RECORDED_KINDS,
    Account,
    accounts,
    check,
    people,
    request_sync,
    settle,
    wait_for_sync,
)
from tests.harness.cluster import Cluster  # noqa: E402
from tests.harness.services import postgres_available, until  # noqa: E402

PARTS = ("intake", "workers", "backfill", "sustained")


class LoadAverage:
    """The machine's 1-minute load average, sampled every 5 s while entered."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadAverage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def line(self) -> str:
        s = self.samples
        return f"{min(s):.1f} to {max(s):.1f} (mean {sum(s) / len(s):.1f})"


TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (and of its children it has reaped), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: the exited backends
    return ticks / TICKS


def _postgres_pids(cluster: Cluster) -> list[int]:
    """The private cluster's postmaster and its live backends."""
    if cluster.postgres is None:
        return []
    folder = Path("/var/lib/postgresql") / cluster.postgres.version / cluster.postgres.name
    try:
        master = int((folder / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    found = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == master:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu(cluster: Cluster) -> dict[tuple[str, int], float]:
    """CPU seconds so far, per (component, pid): to subtract one snapshot from the next."""
    seen: dict[tuple[str, int], float] = {}
    for process in cluster.processes:
        if process.popen is not None:
            component = process.name.rpartition("-")[0]  # "serve", "worker"
            seen[(component, process.popen.pid)] = _proc_cpu(process.popen.pid)
    for number, pid in enumerate(_postgres_pids(cluster)):
        seen[("postgresql", pid)] = _proc_cpu(pid, children=number == 0)
    redis = getattr(cluster.redis, "_process", None)  # the harness keeps its Popen private
    if redis is not None:
        seen[("redis", redis.pid)] = _proc_cpu(redis.pid)
    mine = os.times()
    seen[("bench (sandboxes, balancer)", os.getpid())] = mine.user + mine.system
    return seen


def spent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    by: dict[str, float] = {}
    for key, seconds in after.items():
        by[key[0]] = by.get(key[0], 0.0) + max(0.0, seconds - before.get(key, 0.0))
    return by


def _names(prefix: str, kinds: Sequence[str]) -> list[tuple[str, str]]:
    return [(kind, f"{prefix}-{n}") for n, kind in enumerate(kinds, 1)]


def _inbox(cluster: Cluster, made: Sequence[Account]) -> tuple[int, int]:
    """(stored, processed) inbox events of the accounts' connections."""
    with cluster.runtime().sessions() as session:
        mine = select(Connection.id).where(Connection.name.in_([a.name for a in made]))
        stored = session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.connection_id.in_(mine))
        )
        processed = session.scalar(
            select(func.count())
            .select_from(InboxEvent)
            .where(InboxEvent.connection_id.in_(mine), InboxEvent.processed_at.is_not(None))
        )
    return int(stored or 0), int(processed or 0)


# The worker's own account of an inbox batch (`app.metrics`): stage seconds (sum and count per
# stage), CRM calls by what, contacts by how, scraped from each worker's metrics port.
_STAGES = ("waiting", "claim", "crm_read", "database", "scoring", "write_back")


Metrics = dict[str, dict[str, float]]  # per worker process ("name:pid"), sample totals


def inbox_metrics(cluster: Cluster) -> Metrics:
    """Each live worker's inbox counters, keyed by process: a restarted worker counts from
    zero again under its new pid, and a killed one's counts are gone with it (the bench
    scrapes the victim just before it kills it)."""
    found: Metrics = {}
    for worker in cluster.named("worker"):
        if worker.popen is None:
            continue
        try:
            text = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue  # killed
        totals = found.setdefault(f"{worker.name}:{worker.popen.pid}", {})
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name.startswith("glengarry_inbox_stage_seconds_") and (
                    sample.name.endswith(("_sum", "_count"))
                ):
                    key = labels["stage"] + sample.name.rsplit("_", 1)[1]  # "claimcount"
                elif sample.name == "glengarry_inbox_crm_calls_total":
                    key = f"calls:{labels['what']}"
                elif sample.name == "glengarry_inbox_contacts_total":
                    key = f"contacts:{labels['how']}"
                else:
                    continue
                totals[key] = totals.get(key, 0.0) + sample.value
    return found


def _counted(snapshots: Sequence[Metrics]) -> dict[str, float]:
    """What the workers counted between the first snapshot and the last: per process, its last
    snapshot less its first (a process first seen after the start counted from zero)."""
    first: Metrics = {}
    last: Metrics = {}
    for index, snapshot in enumerate(snapshots):
        for process, totals in snapshot.items():
            first.setdefault(process, totals if index == 0 else {})
            last[process] = totals
    got: dict[str, float] = {}
    for process, totals in last.items():
        for key, value in totals.items():
            got[key] = got.get(key, 0.0) + value - first[process].get(key, 0.0)
    return got


def _stage_report(snapshots: Sequence[Metrics], events: int) -> None:
    got = _counted(snapshots)
    batches = got.get("claimcount", 0.0)
    if not batches:
        return
    cells = []
    for stage in _STAGES:
        count = got.get(f"{stage}count", 0.0)
        cells.append(f"{got.get(f'{stage}sum', 0.0) / count * 1000:,.0f} ms" if count else "")
    per_thousand = {
        what: got.get(f"calls:{what}", 0.0) / events * 1000 if events else 0.0
        for what in ("read", "write_back")
    }
    contacts = " / ".join(f"{got.get(f'contacts:{how}', 0.0):,.0f}" for how in _HOW)
    print(
        "\nWhere an inbox batch's time went (the workers' `glengarry_inbox_stage_seconds`, "
        "means: `waiting` per event, the rest per batch):\n"
    )
    print(
        "| batches | waiting for a claim | claim | CRM reads | database | scoring | write-back "
        "| contacts read / carried / named | read calls per 1,000 events "
        "| write calls per 1,000 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {batches:,.0f} | {' | '.join(cells)} | {contacts} | "
        f"**{per_thousand['read']:.0f}** | {per_thousand['write_back']:.0f} |"
    )


_HOW = ("read", "carried", "named")


def _calls(account: Account) -> tuple[int, int]:
    """(calls, 429s) the sandbox counted."""
    with account.side.control() as control:
        calls = control.get("/stats").json()["calls"]
    counts = [(int(status), n) for route in calls.values() for status, n in route.items()]
    return sum(n for _, n in counts), sum(n for status, n in counts if status == 429)


class Landed:
    """Writes landing in the sandboxes, counted (under the CRM's lock: quick)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, crm_id: str, status: str | None, who: str | None) -> None:
        with self._lock:
            self.count += 1


# --- intake and processing --------------------------------------------------------------------


@dataclass
class Intake:
    label: str
    accepted: int
    accepted_seconds: float
    stored: int
    processed: int
    processed_seconds: float
    writes: int
    cpu: dict[str, float]


def intake(
    cluster: Cluster, label: str, prefix: str, members: Sequence[SeedMember], args: Any
) -> Intake:
    specs = _names(prefix, ["hubspot"] * args.portals)
    with accounts(cluster, specs, members, args.seed, hubspot_limits="off") as made:
        runtime = cluster.runtime()
        settle(runtime, made, seconds=300)  # the backfill's echoes first
        for account in made:
            account.faults(latency_ms=args.latency_ms)
        acknowledged = sum(len(a.acknowledged()) for a in made)
        stored, processed = _inbox(cluster, made)
        landed = Landed()
        cpu_before = cpu(cluster)
        with ExitStack() as watching:
            for account in made:
                watching.enter_context(account.side.watch(landed))
            started = time.monotonic()
            threads = [
                threading.Thread(target=a.simulate, args=(args.touched, args.events)) for a in made
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            until(lambda: all(a.side.flush(0.05) for a in made), "the portals delivered", 600)
            accepted_at = time.monotonic()
            accepted = sum(len(a.acknowledged()) for a in made) - acknowledged
            settle(runtime, made, seconds=900)
            done_at = time.monotonic()
        used = spent(cpu_before, cpu(cluster))
        stored_after, processed_after = _inbox(cluster, made)
        for account in made:
            account.faults(latency_ms=0)
    return Intake(
        label,
        accepted,
        accepted_at - started,
        stored_after - stored,
        processed_after - processed,
        done_at - started,
        landed.count,
        used,
    )


def _intake_table(rows: Sequence[Intake]) -> None:
    base = rows[0]
    print(
        "| set-up | events accepted | accepted per second | events processed (echoes "
        "included) | processed per second | writes landed | processed / embedded |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        rate = row.processed / row.processed_seconds
        ratio = rate / (base.processed / base.processed_seconds)
        print(
            f"| {row.label} | {row.accepted:,} in {row.accepted_seconds:.1f} s | "
            f"**{row.accepted / row.accepted_seconds:,.0f}** | {row.processed:,} in "
            f"{row.processed_seconds:.1f} s | **{rate:,.0f}** | {row.writes:,} | {ratio:.2f}x |"
        )
    _cpu_table([(row.label, row.processed_seconds, row.cpu) for row in rows])


def _cpu_table(rows: Sequence[tuple[str, float, dict[str, float]]]) -> None:
    """Where the CPU went, from the start of the load until it settled."""
    components = sorted({c for _, _, used in rows for c in used})
    print(
        "\n| set-up (CPU seconds) | "
        + " | ".join(components)
        + " | total | cores busy (total / wall time) |"
    )
    print("| --- |" + " ---: |" * (len(components) + 2))
    for label, seconds, used in rows:
        cells = " | ".join(f"{used.get(c, 0.0):.1f}" for c in components)
        total = sum(used.values())
        print(f"| {label} | {cells} | {total:.1f} | {total / seconds:.2f} |")


# --- backfill ---------------------------------------------------------------------------------


@dataclass
class Backfill:
    label: str
    contacts: int
    seconds: float
    per_connection: list[float]
    cpu: dict[str, float]


def backfill(
    cluster: Cluster, label: str, prefix: str, members: Sequence[SeedMember], args: Any
) -> Backfill:
    specs = _names(prefix, ["hubspot", "hubspot", "salesforce", "salesforce"])
    with accounts(cluster, specs, members, args.seed, backfill=False, hubspot_limits="off") as made:
        runtime = cluster.runtime()
        for account in made:
            account.faults(latency_ms=args.latency_ms)
        cpu_before = cpu(cluster)
        started = time.monotonic()
        for account in made:
            request_sync(cluster, account.name)
        for account in made:
            wait_for_sync(runtime, account.name, seconds=900)
        took = time.monotonic() - started
        used = spent(cpu_before, cpu(cluster))
        with runtime.sessions() as session:
            runs = session.execute(
                select(SyncRun.started_at, SyncRun.finished_at)
                .join(Connection, Connection.id == SyncRun.connection_id)
                .where(Connection.name.in_([a.name for a in made]))
            ).all()
        each = sorted((end - start).total_seconds() for start, end in runs if end is not None)
        for account in made:
            account.faults(latency_ms=0)
    return Backfill(label, len(members) * len(specs), took, each, used)


def _backfill_table(rows: Sequence[Backfill]) -> None:
    base = rows[0]
    print(
        "| set-up | contacts (4 connections) | wall time | contacts per second | "
        "each run (fastest to slowest) | against embedded |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for row in rows:
        rate = row.contacts / row.seconds
        each = ", ".join(f"{s:.1f}" for s in row.per_connection)
        print(
            f"| {row.label} | {row.contacts:,} | {row.seconds:.1f} s | **{rate:,.0f}** | "
            f"{each} s | {rate / (base.contacts / base.seconds):.2f}x |"
        )
    _cpu_table([(row.label, row.seconds, row.cpu) for row in rows])


# --- sustained load with faults ---------------------------------------------------------------


class Timed:
    """As `app.demo.LandingWatch` times a person, keeping when each wait began."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._touched_at: dict[str, float] = {}
        self._ambiguous: set[str] = set()
        self.touched: set[str] = set()
        self.samples: list[tuple[float, float]] = []  # (touched at, landed at)

    def touch(self, crm_ids: Sequence[str], at: float) -> None:
        with self._lock:
            self.touched.update(crm_ids)
            for crm_id in crm_ids:
                if crm_id in self._touched_at or crm_id in self._ambiguous:
                    self._touched_at.pop(crm_id, None)
                    self._ambiguous.add(crm_id)
                else:
                    self._touched_at[crm_id] = at

    def __call__(self, crm_id: str, status: str | None, who: str | None) -> None:
        with self._lock:
            started = self._touched_at.pop(crm_id, None)
            self._ambiguous.discard(crm_id)
            if started is not None:
                self.samples.append((started, time.monotonic()))


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Sustained:
    people_per_second: float
    seconds: float
    outside: list[float] = field(default_factory=list)
    through: list[float] = field(default_factory=list)
    touched: int = 0
    acknowledged: int = 0
    calls: int = 0
    throttled: int = 0
    window: tuple[float, float] = (0.0, 0.0)  # seconds into the load
    settle_seconds: float = 0.0
    findings: Any = None
    cpu: dict[str, float] = field(default_factory=dict)
    stages: list[Metrics] = field(default_factory=list)  # the workers' counters: start, kill, end


def sustained(cluster: Cluster, members: Sequence[SeedMember], args: Any) -> Sustained:
    assert cluster.redis is not None
    per_burst = max(1, round(args.people_per_second * 0.5))
    result = Sustained(per_burst / 0.5, args.seconds)
    with accounts(cluster, [("hubspot", "sustained-1")], members, args.seed) as made:
        (portal,) = made
        runtime = cluster.runtime()
        settle(runtime, made, seconds=300)
        portal.faults(latency_ms=args.latency_ms)
        acknowledged = len(portal.acknowledged())
        calls, throttled = _calls(portal)
        timed = Timed()
        victim = cluster.named("worker")[0]
        marks: dict[str, float] = {}

        def faults(start: float) -> None:
            if not args.faults:  # the same load, nothing broken: the baseline
                marks["kill"] = marks["whole"] = start + args.seconds * 2
                return

            def at(share: float) -> None:
                time.sleep(max(0.0, start + share * args.seconds - time.monotonic()))

            at(0.4)
            result.stages.append(inbox_metrics(cluster))  # the victim's counts so far
            marks["kill"] = time.monotonic()
            victim.kill()  # SIGKILL: its claims lapse after the claim TTL
            at(0.5)
            assert cluster.redis is not None
            cluster.redis.restart()  # every queued wake-up gone
            at(0.6)
            cluster.restart(victim)
            marks["whole"] = time.monotonic()  # Redis and the replaced worker answer

        cpu_before = cpu(cluster)
        result.stages.append(inbox_metrics(cluster))
        with portal.side.watch(timed), portal.side.control() as control:
            started = time.monotonic()
            chaos = threading.Thread(target=faults, args=(started,), daemon=True)
            chaos.start()
            next_burst = started
            while time.monotonic() < started + args.seconds:
                body: dict[str, Any] = {
                    "contacts": per_burst,
                    "events_per_contact": args.sustained_events,
                }
                if args.mix == "recorded":
                    body["kinds"] = list(RECORDED_KINDS["hubspot"])
                portal.simulations.append(body)  # the clean run replays them
                at = time.monotonic()
                answer = control.post("/simulate", json=body)
                answer.raise_for_status()
                timed.touch(answer.json()["contact_ids"], at)
                next_burst += 0.5
                time.sleep(max(0.0, next_burst - time.monotonic()))  # the pace, not a wait
            chaos.join(timeout=120)
            ended = time.monotonic()
            result.cpu = spent(cpu_before, cpu(cluster))
            settle(runtime, made, seconds=600)
            result.settle_seconds = time.monotonic() - ended
            result.stages.append(inbox_metrics(cluster))
        kill, whole = marks["kill"], marks["whole"]
        result.window = (kill - started, whole - started)
        for touched_at, landed_at in timed.samples:
            overlaps = touched_at < whole and landed_at > kill
            (result.through if overlaps else result.outside).append(landed_at - touched_at)
        result.touched = len(timed.touched)
        result.acknowledged = len(portal.acknowledged()) - acknowledged
        after_calls, after_throttled = _calls(portal)
        result.calls, result.throttled = after_calls - calls, after_throttled - throttled
        portal.faults(latency_ms=0)
        result.findings = check(cluster, made, members, args.seed)
    return result


def _sustained_report(result: Sustained, limit_per_second: float) -> None:
    findings = result.findings
    seconds = result.seconds
    window = (
        f"fault window {result.window[0]:.0f} s to {result.window[1]:.0f} s"
        if result.window[0] < seconds
        else "no faults"
    )
    print(
        f"{result.people_per_second:.0f} people a second for {seconds:.0f} s "
        f"({result.touched:,} touched), {result.acknowledged:,} webhook events acknowledged "
        f"({result.acknowledged / seconds:,.0f}/s, echoes included); the sandbox counted "
        f"{result.calls:,} API calls over the load and its settling "
        f"({result.calls / (seconds + result.settle_seconds):.1f}/s against the "
        f"{limit_per_second:.1f}/s the connection's limiter allows), {result.throttled} of them "
        f"429; {window}; settled "
        f"{result.settle_seconds:.0f} s after the load ended\n"
    )
    print("| people timed | count | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, values in (
        ("outside the fault window", result.outside),
        ("through it", result.through),
    ):
        if not values:
            print(f"| {label} | 0 | | | | |")
            continue
        cells = " | ".join(
            f"{_percentile(values, share) * 1000:,.0f} ms" for share in (0.5, 0.9, 0.99, 1.0)
        )
        print(f"| {label} | {len(values):,} | {cells} |")
    print(
        f"\nevents lost (acknowledged, not stored): **{len(findings.lost)}**; stored, not "
        f"processed: **{len(findings.unprocessed)}**; outbox rows failed after recovery: "
        f"**{len(findings.failed_writes)}**; `verify` drift: {findings.drift or 'none'}; "
        f"dump against the clean run: {sum(map(len, findings.differs.values()))} differences"
    )
    _cpu_table([(f"sustained, {seconds:.0f} s", seconds, result.cpu)])
    _stage_report(result.stages, events=result.acknowledged)
    for line in (findings.lost + findings.unprocessed + findings.failed_writes)[:10]:
        print(f"  {line}")
    for name, lines in findings.differs.items():
        for line in lines[:5]:
            print(f"  {name}: {line}")


# --- the run ----------------------------------------------------------------------------------


@contextmanager
def _cluster(root: Path, name: str, **kwargs: Any) -> Iterator[Cluster]:
    with Cluster(root / name, **kwargs) as cluster:
        yield cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS, action="append", help="default: all")
    parser.add_argument("--people", type=int, default=1000, help="seeded in each intake portal")
    parser.add_argument("--portals", type=int, default=3, help="HubSpot portals for intake")
    parser.add_argument("--touched", type=int, default=800, help="people touched a portal")
    parser.add_argument("--events", type=int, default=3, help="activities per person (intake)")
    parser.add_argument("--sustained-events", type=int, default=2, help="the same, sustained")
    parser.add_argument("--latency-ms", type=int, default=100, help="per sandbox API call")
    parser.add_argument("--backfill-people", type=int, default=2000, help="per connection")
    parser.add_argument("--sustained-people", type=int, default=3000)
    parser.add_argument("--people-per-second", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=60, help="of sustained load")
    parser.add_argument(
        "--faults",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="kill a worker and restart Redis in the sustained load (--no-faults: baseline)",
    )
    parser.add_argument(
        "--mix",
        choices=("recorded", "all"),
        default="recorded",
        help="sustained activities: those HubSpot keeps as records (the clean run can replay "
        "them), or the sandbox's whole mix (page views, opens, clicks, forms too)",
    )
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args()
    missing = postgres_available()
    if missing is not None:
        sys.exit(f"the scaled set-up cannot run here: {missing}")
    parts = args.part or PARTS
    intake_rows: list[Intake] = []
    backfills: list[Backfill] = []
    result: Sustained | None = None
    started = time.monotonic()
    with LoadAverage() as load, tempfile.TemporaryDirectory(prefix="glengarry-scaled-") as tmp:
        root = Path(tmp)
        members = people(args.people, args.seed)
        backfill_members = people(args.backfill_people, args.seed)
        if "intake" in parts or "backfill" in parts:
            with _cluster(root, "embedded", serves=1, workers=0, embedded=True) as embedded:
                if "intake" in parts:
                    intake_rows.append(intake(embedded, "embedded", "in-e", members, args))
                if "backfill" in parts:
                    backfills.append(backfill(embedded, "embedded", "bf-e", backfill_members, args))
        with _cluster(root, "scaled") as scaled:
            if "workers" in parts:
                spare = scaled.named("worker")[1:]
                for worker in spare:
                    worker.stop()
                for count in range(1, 4):
                    label = f"scaled, {count} worker{'s' if count > 1 else ''}"
                    intake_rows.append(intake(scaled, label, f"in-w{count}", members, args))
                    if spare:
                        scaled.restart(spare.pop(0))
            elif "intake" in parts:
                intake_rows.append(intake(scaled, "scaled, 3 workers", "in-s", members, args))
            if "backfill" in parts:
                backfills.append(
                    backfill(scaled, "scaled, 3 workers", "bf-s", backfill_members, args)
                )
            if "sustained" in parts:
                result = sustained(scaled, people(args.sustained_people, args.seed), args)
            tracebacks = scaled.tracebacks()
    took = time.monotonic() - started
    print(
        f"\nrun took {took:.0f} s; load average (1 min) {load.line()}; {os.cpu_count()} CPUs; "
        f"sandbox latency {args.latency_ms} ms a call\n"
    )
    if intake_rows:
        print(
            f"Intake and processing: {args.portals} HubSpot portals of {args.people:,} people, "
            f"{args.touched:,} touched each with {args.events} activities, rate limits off\n"
        )
        _intake_table(intake_rows)
        print()
    if backfills:
        print(f"Backfill: 2 HubSpot portals and 2 Salesforce orgs of {args.backfill_people:,}\n")
        _backfill_table(backfills)
        print()
    if result is not None:
        print("Sustained load, `pro` limits, a worker SIGKILLed and Redis restarted\n")
        # The connection's `private-pro` limiter: HubSpot's 190 per 10 s, less the headroom.
        _sustained_report(result, math.floor(190 * (1 - DEFAULT_HEADROOM)) / 10)
    if tracebacks:
        print(f"\ntracebacks logged (besides Redis's expected one): {tracebacks}")


if __name__ == "__main__":
    main()
