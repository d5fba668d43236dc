"""The effectiveness report's own cost: time and peak RSS on a stored connection.

    .venv/bin/python bench/bench_report.py [--contacts 100000] [--database-url URL]

Seeds a database (a SQLite file in a temporary directory unless --database-url names a blank
one) with a connection's history in bulk: per contact two to four status changes over 120
days, a conversion for 15%, a closed deal for 8%, rep activities for the sales-ready and survey
answers for the customers. The report is then computed in a fresh process (`--measure`), so its
peak RSS is the report's alone, not the seeding's.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.db import make_engine, session_factory
from app.effectiveness import report
from app.migrate import upgrade
from app.models import Activity, Connection, Contact, OutcomeRecord, Transition

END = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
LEADS = ("nurture", "poor_fit", "sales_ready", "unknown", "disqualified")
CHUNK = 10_000


def seed(url: str, contacts: int, rng: random.Random) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        connection = Connection(kind="hubspot", name="bench", credentials=b"x", options={})
        session.add(connection)
        session.flush()
        cid = connection.id
    for start in range(0, contacts, CHUNK):
        ids = range(start + 1, min(start + CHUNK, contacts) + 1)
        people = [{"id": i, "connection_id": cid, "crm_id": str(i), "properties": {}} for i in ids]
        changes: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        for i in ids:
            at = END - 120 * DAY + rng.random() * 30 * DAY
            customer = rng.random() < 0.2
            status = rng.choice(("customer_active", "customer_at_risk")) if customer else "nurture"
            previous = None
            for _ in range(rng.randint(2, 4)):
                changes.append(
                    {
                        "contact_id": i,
                        "from_status": previous,
                        "to_status": status,
                        "at": at,
                        "reason": "bench",
                        "criteria_version": "bench",
                        "score": rng.randint(0, 100),
                        "conversion_probability": rng.random() * 0.4,
                    }
                )
                if status == "sales_ready":
                    for _ in range(rng.randint(0, 3)):
                        activities.append(
                            _activity(cid, i, f"call:{i}:{len(activities)}", "call", at, rng)
                        )
                previous, at = status, at + rng.random() * 30 * DAY
                status = (
                    rng.choice(("customer_active", "customer_at_risk", "nurture"))
                    if customer
                    else rng.choice(LEADS)
                )
            if rng.random() < 0.15:
                sold = END - rng.random() * 90 * DAY
                outcomes.append(_outcome(cid, i, "became_customer", sold, ""))
                for k in range(rng.randint(0, 2)):
                    answer = {"survey": "nps", "score": str(rng.randint(0, 10))}
                    activities.append(
                        _activity(cid, i, f"fs:{i}:{k}", "survey_response", sold + DAY, rng, answer)
                    )
            if rng.random() < 0.08:
                kind = "deal_won" if rng.random() < 0.4 else "deal_lost"
                closed = END - rng.random() * 90 * DAY
                outcomes.append(_outcome(cid, i, kind, closed, f"d{i}", rng.random() * 10_000))
        with sessions.begin() as session:
            session.execute(insert(Contact), people)
            session.execute(insert(Transition), changes)
            if outcomes:
                session.execute(insert(OutcomeRecord), outcomes)
            if activities:
                session.execute(insert(Activity), activities)
    # Planner statistics, as a live database keeps them (autovacuum): none after a bulk load.
    with engine.begin() as db:  # a database connection, not the app's Connection above
        db.exec_driver_sql("ANALYZE")
    engine.dispose()


def _activity(
    cid: int,
    contact: int,
    key: str,
    kind: str,
    at: datetime,
    rng: random.Random,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "connection_id": cid,
        "contact_id": contact,
        "crm_id": key,
        "type": kind,
        "occurred_at": at + rng.random() * 3 * DAY,
        "properties": properties or {},
    }


def _outcome(
    cid: int, contact: int, kind: str, at: datetime, deal: str, amount: float | None = None
) -> dict[str, Any]:
    return {
        "connection_id": cid,
        "contact_id": contact,
        "kind": kind,
        "deal_key": deal,
        "occurred_at": at,
        "amount": amount,
        "currency": "EUR" if amount is not None else None,
        "recorded_at": END,
        "updated_at": END,
    }


def measure(url: str) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    began = time.perf_counter()
    with sessions() as session:
        body = report(session, "bench", until=END, horizon=90 * DAY)
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    figures = {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "cohort": body["lift"]["all"]["n"],
        "flows": body["flows"]["n"],
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.measure:
        measure(args.database_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        began = time.perf_counter()
        seed(url, args.contacts, random.Random(1))
        print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - began:.1f} s")
        for _ in range(args.repeat):
            subprocess.run(
                [sys.executable, __file__, "--measure", "--database-url", url], check=True
            )


if __name__ == "__main__":
    main()
