"""HubSpot backfill figures: wall time, API calls next to the floor, resync writes, peak RSS.

    .venv/bin/python bench/bench_hubspot.py --contacts 100000

Each scenario starts a sandbox in its own process (`glengarry sandbox hubspot`, seeded from
the population generator) and runs the pipeline in another, on the embedded SQLite default, so
the peak RSS is the pipeline's alone. Calls are counted by the sandbox, not by Glengarry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
GLENGARRY = str(Path(sys.executable).parent / "glengarry")
# name -> (latency ms, the sandbox's rate-limit profile, the connection's app type)
SCENARIOS = {"zero": (0, "off", "unlimited"), "pro100": (100, "pro", "private-pro")}


async def _pipeline(base_url: str, data_dir: str, app_type: str) -> dict[str, object]:
    from sqlalchemy import func, select

    from app.connections import connect
    from app.models import Activity
    from app.runtime import Runtime
    from app.settings import load_settings
    from app.sync.run import SyncRunner
    from connectors.hubspot.crm import CRM

    runtime = Runtime.from_settings(load_settings(data_dir=data_dir, log_level="WARNING"))
    await connect(
        runtime,
        CRM,
        name="bench",
        secrets={"token": "sandbox-token"},
        options=CRM.settings({"base_url": base_url, "app_type": app_type}, new=True).options,
    )
    started = time.perf_counter()
    backfill = await SyncRunner(runtime, "bench").run()
    seconds = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=base_url) as sandbox:
        backfill_calls = (await sandbox.get("/_sandbox/stats")).json()["calls"]
        await sandbox.post("/_sandbox/stats/reset")
        resync = await SyncRunner(runtime, "bench").run()
        resync_calls = (await sandbox.get("/_sandbox/stats")).json()["calls"]
    with runtime.sessions() as session:
        engagements = session.scalar(
            select(func.count()).select_from(Activity).where(Activity.crm_id.like("%s:%"))
        )
        by_type = {
            kind: session.scalar(
                select(func.count()).select_from(Activity).where(Activity.crm_id.like(f"{kind}:%"))
            )
            for kind in (
                "meetings",
                "calls",
                "emails",
                "notes",
                "tasks",
                "tickets",
                "feedback_submissions",
            )
        }
    return {
        "backfill_calls": _per_route(backfill_calls),
        "resync_calls": _per_route(resync_calls),
        "seconds": seconds,
        "pulled": backfill.pulled,
        "written": backfill.relay.sent,
        "resync_pulled": resync.pulled,
        "resync_written": resync.relay.sent,
        "resync_status_changes": resync.scoring.status_changes,
        "engagements": sum(v or 0 for v in by_type.values()) or engagements,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _per_route(calls: dict[str, dict[str, int]]) -> dict[str, int]:
    return {route: sum(statuses.values()) for route, statuses in calls.items()}


def _start_sandbox(contacts: int, latency: int, limits: str) -> tuple[subprocess.Popen[str], str]:
    sandbox = subprocess.Popen(
        [
            GLENGARRY,
            "sandbox",
            "hubspot",
            "--contacts",
            str(contacts),
            "--seed",
            "1",
            "--latency-ms",
            str(latency),
            "--rate-limits",
            limits,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sandbox.stdout is not None
    return sandbox, sandbox.stdout.readline().strip()


SETUP = ("/account-info/", "/crm/v3/properties/")  # connecting, not part of a backfill


def _scenario(name: str, contacts: int) -> None:
    latency, limits, app_type = SCENARIOS[name]
    sandbox, base_url = _start_sandbox(contacts, latency, limits)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    base_url,
                    "--data-dir",
                    data_dir,
                    "--app-type",
                    app_type,
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
        r: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        sandbox.terminate()
        sandbox.wait()
    calls: dict[str, int] = r["backfill_calls"]
    backfill = sum(n for route, n in calls.items() if not any(p in route for p in SETUP))
    floor = {
        "list pages": math.ceil(contacts / 100),
        # per associated type: 5 engagement types, survey answers and tickets
        "association reads": math.ceil(contacts / 1000) * 7,
        "engagement reads": math.ceil(r["engagements"] / 100),
        "writes": math.ceil(r["written"] / 100),
    }
    floor_total = sum(floor.values())
    print(
        f"\n## {name}: {contacts:,} contacts, latency {latency} ms, sandbox rate limits "
        f"{limits}, connection app type {app_type}"
    )
    print(
        f"backfill wall time: {r['seconds']:.1f} s ({r['pulled']:,} read, {r['written']:,} written)"
    )
    print(
        f"backfill API calls (counted by the sandbox): {backfill:,}; floor {floor_total:,}: "
        f"{backfill / floor_total:.2f}x"
    )
    for route, n in sorted(calls.items()):
        print(f"  {n:>8,}  {route}")
    print("floor: " + ", ".join(f"{k} {v:,}" for k, v in floor.items()))
    print(
        f"unchanged resync: {r['resync_pulled']:,} contacts read back (our writes bumped "
        f"lastmodifieddate), {sum(r['resync_calls'].values()):,} calls, "
        f"{r['resync_written']} written, {r['resync_status_changes']} status changes (decay "
        "since the backfill scored them)"
    )
    print(f"peak RSS of the pipeline process: {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--child", metavar="BASE_URL")
    parser.add_argument("--data-dir")
    parser.add_argument("--app-type", default="private-pro")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_pipeline(args.child, args.data_dir, args.app_type))))
        return
    for name in list(SCENARIOS) if args.scenario == "all" else [args.scenario]:
        _scenario(name, args.contacts)


if __name__ == "__main__":
    main()
