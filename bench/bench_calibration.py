"""Holdout ROC AUC of calibration's proposals on generated populations, seed by seed.

    .venv/bin/python bench/bench_calibration.py [--contacts 5000] [--seeds 1 2 3]

For each seed: the default criteria as given, the given rules reweighted (the former
calibration), the proposal with rules found in the data, and an unconstrained logistic
regression on every candidate feature; then the churn lift of customer_at_risk. The same as
`glengarry population` followed by `glengarry calibrate` and `glengarry evaluate`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from qualification.calibration import calibrate
from qualification.criteria import default_criteria
from qualification.engine import qualify
from qualification.evaluation import evaluate
from qualification.population import generate_population

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)


def figure(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    criteria = default_criteria()
    print(
        "| seed | given | reweighted | proposed (rules) | unconstrained | proposal's gap "
        "| sales-ready share given / proposed | at-risk churn lift |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for seed in args.seeds:
        began = time.perf_counter()
        members = list(generate_population(args.contacts, seed, START, END))
        triples = [(m.contact, m.activities, m.outcome) for m in members]
        result = calibrate(triples, criteria, END)
        scored = [qualify(m.contact, m.activities, criteria, END) for m in members]
        churn = evaluate(scored, [m.outcome for m in members], END)
        proposed = result.calibrated["roc_auc"]
        gap = (
            result.unconstrained_auc - proposed
            if result.unconstrained_auc is not None and proposed is not None
            else None
        )
        print(
            f"| {seed} | {figure(result.given['roc_auc'])} "
            f"| {figure(result.reweighted['roc_auc'])} "
            f"| {figure(proposed)} ({len(result.rules)}) | {figure(result.unconstrained_auc)} "
            f"| {figure(gap)} | {figure(result.given['sales_ready_share'])} / "
            f"{figure(result.calibrated['sales_ready_share'])} | {figure(churn.at_risk_lift)} |"
        )
        print(f"<!-- seed {seed}: {time.perf_counter() - began:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main()
