"""Engine throughput on one core: full scorings and batch decay-only rescorings per second.

    .venv/bin/python bench/bench_engine.py [--contacts 20000] [--rows 200000] [--repeat 3]

Contacts are synthetic but shaped like the default criteria expect (HubSpot properties, the
default activity types, 20 activities each over a few months, stored in time order). Each
figure is the best of --repeat runs, so other load on the machine shows up as little as
possible.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from qualification.criteria import default_criteria
from qualification.engine import Qualification, qualify
from qualification.records import Activity, Contact

FULL_TARGET = 20_000
BATCH_TARGET = 500_000
ACTIVITIES = 20
AT = datetime(2026, 6, 1, tzinfo=UTC)

TITLES = ["VP Marketing", "CEO", "Director of IT", "Software Engineer", "Head of Sales", ""]
INDUSTRIES = ["COMPUTER_SOFTWARE", "INTERNET", "RETAIL", "FINANCIAL_SERVICES", "HOSPITAL"]
SIZES = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"]
DOMAINS = ["acme.com", "globex.io", "initech.net", "gmail.com", "outlook.com"]
KINDS = (
    ["email_open"] * 8
    + ["email_click"] * 2
    + ["page_view"] * 6
    + ["form_submission", "meeting", "call", "chat", "product_usage"]
)
URLS = ["/pricing", "/docs/api", "/blog/lead-scoring", "/", "/customers"]
FORMS = ["demo-request", "newsletter", "ebook"]


def synthetic(n: int, seed: int = 7) -> list[tuple[Contact, list[Activity]]]:
    rng = random.Random(seed)
    members = []
    for i in range(n):
        cid = f"c{i:07d}"
        contact = Contact(
            cid,
            {
                "email": f"person{i}@{rng.choice(DOMAINS)}",
                "firstname": "Pat",
                "lastname": f"Doe{i}",
                "jobtitle": rng.choice(TITLES),
                "company": "Acme",
                "industry": rng.choice(INDUSTRIES),
                "numemployees": rng.choice(SIZES),
                "country": rng.choice(["United States", "Germany", "Brazil"]),
                "lifecyclestage": rng.choice(["lead", "marketingqualifiedlead", "customer"]),
                "hs_lead_status": "OPEN",
            },
        )
        burst = AT - timedelta(days=rng.uniform(0, 90))
        activities = []
        for _ in range(ACTIVITIES):
            kind = rng.choice(KINDS)
            props: dict[str, str] = {}
            if kind == "page_view":
                props["url"] = "https://example.com" + rng.choice(URLS)
            elif kind == "form_submission":
                props["form"] = rng.choice(FORMS)
            when = burst - timedelta(days=rng.expovariate(1 / 12))
            activities.append(Activity(cid, kind, when, props))
        activities.sort(key=lambda a: a.occurred_at)
        members.append((contact, activities))
    return members


def best_rates(count: int, run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Per wall-clock second and per CPU second of this process (best of `repeat`); the two
    differ when other processes compete for the core."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return count / wall, count / cpu


def report(label: str, rates: tuple[float, float], target: int) -> None:
    wall, cpu = rates
    print(
        f"{label}: {wall:,.0f}/s (target {target:,}/s: {wall / target:.2f}x)"
        f" | per CPU-second {cpu:,.0f}/s ({cpu / target:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one core: no BLAS threads (set before numpy loads)
    from qualification.batch import pack, rescore_batch  # imports numpy: after the env

    criteria = default_criteria()
    members = synthetic(args.contacts)
    print(
        f"python {platform.python_version()} on {platform.machine()}, one core; "
        f"criteria {criteria.name!r} ({criteria.version}); {args.contacts:,} contacts "
        f"x {ACTIVITIES} activities"
    )

    def full() -> None:
        for contact, activities in members:
            qualify(contact, activities, criteria, AT)

    report(
        "full scorings (qualify, 20 activities each)",
        best_rates(len(members), full, args.repeat),
        FULL_TARGET,
    )

    shuffled = [(c, random.Random(i).sample(a, len(a))) for i, (c, a) in enumerate(members)]

    def full_shuffled() -> None:
        for contact, activities in shuffled:
            qualify(contact, activities, criteria, AT)

    report(
        "  same, activities in arrival (random) order",
        best_rates(len(shuffled), full_shuffled, args.repeat),
        FULL_TARGET,
    )

    qualifications: list[Qualification] = [qualify(c, a, criteria, AT) for c, a in members]
    rows = [qualifications[i % len(qualifications)] for i in range(args.rows)]
    batch = pack(rows, criteria)
    later = AT + timedelta(days=3)
    report(
        f"batch decay-only rescorings (rescore_batch, {args.rows:,} rows)",
        best_rates(len(rows), lambda: rescore_batch(batch, criteria, later), args.repeat),
        BATCH_TARGET,
    )


if __name__ == "__main__":
    main()
