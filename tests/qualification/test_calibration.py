"""Calibration: a time-based holdout, a proposal that parses, a better ranking than the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from qualification.calibration import (
    CalibrationResult,
    Model,
    _propose,
    _Signed,
    calibrate,
    holdout_split,
    prior_weights,
)
from qualification.criteria import Criteria, default_criteria, parse_criteria
from qualification.engine import feature_values, qualify
from qualification.features import matrix, signal_vector
from qualification.population import generate_population
from qualification.records import Activity, Contact, Outcome
from qualification.rule_search import Candidate, design

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)

Member = tuple[Contact, list[Activity], Outcome]


@pytest.fixture(scope="module")
def members() -> list[Member]:
    return [(m.contact, m.activities, m.outcome) for m in generate_population(5000, 1, START, END)]


@pytest.fixture(scope="module")
def result(members: list[Member]) -> CalibrationResult:
    return calibrate(members, default_criteria(), END)


def test_calibration_ranks_the_holdout_better_than_the_default(result: CalibrationResult) -> None:
    given, calibrated = result.given, result.calibrated
    assert (result.train_size, result.holdout_size) == (3500, 1500)
    assert given["n"] == calibrated["n"] == 1500
    assert given["ranked_by"] == "score"
    assert calibrated["ranked_by"] == "probability"
    assert calibrated["roc_auc"] > given["roc_auc"]
    # A probability is a probability: far better Brier than a score read as one.
    assert calibrated["brier"] < given["brier"]
    # Sales capacity is kept: about as many sales-ready leads as before.
    assert abs(calibrated["sales_ready_share"] - given["sales_ready_share"]) < 0.05
    assert calibrated["lift"] >= 1.5


def test_the_proposal_is_a_reviewable_file_that_parses_to_itself(result: CalibrationResult) -> None:
    text = result.proposed_yaml
    assert text.startswith("# PROPOSED criteria from `glengarry calibrate`")
    again = parse_criteria(text)
    assert again.version == result.proposed.version
    proposed = result.proposed
    assert proposed.name == "B2B SaaS default (calibrated)"
    assert proposed.calibration is not None
    assert set(proposed.calibration.coefficients) <= set(proposed.signals)
    assert all(rule.points >= 0 for etype in proposed.engagement.values() for rule in etype.rules)
    assert proposed.inactivity is not None
    assert proposed.inactivity.points <= 0
    assert proposed.thresholds.hysteresis < proposed.thresholds.engagement


def test_the_engine_probability_is_the_fitted_model(
    result: CalibrationResult,
    members: list[Member],
) -> None:
    proposed = result.proposed
    calibration = proposed.calibration
    assert calibration is not None
    for contact, activities, _ in members[:200]:
        q = qualify(contact, activities, proposed, END)
        features = signal_vector(q, proposed)
        z = calibration.intercept + sum(
            weight * features.get(name, 0.0) for name, weight in calibration.coefficients.items()
        )
        assert q.probability == pytest.approx(1 / (1 + np.exp(-z)))


def test_without_corrections_the_proposal_keeps_the_given_points(
    members: list[Member],
) -> None:
    criteria = default_criteria()
    vectors = [feature_values(qualify(c, a, criteria, END), criteria) for c, a, _ in members[:300]]
    columns = sorted({name for vector in vectors for name in vector})
    scale = 0.04
    weights = dict(zip(columns, scale * prior_weights(criteria, columns), strict=True))
    weights["inactivity"] = -0.4  # its points are weight / scale: -10
    proposed = _propose(criteria, _Signed(Model(-3.0, weights), scale), vectors)
    assert [r.points for r in proposed.fit] == [r.points for r in criteria.fit]
    for key, etype in criteria.engagement.items():
        new = proposed.engagement[key]
        assert new.points == pytest.approx(etype.points, abs=0.05)
        assert [r.points for r in new.rules] == pytest.approx([r.points for r in etype.rules])
    assert proposed.inactivity is not None
    assert proposed.inactivity.points == -10


def test_the_holdout_is_the_newest_contacts_or_the_highest_ids() -> None:
    def member(contact_id: str, created: str | None) -> Member:
        props = {} if created is None else {"createdate": created}
        return Contact(contact_id, props), [], Outcome(contact_id, None)

    dated = [
        member("a", "2026-01-05T00:00:00Z"),
        member("b", "2025-12-01T00:00:00Z"),
        member("c", "2026-02-01T00:00:00Z"),
        member("d", "2025-11-01T00:00:00Z"),
    ]
    train, holdout = holdout_split(dated, 0.5)
    assert [m[0].id for m in train] == ["d", "b"]
    assert [m[0].id for m in holdout] == ["a", "c"]
    undated = [*dated, member("e", None)]
    train, holdout = holdout_split(undated, 0.4)
    assert [m[0].id for m in train] == ["a", "b", "c"]
    assert [m[0].id for m in holdout] == ["d", "e"]


def test_too_little_to_learn_from_is_an_error(members: list[Member]) -> None:
    criteria = default_criteria()
    with pytest.raises(ValueError, match="at least 20 contacts"):
        calibrate(members[:10], criteria, END)
    nobody_converts = [(c, a, Outcome(c.id, None)) for c, a, _ in members[:200]]
    with pytest.raises(ValueError, match="both conversions and non-conversions"):
        calibrate(nobody_converts, criteria, END)
    with pytest.raises(ValueError, match="holdout_fraction"):
        calibrate(members[:200], criteria, END, holdout_fraction=1.0)


def test_conversions_before_scoring_are_not_learned_from(members: list[Member]) -> None:
    criteria = default_criteria()
    earlier = [
        (c, a, Outcome(c.id, None if o.converted_at is None else END - timedelta(days=1)))
        for c, a, o in members[:300]
    ]
    with pytest.raises(ValueError, match="both conversions and non-conversions"):
        calibrate(earlier, criteria, END)


def test_signal_vectors_and_matrix() -> None:
    criteria: Criteria = default_criteria()
    contact = Contact(
        "c1",
        {"email": "ann@northwind.com", "jobtitle": "VP Sales", "numemployees": "100-500"},
    )
    activities = [
        Activity("c1", "page_view", END - timedelta(days=10), {"url": "https://x/pricing"}),
        Activity("c1", "email_open", END - timedelta(days=80), {}),
    ]
    q = qualify(contact, activities, criteria, END)
    vector = signal_vector(q, criteria)
    assert vector["title_vp"] == 1.0
    assert vector["business_email"] == 1.0
    assert vector["pricing_page_visit"] == pytest.approx(6.0)  # 12 points, one half-life ago
    assert vector["inactivity"] == 0.0
    grid = matrix([vector, {"title_vp": 1.0, "unknown": 5.0}], ["title_vp", "pricing_page_visit"])
    assert grid.tolist() == [[1.0, pytest.approx(6.0)], [1.0, 0.0]]


# ---------------------------------------------------------------------------------------------
# Rules found in the data


def test_the_proposal_keeps_few_rules_each_with_its_support(result: CalibrationResult) -> None:
    proposed = result.proposed
    assert 0 < len(result.rules) <= 40
    assert result.candidates > len(result.rules)
    written = [r.signal for r in proposed.fit] + [
        signal
        for key, etype in proposed.engagement.items()
        for signal in [*([key] if etype.points > 0 else []), *(r.signal for r in etype.rules)]
    ]
    assert sorted(written) == sorted(rule.signal for rule in result.rules)
    for rule in result.rules:
        assert rule.matched > 0
        assert 0 <= rule.converted <= rule.matched
        assert (
            f"#   {rule.kind}: {rule.label}: {rule.matched} matched, {rule.converted} converted"
            in (result.proposed_yaml)
        )
    assert set(result.half_lives) == set(proposed.engagement) | set(result.half_lives)
    for key, etype in proposed.engagement.items():
        assert etype.half_life_days == result.half_lives[key]


def test_explainable_rules_cost_under_a_hundredth_of_auc(result: CalibrationResult) -> None:
    assert result.unconstrained_auc is not None
    assert result.unconstrained_auc - result.calibrated["roc_auc"] < 0.01
    assert result.calibrated["roc_auc"] > result.given["roc_auc"]
    assert result.reweighted["roc_auc"] > result.given["roc_auc"]
    assert "a logistic regression on every candidate" in result.proposed_yaml


def test_the_engine_computes_the_fitted_model_on_the_rules_as_written(
    result: CalibrationResult, members: list[Member]
) -> None:
    """Rules dropped by the selection send their activities on to the next rule or the
    default: the refit saw the file's own features, so the engine's probability is the model."""
    proposed = result.proposed
    calibration = proposed.calibration
    assert calibration is not None
    fit = [Candidate("fit", r.signal, r.label, r.condition) for r in proposed.fit]
    engagement = {
        key: [
            *(Candidate(key, r.signal, r.label, r.condition) for r in etype.rules),
            Candidate(key, key, etype.label, None),
        ]
        for key, etype in proposed.engagement.items()
    }
    points = {r.signal: 1.0 for r in proposed.fit}
    for key, etype in proposed.engagement.items():
        points[key] = etype.points
        points.update((r.signal, r.points) for r in etype.rules)
    sample = members[:300]
    built = design([c for c, _, _ in sample], [a for _, a, _ in sample], fit, engagement, END)
    x = built.features(result.half_lives)
    weights = np.array(
        [calibration.coefficients.get(c.signal, 0.0) * points[c.signal] for c in built.columns]
    )
    expected = 1 / (1 + np.exp(-(calibration.intercept + x @ weights)))
    engine = [qualify(c, a, proposed, END).probability for c, a, _ in sample]
    assert engine == pytest.approx(expected.tolist(), abs=1e-9)


def test_calibration_finds_signals_the_criteria_lack(members: list[Member]) -> None:
    """Without industry and title rules, reweighting cannot learn them; the rules can."""
    default = default_criteria()
    lacking = default.model_copy(
        update={
            "name": "no industry, no titles",
            "fit": [r for r in default.fit if r.signal in {"business_email", "free_mail"}],
        }
    )
    found = calibrate(members, lacking, END)
    fit_signals = {rule.signal for rule in found.rules if rule.kind == "fit"}
    assert any(s.startswith("industry_") for s in fit_signals), fit_signals
    assert any(s.startswith("title_") for s in fit_signals), fit_signals
    assert found.calibrated["roc_auc"] > found.reweighted["roc_auc"]
