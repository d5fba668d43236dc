"""How well qualifications predicted what happened next: lift, ROC AUC, Brier, per-status rates.

Only conversions (and churns) after the scoring instant count: an outcome the scorer could
already see is no prediction. Metrics that need both converted and unconverted contacts are None
when one side is missing, so a small or unlucky sample reports gaps instead of failing.

Customers are judged on churn: the churn rate of each status, and the lift of
customer_at_risk (its churn rate over that of all customers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from qualification.records import Outcome

__all__ = ["ChurnRate", "EvaluationReport", "Scored", "StatusRate", "evaluate"]

SALES_READY = "sales_ready"
AT_RISK = "customer_at_risk"
CUSTOMER_STATUSES = frozenset({"customer_active", AT_RISK})


class Scored(Protocol):
    """What evaluation reads of a qualification (engine.Qualification satisfies it)."""

    @property
    def contact_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def score(self) -> int: ...
    @property
    def probability(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class StatusRate:
    n: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "converted": self.converted, "rate": _round(self.rate)}


@dataclass(frozen=True, slots=True)
class ChurnRate:
    n: int
    churned: int

    @property
    def rate(self) -> float | None:
        return self.churned / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "churned": self.churned, "rate": _round(self.rate)}


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    n: int
    converted: int
    base_rate: float | None
    sales_ready_share: float | None
    sales_ready_conversion: float | None
    lift: float | None
    roc_auc: float | None
    brier: float | None
    ranked_by: str  # "probability" or "score"
    conversion_by_status: Mapping[str, StatusRate] = field(default_factory=dict)
    customers: int = 0  # contacts in a customer status
    churned: int = 0  # of those, churned after `at`
    at_risk_share: float | None = None
    at_risk_lift: float | None = None  # churn rate of at-risk over that of all customers
    churn_by_status: Mapping[str, ChurnRate] = field(default_factory=dict)

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.customers if self.customers else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "converted": self.converted,
            "base_rate": _round(self.base_rate),
            "sales_ready_share": _round(self.sales_ready_share),
            "sales_ready_conversion": _round(self.sales_ready_conversion),
            "lift": _round(self.lift),
            "roc_auc": _round(self.roc_auc),
            "brier": _round(self.brier),
            "ranked_by": self.ranked_by,
            "conversion_by_status": {
                status: rate.to_dict() for status, rate in self.conversion_by_status.items()
            },
            "customers": self.customers,
            "churned": self.churned,
            "churn_rate": _round(self.churn_rate),
            "at_risk_share": _round(self.at_risk_share),
            "at_risk_lift": _round(self.at_risk_lift),
            "churn_by_status": {
                status: rate.to_dict() for status, rate in self.churn_by_status.items()
            },
        }


def evaluate(
    qualifications: Iterable[Scored], outcomes: Iterable[Outcome], at: datetime
) -> EvaluationReport:
    """Compare each qualification at `at` with whether its contact converted after `at`.

    Contacts without an outcome count as not converted. Rankings use the calibrated probability
    when every qualification carries one, otherwise score/100 (then Brier measures the score
    read as a probability, which is mostly useful to compare files, not as an absolute).
    """
    converted_ids: set[str] = set()
    churned_ids: set[str] = set()
    for outcome in outcomes:
        if outcome.converted_at is not None and outcome.converted_at > at:
            converted_ids.add(outcome.contact_id)
        if outcome.churned_at is not None and outcome.churned_at > at:
            churned_ids.add(outcome.contact_id)
    churned_by_status: dict[str, list[int]] = {}
    labels: list[int] = []
    predictions: list[float] = []
    statuses: list[str] = []
    all_probabilities = True
    scores: list[float] = []
    for q in qualifications:
        labels.append(1 if q.contact_id in converted_ids else 0)
        statuses.append(str(q.status))
        churn = churned_by_status.setdefault(str(q.status), [0, 0])
        churn[0] += 1
        churn[1] += q.contact_id in churned_ids
        scores.append(q.score / 100.0)
        if q.probability is None:
            all_probabilities = False
        else:
            predictions.append(q.probability)
    ranked_by = "probability" if all_probabilities and labels else "score"
    y = np.asarray(labels, dtype=np.int8)
    p = np.asarray(predictions if ranked_by == "probability" else scores, dtype=np.float64)
    report = _report(y, p, statuses, ranked_by)
    return _with_churn(report, churned_by_status)


def _with_churn(report: EvaluationReport, by_status: Mapping[str, list[int]]) -> EvaluationReport:
    rates = {
        status: ChurnRate(n=n, churned=churned)
        for status, (n, churned) in sorted(by_status.items())
        if status in CUSTOMER_STATUSES or churned  # leads cannot churn; say so only if they did
    }
    customers = sum(rates[s].n for s in CUSTOMER_STATUSES if s in rates)
    churned = sum(rates[s].churned for s in CUSTOMER_STATUSES if s in rates)
    at_risk = rates.get(AT_RISK)
    base = churned / customers if customers else None
    at_risk_rate = at_risk.rate if at_risk is not None else None
    return replace(
        report,
        customers=customers,
        churned=churned,
        at_risk_share=(at_risk.n if at_risk else 0) / customers if customers else None,
        at_risk_lift=at_risk_rate / base if at_risk_rate is not None and base else None,
        churn_by_status=rates,
    )


def _report(
    y: npt.NDArray[np.int8], p: npt.NDArray[np.float64], statuses: list[str], ranked_by: str
) -> EvaluationReport:
    n = len(y)
    converted = int(y.sum())
    by_status: dict[str, list[int]] = {}
    for status, label in zip(statuses, y.tolist(), strict=True):
        counts = by_status.setdefault(status, [0, 0])
        counts[0] += 1
        counts[1] += label
    rates = {
        status: StatusRate(n=counts[0], converted=counts[1])
        for status, counts in sorted(by_status.items())
    }
    base_rate = converted / n if n else None
    ready = rates.get(SALES_READY)
    ready_share = (ready.n if ready else 0) / n if n else None
    ready_conversion = ready.rate if ready else None
    lift = (
        ready_conversion / base_rate
        if ready_conversion is not None and base_rate  # a zero base rate has no lift
        else None
    )
    both_classes = 0 < converted < n
    return EvaluationReport(
        n=n,
        converted=converted,
        base_rate=base_rate,
        sales_ready_share=ready_share,
        sales_ready_conversion=ready_conversion,
        lift=lift,
        roc_auc=roc_auc(y, p) if both_classes else None,
        brier=float(np.mean((p - y) ** 2)) if n else None,
        ranked_by=ranked_by,
        conversion_by_status=rates,
    )


def roc_auc(y: npt.NDArray[np.int8], p: npt.NDArray[np.float64]) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (ties count half), the figure
    sklearn's `roc_auc_score` gives; without sklearn, which alone would double the memory of
    the live report (app/effectiveness.py) that calls `evaluate`."""
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_ranks = (ends - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    positives = int(y.sum())
    negatives = len(y) - positives
    rank_sum = float(average_ranks[y == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
