"""Event-to-field latency at a steady rate: HubSpot webhooks and Salesforce Outbound Messages,
side by side in one run.

    .venv/bin/python bench/bench_realtime.py                  # 2,000 people, 45 s a CRM (~2 min)
    .venv/bin/python bench/bench_realtime.py --seconds 20 --people-per-second 4

The demo's machinery (`app.demo.run_demo`, quiet), on each CRM in turn in one process: its
sandbox seeded with the same population, connected, backfilled; then simulated sales reps touch
`--people-per-second` people (each with `--events` activities or changes) in bursts every
`--interval` seconds, for `--seconds`. The CRM sends its notifications (HubSpot webhooks, signed;
Salesforce Outbound Messages on Lead, Contact, Task and Event, SOAP) to the served app, which
stores them in the inbox; the embedded worker rescores and writes back. The latency of a person
is from the simulate call that touched them to Glengarry's write landing in the sandbox's store;
people whose activity changed nothing worth writing are not counted. Everything (sandbox, app,
worker, SQLite) shares the one process, so the figures are the pipeline's own pace on this
machine, not a network's.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.demo import DemoResult, Pace, run_demo  # noqa: E402 - after the path is set
from app.demo_sandboxes import DEMO_CRMS  # noqa: E402
from app.logging import configure_logging  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import load_settings  # noqa: E402


def _row(result: DemoResult, seconds: float) -> str:
    latency = result.latency
    assert latency is not None
    if not latency.samples:
        return f"| {result.label} | no write landed | | | | | |"
    ms = {share: latency.percentile(share) * 1000 for share in (0.5, 0.9, 0.99)}
    return (
        f"| {result.label} | {len(latency.touched):,} ({len(latency.touched) / seconds:.1f}/s) | "
        f"{len(latency.samples):,} | **{ms[0.5]:.0f} ms** | {ms[0.9]:.0f} ms | "
        f"**{ms[0.99]:.0f} ms** | {max(latency.samples) * 1000:.0f} ms | "
        f"{result.live_delivered:,} {result.deliveries.noun}, "
        f"{result.deliveries.failed_attempts} failed attempts |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--people-per-second", type=int, default=10)
    parser.add_argument("--events", type=int, default=2, help="activities per person touched")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between bursts")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--crm", choices=DEMO_CRMS, action="append", help="default: all")
    args = parser.parse_args()
    configure_logging("ERROR", "console")  # the figures, not the pipeline's chatter
    per_burst = max(1, round(args.people_per_second * args.interval))
    pace = Pace(interval=args.interval, people=(per_burst, per_burst), events=(args.events,) * 2)
    with tempfile.TemporaryDirectory(prefix="glengarry-bench-realtime-") as directory:
        settings = load_settings(data_dir=Path(directory), database_url=None, queue_url=None)
        runtime = Runtime.from_settings(settings)
        load_before = os.getloadavg()
        started = time.monotonic()
        try:
            results = asyncio.run(
                run_demo(
                    runtime,
                    Console(file=io.StringIO()),
                    contacts=args.contacts,
                    seed=args.seed,
                    live_seconds=args.seconds,
                    crms=tuple(args.crm or DEMO_CRMS),
                    pace=pace,
                )
            )
        finally:
            runtime.engine.dispose()
        took = time.monotonic() - started
    print(
        f"{args.contacts:,} people a CRM; {per_burst} touched every {args.interval} s with "
        f"{args.events} activities each, for {args.seconds:.0f} s a CRM; run took {took:.0f} s; "
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| CRM | people touched | writes timed | p50 | p90 | p99 | max | the sandbox sent |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for result in results:
        print(_row(result, args.seconds))


if __name__ == "__main__":
    main()
