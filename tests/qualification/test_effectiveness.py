"""The effectiveness report computed from a history built by hand: each figure, its n, the small
groups, and what is judged from which instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from qualification.effectiveness import (
    Change,
    Happened,
    ReportInput,
    Survey,
    Touch,
    effectiveness_report,
)
from qualification.evaluation import roc_auc

T = datetime(2026, 6, 1, tzinfo=UTC)
D = timedelta(days=1)
READY, NURTURE, ACTIVE, RISK = "sales_ready", "nurture", "customer_active", "customer_at_risk"


def _history() -> tuple[list[Change], list[Happened], list[Touch], list[Survey]]:
    changes: list[Change] = []
    outcomes: list[Happened] = []
    touches: list[Touch] = []
    surveys: list[Survey] = []
    for c in range(1, 41):  # 40 sales_ready at T, 10 convert
        changes.append(Change(c, None, READY, T - 10 * D, 80, None))
        if c <= 10:
            outcomes.append(Happened(c, "became_customer", T + 20 * D))
    for c in range(41, 141):  # 100 in nurture at T, 5 convert
        changes.append(Change(c, None, NURTURE, T - 10 * D, 30, None))
        if c in (41, 43, 44, 45, 46):
            outcomes.append(Happened(c, "became_customer", T + 40 * D))
    # 41 becomes sales_ready, is reached within two hours and sold; 42 is left waiting, drops.
    changes.append(Change(41, NURTURE, READY, T + 5 * D, 75, None))
    touches.append(Touch(41, T + 5 * D + timedelta(hours=2)))
    changes.append(Change(42, NURTURE, READY, T + 5 * D, 75, None))
    changes.append(Change(42, READY, NURTURE, T + 30 * D, 40, None))
    changes.append(Change(1, READY, ACTIVE, T + 21 * D, 90, None))
    # Customers at T: 10 active, 5 at risk; one at risk recovers, one churns.
    for c in range(200, 215):
        changes.append(Change(c, None, ACTIVE if c < 210 else RISK, T - 30 * D))
    changes.append(Change(210, RISK, ACTIVE, T + 10 * D))
    changes.append(Change(211, RISK, NURTURE, T + 20 * D))
    # Deals: two won from sales-ready contacts (EUR and USD), one lost from nurture.
    outcomes.append(Happened(2, "deal_won", T + 25 * D, 1000.0, "EUR", "d1"))
    outcomes.append(Happened(3, "deal_won", T + 25 * D, 500.0, "USD", "d2"))
    outcomes.append(Happened(3, "deal_won", T + 25 * D, 500.0, "USD", "d2"))  # twice: once
    outcomes.append(Happened(50, "deal_lost", T + 25 * D, 700.0, "EUR", "d3"))
    # After the sale: 1 (sold as sales_ready) a promoter, 43 (sold from nurture) a detractor;
    # 44 answered before the sale (not counted).
    surveys.append(Survey(1, T + 30 * D, "nps", 10.0))
    surveys.append(Survey(1, T + 31 * D, "csat", 5.0))
    surveys.append(Survey(43, T + 50 * D, "nps", 3.0))
    surveys.append(Survey(44, T + 1 * D, "nps", 0.0))
    return changes, outcomes, touches, surveys


def _report(until: datetime = T + 100 * D, **kwargs: Any) -> dict[str, Any]:
    changes, outcomes, touches, surveys = _history()
    data = {
        "since": T,
        "until": until,
        "horizon": 90 * D,
        "changes": changes,
        "outcomes": outcomes,
        "touches": touches,
        "surveys": surveys,
    } | kwargs
    return effectiveness_report(ReportInput(**data))


def test_lift_and_conversion_by_status_carry_their_n() -> None:
    body = _report()
    lift = body["lift"]
    assert lift["sales_ready"] == {"n": 40, "converted": 10, "rate": 0.25, "small": False}
    assert lift["all"] == {"n": 140, "converted": 15, "rate": 0.1071, "small": False}
    assert lift["value"] == round(0.25 / (15 / 140), 4)
    assert body["conversion_by_status"][NURTURE]["n"] == 100


def test_a_group_under_thirty_is_marked_small_and_an_empty_one_has_no_rate() -> None:
    changes = _history()[0]
    few = [c for c in changes if not (11 <= c.contact <= 40)]
    body = _report(changes=few)
    assert body["lift"]["sales_ready"] == {"n": 10, "converted": 10, "rate": 1.0, "small": True}
    assert body["lift"]["small"] is True
    assert body["left_unworked"]["small"] is True


def test_close_rate_and_won_amount_by_currency_count_each_deal_once() -> None:
    body = _report()
    assert body["close_rate"][READY] == {"n": 2, "won": 2, "rate": 1.0, "small": True}
    assert body["close_rate"]["other"] == {"n": 1, "won": 0, "rate": 0.0, "small": True}
    assert body["won_amount"][READY] == {"EUR": 1000.0, "USD": 500.0}
    assert body["won_amount"]["other"] == {}


def test_flows_go_both_ways_and_left_unworked_and_speed_to_lead() -> None:
    body = _report()
    matrix = body["flows"]["matrix"]
    assert matrix[NURTURE][READY] == 2
    assert matrix[READY][NURTURE] == 1
    assert matrix[RISK] == {ACTIVE: 1, NURTURE: 1}
    # 1 left sales_ready for a customer status after no touch; 42 dropped with none either.
    assert body["left_unworked"]["n"] == 2
    assert body["left_unworked"]["unworked"] == 2
    speed = body["speed_to_lead"]
    assert speed["within_a_day"] == {"n": 2, "reached": 1, "rate": 0.5, "small": True}
    assert speed["conversion_reached"]["converted"] == 1  # 41
    assert speed["conversion_waiting"] == {"n": 1, "converted": 0, "rate": 0.0, "small": True}
    ttc = body["time_to_conversion"]
    assert ttc["from_sales_ready"]["n"] == 11  # 1..10 from T-10d, 41 from T+5d
    assert ttc["from_sales_ready"]["median_days"] == 30.0
    assert ttc["converted_without_sales_ready"] == 4  # 43 to 46


def test_status_mix_counts_each_status_at_since_and_at_each_weeks_end() -> None:
    mix = _report()["status_mix"]
    # Weekly from T while a week fits before `until` (T+98d), then `until` itself.
    assert [point["at"] for point in mix] == [
        *((T + 7 * k * D).isoformat() for k in range(15)),
        (T + 100 * D).isoformat(),
    ]
    assert mix[0] == {
        "at": T.isoformat(),
        "n": 155,
        "counts": {ACTIVE: 10, RISK: 5, NURTURE: 100, READY: 40},
    }
    assert mix[1]["counts"] == {ACTIVE: 10, RISK: 5, NURTURE: 98, READY: 42}  # 41, 42 ready
    assert mix[2]["counts"] == {ACTIVE: 11, RISK: 4, NURTURE: 98, READY: 42}  # 210 recovered
    # By T+21d: 211 fell to nurture and 1 was sold (a change at a week's end is in that week).
    assert mix[3]["counts"] == {ACTIVE: 12, RISK: 3, NURTURE: 99, READY: 41}
    assert mix[-1] == {
        "at": (T + 100 * D).isoformat(),
        "n": 155,
        "counts": {ACTIVE: 12, RISK: 3, NURTURE: 100, READY: 40},
    }  # 42 dropped back at T+30d


def test_customers_at_risk_and_what_became_of_them() -> None:
    customers = _report()["customers"]
    assert customers["at_risk_share"] == {"n": 15, "at_risk": 5, "rate": 0.3333, "small": True}
    assert customers["at_risk_churned"]["churned"] == 1
    assert customers["at_risk_recovered"]["recovered"] == 1
    assert customers["active_churned"] == {"n": 10, "churned": 0, "rate": 0.0, "small": True}


def test_happiness_by_the_status_before_the_sale() -> None:
    happiness = _report()["happiness_by_presale_status"]
    assert happiness[READY]["nps"] == {
        "n": 1,
        "score": 100.0,
        "promoters": 1,
        "detractors": 0,
        "small": True,
    }
    assert happiness[READY]["csat"]["mean"] == 5.0
    assert happiness[NURTURE]["nps"]["score"] == -100.0  # 43; 44 answered before its sale


def test_without_the_survey_scope_the_report_says_so_never_a_zero() -> None:
    body = _report(surveys=None, surveys_missing="scope crm.objects.feedback_submissions.read")
    assert body["happiness_by_presale_status"] == (
        "no survey data: scope crm.objects.feedback_submissions.read"
    )
    bare = _report(surveys=None)
    assert bare["happiness_by_presale_status"] == "no survey data: scope missing"
    none = _report(outcomes_missing="the salesforce connector does not read outcomes yet")
    assert none["lift"].startswith("no outcome data: ")
    assert none["close_rate"].startswith("no outcome data: ")


def test_forecast_weeks_and_calibration_deciles_once_calibrated() -> None:
    assert _report()["forecast"]["calibrated"] is False
    changes = [
        Change(c, None, READY if c % 2 else NURTURE, T + D, None, 0.5 if c % 2 else 0.1)
        for c in range(1, 101)
    ]
    outcomes = [Happened(c, "became_opportunity", T + 3 * D) for c in range(1, 101, 4)]
    body = _report(since=T - D, until=T + 120 * D, changes=changes, outcomes=outcomes)
    forecast = body["forecast"]
    assert forecast["calibrated"] is True
    first = forecast["weeks"][0]
    assert (first["n"], first["expected"], first["actual"]) == (100, 30.0, 25)
    assert first["complete"] is True
    assert forecast["weeks"][-1]["complete"] is False
    # The table ranks the leads at `since` by the probability they had then.
    later = _report(since=T + 2 * D, until=T + 120 * D, changes=changes, outcomes=outcomes)
    deciles = later["forecast"]["calibration"]
    assert len(deciles) == 10
    assert (deciles[0]["predicted"], deciles[0]["converted"]) == (0.1, 0)
    assert (deciles[-1]["predicted"], deciles[-1]["rate"]) == (0.5, 0.5)


def test_evaluations_roc_auc_is_sklearns_ties_included() -> None:
    rng = np.random.default_rng(7)
    for n in (2, 9, 400):
        y = rng.integers(0, 2, n).astype(np.int8)
        y[:2] = (1, 0)
        p = np.round(rng.random(n), 1)  # many ties
        assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
