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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from qualification.criteria import (
    INACTIVITY_SIGNAL,
    Calibration,
    Criteria,
    EngagementRule,
    EngagementType,
    FitRule,
    Thresholds,
    parse_criteria,
)
from qualification.engine import Qualification, feature_values, qualify
from qualification.evaluation import evaluate
from qualification.features import matrix
from qualification.records import Activity, Contact, Outcome
from qualification.rule_search import (
    Candidate,
    Design,
    activity_candidates,
    design,
    fit_candidates,
    fit_logistic,
    fit_matrix,
    log_loss,
    select,
    warm_model,
)
from qualification.statuses import Status
from qualification.times import parse_instant

__all__ = ["CalibrationResult", "Model", "calibrate", "holdout_split"]

Member = tuple[Contact, Sequence[Activity], Outcome]

MIN_CONTACTS = 20
MAX_RULES = 40
_LEADS = frozenset({Status.SALES_READY, Status.POOR_FIT, Status.NURTURE, Status.UNKNOWN})
_CUSTOMERS = frozenset({Status.CUSTOMER_ACTIVE, Status.CUSTOMER_AT_RISK})


@dataclass(frozen=True, slots=True)
class Model:
    """Log-odds of conversion = intercept + sum(coefficient * signal value)."""

    intercept: float
    coefficients: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class RuleSupport:
    """A rule of the proposal with its evidence among the training leads."""

    kind: str  # "fit" or an activity type
    signal: str
    label: str
    matched: int  # contacts it matched
    converted: int  # of those, how many converted
    weight: float  # log-odds per point of its feature

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signal": self.signal,
            "label": self.label,
            "matched": self.matched,
            "converted": self.converted,
            "weight": round(self.weight, 4),
        }


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    given: dict[str, Any]  # holdout evaluation of the criteria given
    calibrated: dict[str, Any]  # holdout evaluation of the proposal (rules found in the data)
    reweighted: dict[str, Any]  # holdout evaluation of the given rules reweighted
    unconstrained_auc: float | None  # holdout ROC AUC of a logistic regression on every
    # candidate feature: what the proposal gives up by staying explainable
    proposed: Criteria
    proposed_yaml: str
    model: Model  # fitted on the given criteria's signals
    train_size: int
    holdout_size: int
    candidates: int = 0  # candidate rules considered
    rules: tuple[RuleSupport, ...] = ()  # the proposal's rules, with their support
    half_lives: Mapping[str, float] = field(default_factory=dict)  # chosen per activity kind


def calibrate(
    members: Iterable[Member],
    criteria: Criteria,
    at: datetime,
    holdout_fraction: float = 0.3,
    max_rules: int = MAX_RULES,
) -> CalibrationResult:
    """Fit on the older contacts, evaluate the files on the newest `holdout_fraction`.

    Two proposals are made: the given rules reweighted (`reweighted`), and rules found in the
    data (`proposed`, `calibrated`): candidates from the training leads, half-lives per
    activity kind chosen on the holdout, at most `max_rules` rules kept by an L1 path.

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
    given_holdout = [qualify(c, a, criteria, at) for c, a, _ in holdout]
    # Thresholds keep the share over every contact scored now: no outcome is read for them.
    everyone, given_everyone = [*train, *holdout], [*given_train, *given_holdout]
    reweighted_criteria = _with_capacity_thresholds(draft, criteria, everyone, given_everyone, at)
    outcomes = [o for _, _, o in holdout]
    given = evaluate(given_holdout, outcomes, at).to_dict()

    def on_holdout(proposal: Criteria) -> dict[str, Any]:
        return evaluate(
            [qualify(c, a, proposal, at) for c, a, _ in holdout], outcomes, at
        ).to_dict()

    reweighted = on_holdout(reweighted_criteria)
    leads = [train[i] for i in usable]
    holdout_leads = [i for i, q in enumerate(given_holdout) if q.status in _LEADS]
    found = _propose_rules(
        criteria,
        fitted.scale,
        leads,
        y,
        holdout,
        _labels(holdout, at),
        holdout_leads,
        at,
        max_rules,
    )
    proposed = _with_capacity_thresholds(found.criteria, criteria, everyone, given_everyone, at)
    calibrated = on_holdout(proposed)
    text = _rules_document(
        proposed, criteria, found, len(leads), int(y.sum()), given, reweighted, calibrated, at
    )
    return CalibrationResult(
        given=given,
        calibrated=calibrated,
        reweighted=reweighted,
        unconstrained_auc=found.unconstrained_auc,
        proposed=parse_criteria(text, source="proposed criteria"),
        proposed_yaml=text,
        model=model,
        train_size=len(train),
        holdout_size=len(holdout),
        candidates=found.candidates,
        rules=found.supports,
        half_lives=found.half_lives,
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
    """Thresholds that pass the same share of these leads as the given thresholds did."""
    thr = given.thresholds
    drafted = [qualify(c, a, draft, at) for c, a, _ in train]
    leads = [i for i, q in enumerate(given_train) if q.status in _LEADS]
    customers = [i for i, q in enumerate(given_train) if q.status in _CUSTOMERS]
    fit, engaged = _same_joint_share(
        np.asarray([given_train[i].fit for i in leads]),
        np.asarray([given_train[i].engagement for i in leads]),
        np.asarray([drafted[i].fit for i in leads]),
        np.asarray([drafted[i].engagement for i in leads]),
        thr.fit,
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


def _same_joint_share(
    fit_before: npt.NDArray[np.int64],
    engaged_before: npt.NDArray[np.int64],
    fit_after: npt.NDArray[np.int64],
    engaged_after: npt.NDArray[np.int64],
    fit_threshold: int,
    engagement_threshold: int,
) -> tuple[int, int]:
    """Fit and engagement thresholds passing as many leads on both as the given ones did.

    Each threshold alone is matched first; when ties or a new correlation between fit and
    engagement make the pair pass another share, the pair passing the closest share wins,
    then the one whose single shares are closest to the given ones."""
    fit = _same_share(fit_before.tolist(), fit_after.tolist(), fit_threshold)
    engaged = _same_share(engaged_before.tolist(), engaged_after.tolist(), engagement_threshold)
    if not len(fit_before):
        return fit, engaged
    target = np.mean((fit_before >= fit_threshold) & (engaged_before >= engagement_threshold))
    fit_share = np.mean(fit_before >= fit_threshold)
    engaged_share = np.mean(engaged_before >= engagement_threshold)
    best = (math.inf, math.inf, fit, engaged)
    fits = np.unique(np.r_[fit_after, fit])
    engagements = np.arange(1, 101)
    passes_engaged = engaged_after[None, :] >= engagements[:, None]  # (100, n)
    engaged_shares = passes_engaged.mean(axis=1)
    for f in fits.tolist():
        passes_fit = fit_after >= f
        joint = (passes_engaged & passes_fit[None, :]).mean(axis=1)
        gap = np.abs(joint - target)
        drift = np.abs(passes_fit.mean() - fit_share) + np.abs(engaged_shares - engaged_share)
        k = int(np.lexsort((drift, gap))[0])
        candidate = (float(gap[k]), float(drift[k]), int(f), int(engagements[k]))
        if candidate[:2] < best[:2]:
            best = candidate
    return best[2], best[3]


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


# --- Rules found in the data --------------------------------------------------------------------

_HALF_LIFE_GRID = (3.0, 7.0, 14.0, 30.0, 60.0, 120.0)
_L1_PENALTIES = tuple(float(c) for c in np.geomspace(0.002, 0.5, 30))
_REFIT_C = 0.1  # the L2 strength of every refit
_UNCONSTRAINED_C = (0.01, 0.03, 0.1, 0.3, 1.0)
_MIN_SUPPORT_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class _Found:
    criteria: Criteria
    supports: tuple[RuleSupport, ...]
    half_lives: dict[str, float]
    unconstrained_auc: float | None
    candidates: int


def _propose_rules(
    criteria: Criteria,
    scale: float,
    leads: Sequence[Member],
    y: npt.NDArray[np.int8],
    holdout: Sequence[Member],
    y_holdout: npt.NDArray[np.int8],
    holdout_leads: Sequence[int],
    at: datetime,
    max_rules: int,
) -> _Found:
    contacts = [c for c, _, _ in leads]
    histories = [a for _, a, _ in leads]
    converted = [bool(v) for v in y]
    min_support = max(20, math.ceil(_MIN_SUPPORT_SHARE * len(leads)))
    given_fit = [Candidate("fit", r.signal, r.label, r.condition) for r in criteria.fit]
    fit = _unique(given_fit + fit_candidates(contacts, converted, min_support))
    engagement = activity_candidates(histories, converted, at, min_support)
    found = fit_matrix(contacts, fit)
    keep = _distinct(found)
    fit, found = [fit[j] for j in keep], found[:, keep]
    train_design = design(contacts, histories, fit, engagement, at, found)
    hold_design = design(
        [c for c, _, _ in holdout], [a for _, a, _ in holdout], fit, engagement, at
    )
    half_lives = _choose_half_lives(
        criteria, train_design, y, hold_design, y_holdout, list(holdout_leads)
    )
    x = train_design.features(half_lives)
    x_hold = hold_design.features(half_lives)
    unconstrained = None
    if 0 < y_holdout.sum() < len(y_holdout):
        # its strength too is the holdout's best: the yardstick is the best it can do
        fits = [fit_logistic(x, y, c) for c in _UNCONSTRAINED_C]
        intercept, weights = min(fits, key=lambda f: log_loss(f[0], f[1], x_hold, y_holdout))
        from sklearn.metrics import roc_auc_score  # only calibration fits (slow import)

        unconstrained = float(roc_auc_score(y_holdout, intercept + x_hold @ weights))
    nonnegative = [not c.is_fit for c in train_design.columns]
    # how many rules: chosen on the holdout leads, as the half-lives and the yardstick's strength
    validation = (x_hold[list(holdout_leads)], y_holdout[list(holdout_leads)])
    selection = select(x, y, nonnegative, max_rules, _L1_PENALTIES, _REFIT_C, validation)
    chosen = [train_design.columns[j] for j in sorted(selection.weights)]
    fit_columns = {c.signal: j for j, c in enumerate(train_design.columns) if c.is_fit}
    intercept, written, kept = _refit_as_written(
        contacts, histories, y, chosen, half_lives, at, train_design.fit, fit_columns
    )
    draft, supports = _rules_criteria(criteria, scale, intercept, written, kept, half_lives)
    return _Found(draft, supports, half_lives, unconstrained, len(train_design.columns))


def _unique(candidates: Sequence[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    unique = []
    for candidate in candidates:
        if candidate.signal not in seen:
            seen.add(candidate.signal)
            unique.append(candidate)
    return unique


def _distinct(found: npt.NDArray[np.float64]) -> list[int]:
    """Fit candidates that match the same training leads are one signal: the first is kept
    (the given file's rules come first)."""
    seen: set[bytes] = set()
    kept = []
    for j in range(found.shape[1]):
        key = np.packbits(found[:, j] > 0.0).tobytes()
        if key not in seen:
            seen.add(key)
            kept.append(j)
    return kept


def _choose_half_lives(
    criteria: Criteria,
    train: Design,
    y: npt.NDArray[np.int8],
    holdout: Design,
    y_holdout: npt.NDArray[np.int8],
    holdout_leads: list[int],
) -> dict[str, float]:
    """Per activity kind, the half-life whose model predicts the holdout leads best (log-loss),
    one kind at a time from the given half-lives (14 days for kinds they lack)."""
    half_lives = {
        kind: criteria.engagement[kind].half_life_days if kind in criteria.engagement else 14.0
        for kind in train.kinds
    }
    hy = y_holdout[holdout_leads]
    if not len(hy) or hy.min() == hy.max():
        return half_lives

    model = warm_model(_REFIT_C)

    def loss(candidate: dict[str, float]) -> float:
        intercept, weights = fit_logistic(train.features(candidate), y, _REFIT_C, model=model)
        return log_loss(intercept, weights, holdout.features(candidate)[holdout_leads], hy)

    for kind in train.kinds:
        options = sorted({*_HALF_LIFE_GRID, half_lives[kind]})
        half_lives[kind] = min(options, key=lambda days: loss({**half_lives, kind: days}))
    return half_lives


def _refit_as_written(
    contacts: Sequence[Contact],
    histories: Sequence[Sequence[Activity]],
    y: npt.NDArray[np.int8],
    chosen: Sequence[Candidate],
    half_lives: Mapping[str, float],
    at: datetime,
    fitted: npt.NDArray[np.float64],
    fit_columns: Mapping[str, int],
) -> tuple[float, dict[str, float], list[Candidate]]:
    """Refit on the rules as the file will have them: an activity whose rule was not kept now
    feeds its kind's next matching rule or default, so the features change. Engagement weights
    must be positive: a rule whose weight is not is dropped (its activities flow on), a default
    whose weight is not is left at zero points (its activities count for nothing)."""
    fit = [c for c in chosen if c.is_fit]
    rules = [c for c in chosen if not c.is_fit and c.condition is not None]
    kinds = sorted({c.kind for c in chosen if not c.is_fit})
    # a default not chosen stays at zero points: its activities count for nothing
    zero_defaults = {kind for kind in kinds if not any(c.signal == kind for c in chosen)}
    while True:
        engagement: dict[str, list[Candidate]] = {
            kind: [
                *(c for c in rules if c.kind == kind),
                Candidate(kind, kind, kind.replace("_", " "), None),
            ]
            for kind in kinds
        }
        found = fitted[:, [fit_columns[c.signal] for c in fit]]
        built = design(contacts, histories, fit, engagement, at, found)
        columns = [
            j
            for j, c in enumerate(built.columns)
            if c.is_fit or c.condition is not None or c.kind not in zero_defaults
        ]
        x = built.features(dict(half_lives))[:, columns]
        if not columns:
            rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            return math.log(rate / (1 - rate)), {}, []
        intercept, weights = fit_logistic(x, y, _REFIT_C)
        kept = [built.columns[j] for j in columns]
        wrong = [c for c, w in zip(kept, weights, strict=True) if not c.is_fit and w <= 0.0]
        if not wrong:
            present = x > 0.0
            kept = [
                replace(c, matched=int(present[:, j].sum()), converted=int(y[present[:, j]].sum()))
                for j, c in enumerate(kept)
            ]
            return intercept, {c.signal: float(w) for c, w in zip(kept, weights, strict=True)}, kept
        for candidate in wrong:
            if candidate.condition is None:
                zero_defaults.add(candidate.kind)
            else:
                rules = [c for c in rules if c.signal != candidate.signal]


def _rules_criteria(
    criteria: Criteria,
    scale: float,
    intercept: float,
    weights: Mapping[str, float],
    kept: Sequence[Candidate],
    half_lives: Mapping[str, float],
) -> tuple[Criteria, tuple[RuleSupport, ...]]:
    """The proposal: the given file with its fit rules and engagement replaced by the kept
    rules, points on the given file's scale, and the model as its calibration block."""
    scale = scale if scale > 0.0 else 0.05
    per_fit_point = scale * criteria.score.fit_weight or scale
    per_engagement_point = scale * criteria.score.engagement_weight or scale
    fit_rules = []
    coefficients: dict[str, float] = {}
    for c in kept:
        if c.is_fit and c.condition is not None:
            weight = weights[c.signal]
            fit_points = round(weight / per_fit_point) or (1 if weight > 0 else -1)
            fit_rules.append(
                FitRule(label=c.label, signal=c.signal, points=fit_points, condition=c.condition)
            )
            coefficients[c.signal] = weight
    engagement: dict[str, EngagementType] = {}
    for kind in sorted({c.kind for c in kept if not c.is_fit}):
        rules = []
        for c in kept:
            if c.kind == kind and c.condition is not None:
                points = max(round(weights[c.signal] / per_engagement_point, 1), 0.1)
                rules.append(
                    EngagementRule(
                        label=c.label, signal=c.signal, points=points, condition=c.condition
                    )
                )
                coefficients[c.signal] = weights[c.signal] / points
        default = 0.0
        if kind in weights:
            default = max(round(weights[kind] / per_engagement_point, 1), 0.1)
            coefficients[kind] = weights[kind] / default
        given = criteria.engagement.get(kind)
        engagement[kind] = EngagementType(
            label=given.label if given is not None else kind.replace("_", " "),
            points=default,
            half_life_days=half_lives[kind],
            rules=rules,
        )
    draft = criteria.model_copy(
        update={
            "name": f"{criteria.name} (calibrated)",
            "fit": fit_rules,
            "engagement": engagement,
            "calibration": Calibration(
                intercept=round(intercept, 6),
                coefficients={name: round(w, 6) for name, w in sorted(coefficients.items())},
            ),
        }
    )
    supports = tuple(
        RuleSupport(c.kind, c.signal, c.label, c.matched, c.converted, weights[c.signal])
        for c in kept
    )
    return draft, supports


def _rules_document(
    proposed: Criteria,
    given: Criteria,
    found: _Found,
    trained_on: int,
    converted: int,
    given_metrics: Mapping[str, Any],
    reweighted: Mapping[str, Any],
    calibrated: Mapping[str, Any],
    at: datetime,
) -> str:
    def figure(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "n/a"

    header = [
        "# PROPOSED criteria from `glengarry calibrate`: review before using them.",
        f"# Based on {given.name!r} (version {given.version}), scored at "
        f"{at.isoformat(timespec='seconds')}, fitted on {trained_on} leads "
        f"({converted} converted).",
        f"# Rules found in the data: {len(found.supports)} kept of {found.candidates} candidates; "
        "points are log-odds weights on one scale;",
        "# thresholds keep the given sales-ready share. Decay half-lives were chosen per activity "
        "kind on the",
        "# holdout (the newest contacts), so its figures flatter this proposal a little.",
        "# Holdout ROC AUC: given "
        f"{figure(given_metrics.get('roc_auc'))}, given rules reweighted "
        f"{figure(reweighted.get('roc_auc'))}, proposed {figure(calibrated.get('roc_auc'))}, "
        f"a logistic regression on every candidate {figure(found.unconstrained_auc)};",
        f"# lift {figure(given_metrics.get('lift'))} given, "
        f"{figure(calibrated.get('lift'))} proposed.",
        "# Half-lives (days): "
        + ", ".join(f"{kind} {days:g}" for kind, days in sorted(found.half_lives.items())),
        "# Support among the training leads (contacts matched, of them converted):",
        *(
            f"#   {rule.kind}: {rule.label}: {rule.matched} matched, {rule.converted} converted"
            for rule in found.supports
        ),
        "# Comments of the original file are not carried over.",
        "",
    ]
    body = yaml.safe_dump(proposed.to_document(), sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + body
