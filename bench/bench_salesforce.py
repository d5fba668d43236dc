"""Salesforce backfill through the app: wall time, API calls next to the floor, resync writes,
peak RSS.

    .venv/bin/python bench/bench_salesforce.py --people 100000 --latency-ms 100

The sandbox (`glengarry sandbox salesforce`, seeded from the population generator: Leads, and
Contacts under Accounts, with Tasks, Events and CampaignMembers) runs in its own process; the
pipeline (`connect salesforce` by JWT, then `SyncRunner` three times) in another, on the
embedded SQLite default, so the peak RSS is the pipeline's alone. Calls are counted by the
sandbox.

The pipeline's clock stands still (the connector's, for its logins, does not): the backfill and
the unchanged resync score everyone at the same instant, so whatever the resync writes is the
pipeline's doing (reading the same org twice must write nothing). The third run is the same
resync with the clock moved on by the backfill's wall time, as a real clock would have it:
decay alone then re-ranks a few reasons (a decaying activity falling below a fit reason of
equal points among the top three), which is news by the write rule; its writes are listed with
what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
GLENGARRY = str(Path(sys.executable).parent / "glengarry")
SETUP = ("oauth2", "/describe", "tooling/", "/sobjects/PermissionSet", "ObjectPermissions",
         "FieldPermissions", "/limits", "PermissionSetAssignment")  # fmt: skip
QUERY_PAGE = 2_000
WRITE_BATCH = 200


async def _pipeline(cert_dir: str, data_dir: str, threshold: int) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from app.clock import ManualClock
    from app.connections import connect, open_connector
    from app.models import Activity, Contact
    from app.runtime import Runtime
    from app.settings import load_settings
    from app.sync.run import SyncRunner
    from connectors.salesforce.crm import CRM

    credentials = json.loads((Path(cert_dir) / "credentials.json").read_text())
    settings = load_settings(
        data_dir=data_dir, log_level="WARNING", salesforce_bulk_threshold=threshold
    )
    # After the seeding: every activity the sandbox holds is in the past of this instant.
    clock = ManualClock(datetime.now(UTC))
    runtime = Runtime.from_settings(settings, clock)

    def real_time_connector(*args: Any, **kwargs: Any) -> Any:
        # The org's side keeps real time: a JWT assertion expires 3 minutes after its clock.
        return open_connector(*args, now=lambda: datetime.now(UTC), **kwargs)

    def sync() -> SyncRunner:
        return SyncRunner(runtime, "bench", connector_factory=real_time_connector)

    url = credentials["instance_url"]
    values = {
        "instance_url": url,
        "login_url": url,
        "ca_bundle": str(Path(cert_dir) / "ca.pem"),
        "client_id": credentials["client_id"],
        "username": credentials["username"],
        "jwt_key": str(Path(cert_dir) / "jwt-key.pem"),
    }
    chosen = CRM.settings(values, new=True)
    await connect(runtime, CRM, name="bench", secrets=chosen.secrets, options=chosen.options)
    control = httpx.AsyncClient(
        base_url=f"{url}/_sandbox",
        verify=ssl.create_default_context(cafile=values["ca_bundle"]),
        timeout=120,
    )
    async with control:
        await control.post("/stats/reset")
        started = time.perf_counter()
        backfill = await sync().run()
        seconds = time.perf_counter() - started
        backfill_calls = (await control.get("/stats")).json()["calls"]
        await control.post("/stats/reset")
        resync_started = time.perf_counter()
        resync = await sync().run()
        resync_seconds = time.perf_counter() - resync_started
        resync_calls = (await control.get("/stats")).json()["calls"]
        with runtime.sessions.begin() as session:  # what was written, to say what changes
            session.execute(
                text(
                    "CREATE TABLE bench_written AS "
                    "SELECT contact_id, written_values FROM qualifications"
                )
            )
        clock.advance(timedelta(seconds=seconds))
        later_started = time.perf_counter()
        later = await sync().run()
        later_seconds = time.perf_counter() - later_started
    with runtime.sessions() as session:
        moved = [
            (json.loads(old), json.loads(new))
            for old, new in session.execute(
                text(
                    "SELECT b.written_values, q.written_values FROM qualifications q "
                    "JOIN bench_written b ON b.contact_id = q.contact_id "
                    "WHERE b.written_values IS NOT q.written_values"
                )
            )
        ]
        activities = {
            str(kind): int(n)
            for kind, n in session.execute(
                select(Activity.type, func.count()).group_by(Activity.type)
            ).all()
        }
        kinds = {
            str(kind): int(n)
            for kind, n in session.execute(
                select(Contact.kind, func.count()).group_by(Contact.kind)
            ).all()
        }
    return {
        "backfill_calls": _per_route(backfill_calls),
        "resync_calls": _per_route(resync_calls),
        "seconds": seconds,
        "resync_seconds": resync_seconds,
        "pulled": backfill.pulled,
        "state": backfill.state.value,
        "written": backfill.relay.sent,
        "resync_state": resync.state.value,
        "resync_pulled": resync.pulled,
        "resync_written": resync.relay.sent,
        "resync_status_changes": resync.scoring.status_changes,
        "resync_to_write": resync.scoring.to_write,
        "later_seconds": later_seconds,
        "later_pulled": later.pulled,
        "later_written": later.relay.sent,
        "later_status_changes": later.scoring.status_changes,
        "later_why": [_why(old, new) for old, new in moved],
        "activities": activities,
        "kinds": kinds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _why(old: dict[str, str], new: dict[str, str]) -> str:
    """What moved between two written sets of values, in the write rule's order."""
    from qualification.fields import REASONS, SCORE, STATUS

    if old.get(STATUS) != new.get(STATUS):
        return f"status {old.get(STATUS)} -> {new.get(STATUS)}"
    top = [text.split("; ")[1:4] for text in (old.get(REASONS, ""), new.get(REASONS, ""))]
    return (
        f"score {old.get(SCORE)} -> {new.get(SCORE)}, "
        f"top reasons {'; '.join(top[0])} -> {'; '.join(top[1])}"
    )


def _per_route(calls: dict[str, dict[str, int]]) -> dict[str, int]:
    return {route: sum(statuses.values()) for route, statuses in calls.items()}


def _setup(route: str) -> bool:
    return route == "GET /services/data" or any(part in route for part in SETUP)


def _start_sandbox(people: int, latency: int, cert_dir: str) -> subprocess.Popen[str]:
    sandbox = subprocess.Popen(
        [GLENGARRY, "sandbox", "salesforce", "--contacts", str(people), "--seed", "1",
         "--latency-ms", str(latency), "--daily-api-limit", "10000000", "--cert-dir", cert_dir],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    sandbox.stdout.readline()  # the instance URL, once credentials.json is written
    return sandbox


def run(people: int, latency: int, threshold: int) -> None:
    with tempfile.TemporaryDirectory() as cert_dir, tempfile.TemporaryDirectory() as data_dir:
        seeding = time.perf_counter()
        sandbox = _start_sandbox(people, latency, cert_dir)
        print(f"sandbox seeded and started in {time.perf_counter() - seeding:.0f} s", flush=True)
        try:
            child = subprocess.run(
                [sys.executable, __file__, "--child", cert_dir, "--data-dir", data_dir,
                 "--threshold", str(threshold)],
                capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            if child.returncode != 0:
                sys.exit(child.stderr)
        finally:
            sandbox.terminate()
            sandbox.wait()
    r: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    calls: dict[str, int] = r["backfill_calls"]
    backfill = sum(n for route, n in calls.items() if not _setup(route))
    people_read = sum(r["kinds"].values())
    # The floor: every person in query pages of 2,000, one query per activity object for each
    # group of 1,000 people the pipeline reads activities for (Task, Event, CampaignMember by
    # Lead and by Contact: 3), and the writes in calls of 200.
    groups = math.ceil(people_read / 1_000)
    floor = {
        "query pages": math.ceil(people_read / QUERY_PAGE) + 2,  # + a COUNT() per object
        "activity queries": groups * 3,
        "writes": math.ceil(r["written"] / WRITE_BATCH),
    }
    total = sum(floor.values())
    print(f"\n## {people:,} people, latency {latency} ms, Bulk above {threshold:,} records")
    print(
        f"backfill ({r['state']}): {r['seconds']:.1f} s wall, {r['pulled']:,} read "
        f"({r['kinds']}), {r['written']:,} written"
    )
    print(
        "activities stored: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["activities"].items()))
    )
    print(
        f"backfill API calls (counted by the sandbox, set-up aside): {backfill:,}; "
        f"floor {total:,}: {backfill / total:.2f}x"
    )
    for route, n in sorted(calls.items()):
        print(f"  {n:>8,}  {route}{'  (set-up)' if _setup(route) else ''}")
    print("floor: " + ", ".join(f"{k} {v:,}" for k, v in floor.items()))
    resync_calls = sum(r["resync_calls"].values())
    print(
        f"unchanged resync ({r['resync_state']}): {r['resync_seconds']:.1f} s, "
        f"{r['resync_pulled']:,} read back, {resync_calls:,} calls, {r['resync_written']} written "
        f"({r['resync_status_changes']} status changes), scored at the backfill's instant"
    )
    for route, n in sorted(r["resync_calls"].items()):
        print(f"  {n:>8,}  {route}")
    print(
        f"the same resync {r['seconds']:.0f} s later on the clock: {r['later_seconds']:.1f} s, "
        f"{r['later_pulled']:,} read back, {r['later_written']} written "
        f"({r['later_status_changes']} status changes)"
    )
    for why in r["later_why"][:20]:
        print(f"  {why}")
    print(f"per 1,000 people: {1000 * backfill / people_read:.1f} backfill calls")
    print(f"peak RSS of the pipeline process: {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--threshold", type=int, default=50_000, help="Bulk above this many")
    parser.add_argument("--child", metavar="CERT_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(_pipeline(args.child, args.data_dir, args.threshold))
        print(json.dumps(result))
        return
    run(args.people, args.latency_ms, args.threshold)


if __name__ == "__main__":
    main()
