"""Calibration: learn from outcomes how much each signal is worth, and propose criteria.

A logistic regression of "converted after `at`" on the engine's signal vectors gives each signal
a weight in log-odds. The proposal turns weights into points on one scale (so the score grows
with the odds), keeps the share of sales-ready leads about where it was (sales capacity does not
change because a file did), and carries the model itself as a `calibration` block so each
qualification gets a `probability`. Nothing is applied: the result is a file to review.

The model is checked on contacts it never saw: the newest ones (by `createdate`), since
criteria are always used on contacts that arrive after they were written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from qualification.criteria import (
    INACTIVITY_SIGNAL,
    Calibration,
    Criteria,
    EngagementType,
    Thresholds,
    parse_criteria,
)
from qualification.engine import Qualification, feature_values, qualify
from qualification.evaluation import evaluate
from qualification.features import matrix
from qualification.records import Activity, Contact, Outcome
from qualification.statuses import Status
from qualification.times import parse_instant

__all__ = ["CalibrationResult", "Model", "calibrate", "holdout_split"]

Member = tuple[Contact, Sequence[Activity], Outcome]

MIN_CONTACTS = 20
_LEADS = frozenset({Status.SALES_READY, Status.POOR_FIT, Status.NURTURE, Status.UNKNOWN})
_CUSTOMERS = frozenset({Status.CUSTOMER_ACTIVE, Status.CUSTOMER_AT_RISK})


@dataclass(frozen=True, slots=True)
class Model:
    """Log-odds of conversion = intercept + sum(coefficient * signal value)."""

    intercept: float
    coefficients: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    given: dict[str, Any]  # holdout evaluation of the criteria given
    calibrated: dict[str, Any]  # holdout evaluation of the proposal
    proposed: Criteria
    proposed_yaml: str
    model: Model  # fitted on the given criteria's signals
    train_size: int
    holdout_size: int


def calibrate(
    members: Iterable[Member],
    criteria: Criteria,
    at: datetime,
    holdout_fraction: float = 0.3,
) -> CalibrationResult:
    """Fit on the older contacts, evaluate both files on the newest `holdout_fraction`.

    Raises ValueError when there is too little to learn from (few contacts, or no conversions
    or no non-conversions among the training contacts).
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    train, holdout = holdout_split(list(members), holdout_fraction)
    if len(train) + len(holdout) < MIN_CONTACTS:
        raise ValueError(f"calibration needs at least {MIN_CONTACTS} contacts")
    given_train = [qualify(c, a, criteria, at) for c, a, _ in train]
    labels = _labels(train, at)
    # Disqualified contacts are out whatever their signals say: they would only blur the weights.
    usable = [i for i, q in enumerate(given_train) if q.status in _LEADS]
    vectors = [feature_values(given_train[i], criteria) for i in usable]
    y = labels[usable]
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("the training contacts need both conversions and non-conversions")
    fitted = _fit_signed(vectors, y, criteria)
    model = fitted.model
    draft = _propose(criteria, fitted, vectors)
    proposed = _with_capacity_thresholds(draft, criteria, train, given_train, at)
    given_holdout = [qualify(c, a, criteria, at) for c, a, _ in holdout]
    proposed_holdout = [qualify(c, a, proposed, at) for c, a, _ in holdout]
    outcomes = [o for _, _, o in holdout]
    given = evaluate(given_holdout, outcomes, at).to_dict()
    calibrated = evaluate(proposed_holdout, outcomes, at).to_dict()
    text = _document(proposed, criteria, len(train), int(y.sum()), given, calibrated, at)
    return CalibrationResult(
        given=given,
        calibrated=calibrated,
        proposed=parse_criteria(text, source="proposed criteria"),
        proposed_yaml=text,
        model=model,
        train_size=len(train),
        holdout_size=len(holdout),
    )


# --- Splitting ----------------------------------------------------------------------------------


def holdout_split(
    members: Sequence[Member], holdout_fraction: float
) -> tuple[list[Member], list[Member]]:
    """(train, holdout): the newest contacts by `createdate` are held out.

    Without a usable `createdate` on every contact, ids order them instead (CRM ids grow).
    """
    created = [_created(contact) for contact, _, _ in members]
    if all(value is not None for value in created):
        order = sorted(range(len(members)), key=lambda i: (created[i], members[i][0].id))
    else:
        order = sorted(range(len(members)), key=lambda i: members[i][0].id)
    cut = len(members) - math.ceil(len(members) * holdout_fraction)
    return [members[i] for i in order[:cut]], [members[i] for i in order[cut:]]


def _created(contact: Contact) -> datetime | None:
    value = contact.properties.get("createdate")
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _labels(members: Sequence[Member], at: datetime) -> npt.NDArray[np.int8]:
    return np.asarray(
        [1 if o.converted_at is not None and o.converted_at > at else 0 for _, _, o in members],
        dtype=np.int8,
    )


# --- Fitting ------------------------------------------------------------------------------------

_PENALTIES = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
_FOLDS = 5


def prior_weights(criteria: Criteria, columns: Sequence[str]) -> npt.NDArray[np.float64]:
    """How much each signal moves the given score: the starting point calibration corrects."""
    fit_points = {rule.signal: rule.points for rule in criteria.fit}
    weights = []
    for name in columns:
        if name in fit_points:
            weights.append(criteria.score.fit_weight * fit_points[name])
        elif name == INACTIVITY_SIGNAL:
            weights.append(float(criteria.inactivity.points if criteria.inactivity else 0))
        else:  # engagement features are already in points
            weights.append(criteria.score.engagement_weight)
    return np.asarray(weights, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Fit:
    intercept: float
    scale: float  # log-odds per point of the given score
    coefficients: dict[str, float]  # per signal: scale * prior weight + correction


def fit_model(
    vectors: Sequence[Mapping[str, float]], y: npt.NDArray[np.int8], criteria: Criteria
) -> Model:
    """Log-odds = a + b * (the given score's points) + a correction per signal.

    Conversions are few, so a free weight per signal overfits: the corrections are shrunk
    towards the given criteria (ridge), with the strength picked by cross-validation. With
    little evidence the proposal stays close to the file it started from.

    Engagement points cannot be negative and the inactivity penalty cannot be positive, so a
    signal whose weight comes out with the wrong sign is left out and the model refitted
    without it: the proposal keeps its points (no evidence either way) and `probability`
    ignores it.
    """
    return _fit_signed(vectors, y, criteria).model


@dataclass(frozen=True, slots=True)
class _Signed:
    model: Model
    scale: float


def _fit_signed(
    vectors: Sequence[Mapping[str, float]], y: npt.NDArray[np.int8], criteria: Criteria
) -> _Signed:
    engagement = set(criteria.compiled.signal_types)
    known = set(criteria.signals)
    columns = sorted(
        name
        for name in {key for vector in vectors for key in vector}
        if name in known and len({vector.get(name, 0.0) for vector in vectors}) > 1
    )
    labels = y.astype(np.float64)
    penalty = _cross_validated_penalty(matrix(vectors, columns), labels, criteria, columns)
    while True:
        fitted = _fit(matrix(vectors, columns), labels, prior_weights(criteria, columns), penalty)
        weights = dict(zip(columns, fitted.coefficients.values(), strict=True))
        wrong = {
            name
            for name, weight in weights.items()
            if (name in engagement and weight <= 0.0)
            or (name == INACTIVITY_SIGNAL and weight >= 0.0)
        }
        if not wrong:
            return _Signed(Model(fitted.intercept, weights), fitted.scale)
        columns = [name for name in columns if name not in wrong]


def _cross_validated_penalty(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], criteria: Criteria, columns: list[str]
) -> float:
    prior = prior_weights(criteria, columns)
    folds = np.arange(len(y)) % _FOLDS
    best, best_loss = _PENALTIES[-1], math.inf
    for penalty in _PENALTIES:
        loss = 0.0
        for fold in range(_FOLDS):
            train, test = folds != fold, folds == fold
            if y[train].min(initial=1.0) == y[train].max(initial=0.0):
                return best  # a fold without both outcomes: too little data to choose
            fitted = _fit(x[train], y[train], prior, penalty)
            loss += _log_loss(fitted, x[test], y[test])
        if loss < best_loss:
            best, best_loss = penalty, loss
    return best


def _fit(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    prior: npt.NDArray[np.float64],
    penalty: float,
) -> _Fit:
    """Penalised logistic regression by Newton's method; corrections on standardised columns."""
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    spread = x.std(axis=0) if len(x) else np.ones(x.shape[1])
    spread[spread == 0.0] = 1.0
    design = np.hstack([np.ones((len(y), 1)), (x @ prior)[:, None], (x - mean) / spread])
    ridge = np.r_[1e-6, 1e-6, np.full(x.shape[1], penalty)]
    theta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -35.0, 35.0)))
        gradient = design.T @ (y - p) - ridge * theta
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        theta += step
        if float(np.abs(step).max()) < 1e-9:
            break
    corrections = theta[2:] / spread
    coefficients = theta[1] * prior + corrections
    intercept = float(theta[0] - np.sum(corrections * mean))
    return _Fit(intercept, float(theta[1]), {str(i): float(w) for i, w in enumerate(coefficients)})


def _log_loss(fitted: _Fit, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    weights = np.asarray(list(fitted.coefficients.values()))
    z = np.clip(fitted.intercept + x @ weights, -35.0, 35.0)
    # log(1 + e^z) - y z, summed: the negative log-likelihood
    return float(np.sum(np.logaddexp(0.0, z) - y * z))


# --- Proposing ----------------------------------------------------------------------------------


def _propose(
    criteria: Criteria, fitted: _Signed, vectors: Sequence[Mapping[str, float]]
) -> Criteria:
    """Points from weights, on the given file's own scale.

    One point of the given score is worth `scale` log-odds, so a signal's new points are its
    weight divided by the log-odds its kind of point is worth: without corrections the
    proposal reproduces the given points. Signals without evidence (never seen, constant, or
    a weight of the wrong sign) keep their points.
    """
    weights = fitted.model.coefficients
    scale = fitted.scale if fitted.scale > 0.0 else 0.05
    per_fit_point = scale * criteria.score.fit_weight or scale
    per_engagement_point = scale * criteria.score.engagement_weight or scale
    fit = [
        rule.model_copy(update={"points": round(weights[rule.signal] / per_fit_point)})
        if rule.signal in weights
        else rule
        for rule in criteria.fit
    ]
    coefficients = {
        rule.signal: weights[rule.signal] for rule in criteria.fit if rule.signal in weights
    }
    engagement: dict[str, EngagementType] = {}
    for key, etype in criteria.engagement.items():
        new_points: dict[str, float] = {}
        for signal, points in [(key, etype.points), *((r.signal, r.points) for r in etype.rules)]:
            if signal in weights:
                # The feature is points x decay: a point's weight sets the new points.
                proposed = max(round(points * weights[signal] / per_engagement_point, 1), 0.1)
                new_points[signal] = proposed
                coefficients[signal] = weights[signal] * points / proposed
        engagement[key] = _scaled_type(etype, key, new_points, vectors)
    inactivity = criteria.inactivity
    if inactivity is not None and INACTIVITY_SIGNAL in weights:
        weight = weights[INACTIVITY_SIGNAL]
        inactivity = inactivity.model_copy(update={"points": min(round(weight / scale), -1)})
        coefficients[INACTIVITY_SIGNAL] = weight
    return criteria.model_copy(
        update={
            "name": f"{criteria.name} (calibrated)",
            "fit": fit,
            "engagement": engagement,
            "inactivity": inactivity,
            "calibration": Calibration(
                intercept=round(fitted.model.intercept, 6),
                coefficients={name: round(w, 6) for name, w in sorted(coefficients.items())},
            ),
        }
    )


def _scaled_type(
    etype: EngagementType,
    key: str,
    new_points: Mapping[str, float],
    vectors: Sequence[Mapping[str, float]],
) -> EngagementType:
    """New points for the type and its rules; the cap moves with the type's typical points."""
    old_points = {key: etype.points} | {r.signal: r.points for r in etype.rules}
    before = after = 0.0
    for signal, points in new_points.items():
        total = sum(v.get(signal, 0.0) for v in vectors)
        before += total
        after += total * points / old_points[signal] if old_points[signal] else 0.0
    cap = etype.cap
    if cap is not None and before > 0.0 and after > 0.0:
        cap = round(cap * after / before, 1)
    return etype.model_copy(
        update={
            "points": new_points.get(key, etype.points),
            "cap": cap,
            "rules": [
                rule.model_copy(update={"points": new_points[rule.signal]})
                if rule.signal in new_points
                else rule
                for rule in etype.rules
            ],
        }
    )


def _with_capacity_thresholds(
    draft: Criteria,
    given: Criteria,
    train: Sequence[Member],
    given_train: Sequence[Qualification],
    at: datetime,
) -> Criteria:
    """Thresholds that pass the same share of training leads as the given thresholds did."""
    thr = given.thresholds
    drafted = [qualify(c, a, draft, at) for c, a, _ in train]
    leads = [i for i, q in enumerate(given_train) if q.status in _LEADS]
    customers = [i for i, q in enumerate(given_train) if q.status in _CUSTOMERS]
    fit = _same_share([given_train[i].fit for i in leads], [drafted[i].fit for i in leads], thr.fit)
    engaged = _same_share(
        [given_train[i].engagement for i in leads],
        [drafted[i].engagement for i in leads],
        thr.engagement,
    )
    customer = _same_share(
        [given_train[i].engagement for i in customers],
        [drafted[i].engagement for i in customers],
        thr.customer_engagement,
    )
    engaged = max(engaged, 1)
    thresholds = Thresholds(
        fit=fit,
        engagement=engaged,
        customer_engagement=max(customer, 1),
        hysteresis=min(thr.hysteresis, engaged - 1),
        score_write_delta=thr.score_write_delta,
    )
    return draft.model_copy(update={"thresholds": thresholds})


def _same_share(before: Sequence[int], after: Sequence[int], threshold: int) -> int:
    """The threshold on `after` passing as many as `threshold` passed on `before`."""
    passing = sum(1 for value in before if value >= threshold)
    if not passing or passing == len(before):
        return threshold  # nothing to match: keep the given threshold
    return sorted(after, reverse=True)[passing - 1]


def _document(
    proposed: Criteria,
    given: Criteria,
    trained_on: int,
    converted: int,
    given_metrics: Mapping[str, Any],
    calibrated_metrics: Mapping[str, Any],
    at: datetime,
) -> str:
    def figure(metrics: Mapping[str, Any], key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.3f}"

    header = [
        "# PROPOSED criteria from `glengarry calibrate`: review before using them.",
        f"# Based on {given.name!r} (version {given.version}), scored at "
        f"{at.isoformat(timespec='seconds')}, fitted on {trained_on} contacts "
        f"({converted} converted).",
        "# Points are log-odds weights on one scale; thresholds keep the given sales-ready share.",
        f"# Holdout (newest contacts): ROC AUC {figure(given_metrics, 'roc_auc')} given, "
        f"{figure(calibrated_metrics, 'roc_auc')} proposed; lift "
        f"{figure(given_metrics, 'lift')} given, {figure(calibrated_metrics, 'lift')} proposed.",
        "# Comments of the original file are not carried over.",
        "",
    ]
    body = yaml.safe_dump(proposed.to_document(), sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + body
