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

`--carried on|off|both` (default both) runs with the values webhook events carry applied
(`carry_event_values`) and without (every changed contact re-read), each on a fresh database;
a second table says, for the live part only, where the inbox's time went (from the worker's
`glengarry_inbox_stage_seconds`) and what it cost in CRM calls per 1,000 events. A line under
it names any live part whose events by the worker's count are not what the sandbox sent then
(its bounds would be off: the backfill's echoes counted in, or the last batch left out).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app.demo as demo  # noqa: E402 - after the path is set
from app.demo import DemoResult, Pace, run_demo  # noqa: E402
from app.demo_sandboxes import DEMO_CRMS  # noqa: E402
from app.logging import configure_logging  # noqa: E402
from app.metrics import REGISTRY  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import load_settings  # noqa: E402


def _row(result: DemoResult, seconds: float) -> str:
    latency = result.latency
    assert latency is not None
    if not latency.samples:
        return f"| {result.label} | no write landed | | | | | | |"
    ms = {share: latency.percentile(share) * 1000 for share in (0.5, 0.9, 0.99)}
    return (
        f"| {result.label} | {len(latency.touched):,} ({len(latency.touched) / seconds:.1f}/s) | "
        f"{len(latency.samples):,} | **{ms[0.5]:.0f} ms** | {ms[0.9]:.0f} ms | "
        f"**{ms[0.99]:.0f} ms** | {max(latency.samples) * 1000:.0f} ms | "
        f"{result.live_delivered:,} {result.deliveries.noun}, "
        f"{result.deliveries.failed_attempts} failed attempts |"
    )


STAGES = ("waiting", "claim", "crm_read", "database", "scoring", "write_back")
_OURS = (
    "glengarry_inbox_stage_seconds",
    "glengarry_inbox_contacts",
    "glengarry_inbox_crm_calls",
    "glengarry_webhook_events",
)


Sample = tuple[str, tuple[tuple[str, str], ...]]  # a sample's name and its sorted labels


def _snapshot() -> dict[Sample, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        if metric.name in _OURS
        for sample in metric.samples
    }


class LiveFigures:
    """The worker's own metrics over each live part: from when the backfill's echoes have
    settled (the live part's first wait for quiet: delivered, processed, and the worker's jobs
    ended, their metrics counted) to the end of its last."""

    def __init__(self) -> None:
        self.parts: list[dict[Sample, float]] = []
        self.unsettled = 0  # waits for quiet that timed out: those parts' figures are off
        self._start: dict[Sample, float] | None = None
        live, quiet = demo._live, demo._wait_for_quiet

        def settled(*args: Any, **kwargs: Any) -> Any:
            quieted = False
            try:
                quieted = quiet(*args, **kwargs)
                return quieted
            finally:
                if not quieted:
                    self.unsettled += 1
                if self._start is None:
                    self._start = _snapshot()

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._start = None
            try:
                return live(*args, **kwargs)
            finally:
                before: dict[Sample, float] = self._start or {}
                after = _snapshot()
                self.parts.append({k: v - before.get(k, 0.0) for k, v in after.items()})

        demo._live, demo._wait_for_quiet = timed, settled

    @staticmethod
    def total(part: Mapping[Any, float], name: str, **labels: str) -> float:
        return sum(
            value
            for (sample, found), value in part.items()
            if sample == name and all(dict(found).get(k) == v for k, v in labels.items())
        )


def _where(mode: str, label: str, part: Mapping[Any, float]) -> str:
    total = LiveFigures.total
    events = total(part, "glengarry_webhook_events_total", outcome="processed")
    batches = total(part, "glengarry_inbox_stage_seconds_count", stage="claim")
    waiting = total(part, "glengarry_inbox_stage_seconds_sum", stage="waiting")
    cells = [f"{waiting / events:.2f} s" if events else "-"]
    for stage in STAGES[1:]:
        spent = total(part, "glengarry_inbox_stage_seconds_sum", stage=stage)
        cells.append(f"{spent * 1000 / batches:.0f} ms" if batches else "-")
    read = total(part, "glengarry_inbox_contacts_total", how="read")
    carried = total(part, "glengarry_inbox_contacts_total", how="carried")
    named = total(part, "glengarry_inbox_contacts_total", how="named")
    calls = total(part, "glengarry_inbox_crm_calls_total", what="read")
    writes = total(part, "glengarry_inbox_crm_calls_total", what="write_back")
    per = 1000 / events if events else 0.0
    return (
        f"| {mode} | {label} | {events:,.0f} | {batches:,.0f} | {' | '.join(cells)} | "
        f"{read:,.0f} / {carried:,.0f} / {named:,.0f} | **{calls * per:.0f}** | "
        f"{writes * per:.0f} |"
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
    parser.add_argument("--carried", choices=("on", "off", "both"), default="both")
    args = parser.parse_args()
    configure_logging("ERROR", "console")  # the figures, not the pipeline's chatter
    per_burst = max(1, round(args.people_per_second * args.interval))
    pace = Pace(interval=args.interval, people=(per_burst, per_burst), events=(args.events,) * 2)
    modes = {"on": (True,), "off": (False,), "both": (False, True)}[args.carried]
    figures = LiveFigures()
    runs: list[tuple[str, DemoResult]] = []
    load_before = os.getloadavg()
    started = time.monotonic()
    for carried in modes:
        mode = "carried" if carried else "re-read"
        for crm in args.crm or DEMO_CRMS:  # one CRM a run, so that the metrics are its own
            runs += [(mode, result) for result in _run(args, pace, crm, carried)]
    took = time.monotonic() - started
    print(
        f"{args.contacts:,} people a CRM; {per_burst} touched every {args.interval} s with "
        f"{args.events} activities each, for {args.seconds:.0f} s a CRM; run took {took:.0f} s; "
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| events | CRM | people touched | writes timed | p50 | p90 | p99 | max | sandbox sent |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for mode, result in runs:
        print(f"| {mode} " + _row(result, args.seconds))
    print(
        "\n| events | CRM | events processed | batches | waiting per event | claim | CRM reads "
        "| database | scoring | write-back | contacts read / carried / named | CRM read calls per "
        "1,000 events | write calls per 1,000 |"
    )
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for (mode, result), part in zip(runs, figures.parts, strict=True):
        print(_where(mode, result.label, part))
    for (mode, result), part in zip(runs, figures.parts, strict=True):
        print(_miscount(mode, result, part), end="")
    if figures.unsettled:
        print(f"\n{figures.unsettled} waits for quiet timed out: their parts' figures are off")


def _miscount(mode: str, result: DemoResult, part: Mapping[Any, float]) -> str:
    """A line when the worker's events over the live part are not what the sandbox sent then
    (each one stored and processed, or refused as a duplicate or another account's)."""
    counted = sum(
        LiveFigures.total(part, "glengarry_webhook_events_total", outcome=outcome)
        for outcome in ("processed", "duplicate", "ignored")
    )
    if counted == result.live_delivered:
        return ""
    return (
        f"\n{mode} {result.label}: the worker counted {counted:,.0f} events, the sandbox sent "
        f"{result.live_delivered:,}: the live part's figures are off"
    )


def _run(args: argparse.Namespace, pace: Pace, crm: str, carried: bool) -> list[DemoResult]:
    with tempfile.TemporaryDirectory(prefix="glengarry-bench-realtime-") as directory:
        settings = load_settings(
            data_dir=Path(directory),
            database_url=None,
            queue_url=None,
            carry_event_values=carried,
        )
        runtime = Runtime.from_settings(settings)
        try:
            return asyncio.run(
                run_demo(
                    runtime,
                    Console(file=io.StringIO()),
                    contacts=args.contacts,
                    seed=args.seed,
                    live_seconds=args.seconds,
                    crms=(crm,),
                    pace=pace,
                )
            )
        finally:
            runtime.engine.dispose()


if __name__ == "__main__":
    main()
