"""The engine: statuses, scores, reasons, next_change_at, update/rescore, and CRM fields."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from qualification.criteria import Criteria, parse_criteria
from qualification.engine import (
    Qualification,
    Reason,
    feature_values,
    qualify,
    rescore,
    transition,
    update,
)
from qualification.fields import FIELD_NAMES, REASONS_MAX_CHARS, crm_values, needs_write
from qualification.records import Activity, Contact
from qualification.statuses import OVERRIDE_PROPERTY, Status

CRITERIA_YAML = r"""
name: engine test
fit:
  - label: VP-level title
    signal: title_vp
    points: 25
    condition: {property: jobtitle, regex: '\bvp\b'}
  - label: ideal-customer industry
    signal: icp_industry
    points: 30
    condition: {property: industry, in: [COMPUTER_SOFTWARE]}
  - label: free-mail address
    signal: free_mail
    points: -8
    condition: {property: email, free_mail: true}
engagement:
  page_view:
    label: website visit
    points: 2
    half_life_days: 10
    cap: 30
    rules:
      - label: pricing page visit
        signal: pricing_page_visit
        points: 18
        condition: {property: url, regex: /pricing}
  meeting: {label: meeting, points: 30, half_life_days: 20}
  email_open: {label: email open, points: 1, half_life_days: 10, cap: 5}
inactivity: {after_days: 30, points: -15, label: no activity since}
disqualifiers:
  - label: student
    signal: student
    condition: {property: jobtitle, regex: student}
  - label: competitor email domain
    signal: competitor
    condition: {property: email_domain, in: [rival.io]}
thresholds:
  fit: 50
  engagement: 40
  customer_engagement: 20
  hysteresis: 5
  score_write_delta: 5
reasons_max: 4
"""
CRITERIA = parse_criteria(CRITERIA_YAML)
AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)
GOOD_FIT = {"jobtitle": "VP Sales", "industry": "COMPUTER_SOFTWARE", "email": "a@acme.com"}


def contact(**props: str) -> Contact:
    return Contact("c1", props)


def act(kind: str, when: datetime, **props: str) -> Activity:
    return Activity("c1", kind, when, props)


def hot_activities(when: datetime = AT) -> list[Activity]:
    return [act("meeting", when), act("page_view", when, url="https://x.io/pricing")]


def good_lead(at: datetime = AT, previous: Qualification | None = None) -> Qualification:
    return qualify(contact(**GOOD_FIT), hot_activities(), CRITERIA, at, previous)


def with_yaml(extra: str) -> Criteria:
    return parse_criteria(CRITERIA_YAML + extra)


# ---------------------------------------------------------------------------------------------
# Reasons


def test_reason_texts() -> None:
    assert Reason("title_vp", "VP-level title", 25).text == "+25 VP-level title"
    assert (
        Reason("pricing", "pricing page visit", 18, date(2026, 5, 30)).text
        == "+18 pricing page visit 2026-05-30"
    )
    assert (
        Reason("inactivity", "no activity since", -15, date(2026, 3, 2)).text
        == "-15 no activity since 2026-03-02"
    )
    assert Reason("student", "student", 0).text == "student"


def test_sales_ready_lead_with_ranked_reasons() -> None:
    q = good_lead()
    assert (q.status, q.fit, q.engagement) == (Status.SALES_READY, 55, 48)
    assert q.score == 52  # half-up: 0.5 * 55 + 0.5 * 48 = 51.5
    assert [r.signal for r in q.reasons] == [
        "status",  # the deciding fact first, then the signals
        "icp_industry",  # ties on |points| go by signal name
        "meeting",
        "title_vp",
    ]
    assert q.reasons_text == (
        "fit 55 ≥ 50, engagement 48 ≥ 40; +30 ideal-customer industry; +30 meeting 2026-06-01; "
        "+25 VP-level title"
    )
    assert q.criteria_version == CRITERIA.version
    assert (q.status_since, q.computed_at) == (AT, AT)
    assert q.probability is None


def test_negative_fit_points_rank_by_magnitude() -> None:
    q = qualify(contact(**{**GOOD_FIT, "email": "a@gmail.com"}), [], CRITERIA, AT)
    assert q.fit == 47
    assert [r.points for r in q.reasons] == [0, 30, 25, -8]


def test_reasons_lead_with_the_deciding_fact() -> None:
    """Each status says first which figure decided it and what it needed."""
    poor = qualify(contact(jobtitle="VP Sales"), hot_activities(), CRITERIA, AT)
    assert poor.status is Status.POOR_FIT
    assert poor.reasons_text.startswith("fit 25, needs 50 for sales_ready; +30 meeting")
    cold = qualify(contact(**GOOD_FIT), [act("email_open", AT)], CRITERIA, AT)
    assert cold.status is Status.NURTURE
    assert cold.reasons_text.startswith("engagement 1, needs 40; +30 ideal-customer industry")
    rival = qualify(contact(**{**GOOD_FIT, "email": "x@rival.io"}), hot_activities(), CRITERIA, AT)
    assert rival.reasons_text.startswith("disqualified: competitor email domain; +30")
    assert rival.reasons[0] == Reason("competitor", "disqualified: competitor email domain", 0)
    customer = contact(lifecyclestage="customer")
    assert qualify(customer, [], CRITERIA, AT).reasons_text == (
        "engagement 0, needs 20 for customer_active"
    )
    assert qualify(contact(), [], CRITERIA, AT).reasons_text == (
        "nothing known yet: no fit data, no activity"
    )
    # A contact kept by the hysteresis margin is shown the bar it met, not the entry bar.
    q0 = qualify(contact(**GOOD_FIT), TWO_MEETINGS, CRITERIA, AT)
    stays = rescore(q0, CRITERIA, AT + 14.5 * DAY)
    assert stays.status is Status.SALES_READY
    assert stays.reasons_text.startswith("fit 55 ≥ 45, engagement 36 ≥ 35; ")


def test_the_deciding_fact_moving_with_decay_is_no_reason_to_write() -> None:
    q = qualify(contact(**GOOD_FIT), [act("meeting", AT - 25 * DAY)], CRITERIA, AT)
    assert q.status is Status.NURTURE
    written = crm_values(q)
    later = rescore(q, CRITERIA, AT + 2 * DAY)
    assert (q.reasons[0].text, later.reasons[0].text) == (
        "engagement 13, needs 40",
        "engagement 12, needs 40",
    )
    assert later.score > q.score - 5
    assert not needs_write(written, later, CRITERIA)
    # another status leads with another fact: that is news
    assert needs_write(written, good_lead(AT + 2 * DAY), CRITERIA)


def test_a_decaying_activity_falling_out_of_the_top_reasons_is_a_write() -> None:
    """Why a resync minutes after a backfill writes a few people (bench/README.md): an activity
    decaying by one point can fall below a fit reason of equal points (ties go by signal name)
    and leave the top three. The reasons shown change, so it is written; once per crossing,
    as decay only goes down."""
    gmail = {**GOOD_FIT, "email": "a@gmail.com"}  # -8 free-mail address
    pricing = [act("page_view", AT - 10.7 * DAY, url="https://x.io/pricing")]
    q = qualify(contact(**gmail), pricing, CRITERIA, AT)
    assert [r.text for r in q.reasons[1:]] == [
        "+30 ideal-customer industry",
        "+25 VP-level title",
        "+9 pricing page visit 2026-05-21",
    ]
    written = crm_values(q)
    assert not needs_write(written, rescore(q, CRITERIA, AT + timedelta(hours=2)), CRITERIA)
    # 10.9 days after the visit (half-life 10 days): 18 x 2^-1.09 = 8.49, rounded to 8
    later = rescore(q, CRITERIA, AT + 0.2 * DAY)
    assert [r.text for r in later.reasons[1:]] == [
        "+30 ideal-customer industry",
        "+25 VP-level title",
        "-8 free-mail address",
    ]
    assert (later.status, abs(later.score - q.score) < 5) == (q.status, True)
    assert needs_write(written, later, CRITERIA)


# ---------------------------------------------------------------------------------------------
# Statuses


def test_good_fit_without_engagement_is_nurture() -> None:
    q = qualify(contact(**GOOD_FIT), [], CRITERIA, AT)
    assert (q.status, q.engagement, q.score) == (Status.NURTURE, 0, 28)


def test_engaged_poor_fit() -> None:
    q = qualify(contact(jobtitle="Engineer"), hot_activities(), CRITERIA, AT)
    assert q.status is Status.POOR_FIT


def test_unknown_needs_no_fit_data_and_no_activity() -> None:
    assert qualify(contact(), [], CRITERIA, AT).status is Status.UNKNOWN
    assert qualify(contact(phone="1"), [], CRITERIA, AT).status is Status.UNKNOWN
    opened = qualify(contact(), [act("email_open", AT)], CRITERIA, AT)
    assert opened.status is Status.NURTURE
    ignored = qualify(contact(), [act("webinar", AT)], CRITERIA, AT)
    assert ignored.status is Status.UNKNOWN


def test_customers_are_active_or_at_risk() -> None:
    customer = contact(**GOOD_FIT, lifecyclestage="customer")
    assert qualify(customer, hot_activities(), CRITERIA, AT).status is Status.CUSTOMER_ACTIVE
    assert qualify(customer, [], CRITERIA, AT).status is Status.CUSTOMER_AT_RISK
    assert qualify(contact(lifecyclestage="Customer"), [], CRITERIA, AT).status is (
        Status.CUSTOMER_AT_RISK
    )


def test_override_pins_the_status_and_says_so() -> None:
    pinned = contact(**GOOD_FIT, **{OVERRIDE_PROPERTY: "Nurture"})
    q = qualify(pinned, hot_activities(), CRITERIA, AT)
    assert q.status is Status.NURTURE
    assert q.reasons[0] == Reason("override", "set by rep", 0)
    assert q.reasons_text.startswith("set by rep; +30")
    assert len(q.reasons) == 4
    bogus = contact(**GOOD_FIT, **{OVERRIDE_PROPERTY: "hot!"})
    assert qualify(bogus, hot_activities(), CRITERIA, AT).status is Status.SALES_READY


def test_disqualifier_beats_everything_and_keeps_the_score() -> None:
    student = contact(
        **{**GOOD_FIT, "jobtitle": "VP student", OVERRIDE_PROPERTY: "sales_ready"},
        lifecyclestage="customer",
    )
    q = qualify(student, hot_activities(), CRITERIA, AT)
    assert q.status is Status.DISQUALIFIED
    assert q.reasons[0] == Reason("student", "disqualified: student", 0)
    assert q.reasons_text.startswith("disqualified: student; ")
    assert q.score == 52  # reps still see what the contact would score


def test_competitor_domain_disqualifies() -> None:
    q = qualify(contact(email="x@Rival.io"), [], CRITERIA, AT)
    assert q.status is Status.DISQUALIFIED


def test_activities_after_at_are_ignored() -> None:
    q = qualify(contact(**GOOD_FIT), hot_activities(AT + DAY), CRITERIA, AT)
    assert (q.status, q.engagement) == (Status.NURTURE, 0)


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        qualify(contact(), [], CRITERIA, datetime(2026, 6, 1))


# ---------------------------------------------------------------------------------------------
# Hysteresis and status_since

TWO_MEETINGS = [act("meeting", AT), act("meeting", AT)]  # 60 points, half-life 20 days


def test_staying_engaged_needs_less_than_entering() -> None:
    lead = contact(**GOOD_FIT)
    q0 = qualify(lead, TWO_MEETINGS, CRITERIA, AT)
    assert q0.status is Status.SALES_READY
    t = AT + 14.5 * DAY  # engagement 36: below 40, above 40 - 5
    stays = rescore(q0, CRITERIA, t)
    assert (stays.engagement, stays.status) == (36, Status.SALES_READY)
    assert stays.status_since == AT
    fresh = qualify(lead, TWO_MEETINGS, CRITERIA, t)
    assert fresh.status is Status.NURTURE
    leaves = rescore(q0, CRITERIA, AT + 17 * DAY)
    assert (leaves.engagement, leaves.status) == (33, Status.NURTURE)
    assert leaves.status_since == AT + 17 * DAY


def test_staying_sales_ready_tolerates_a_small_fit_drop() -> None:
    q0 = good_lead()
    weaker = contact(**{**GOOD_FIT, "email": "a@gmail.com"})  # fit 47: below 50, above 45
    assert update(q0, weaker, [], CRITERIA, AT + DAY).status is Status.SALES_READY
    assert qualify(weaker, hot_activities(), CRITERIA, AT + DAY).status is Status.POOR_FIT


def test_customer_hysteresis() -> None:
    customer = contact(lifecyclestage="customer")
    q0 = qualify(customer, [act("meeting", AT)], CRITERIA, AT)  # 30
    t = AT + 16 * DAY  # 30 * 2^-0.8 = 17.2
    assert rescore(q0, CRITERIA, t).status is Status.CUSTOMER_ACTIVE
    assert qualify(customer, [act("meeting", AT)], CRITERIA, t).status is (Status.CUSTOMER_AT_RISK)


# ---------------------------------------------------------------------------------------------
# Score and inactivity


def test_inactivity_penalty_and_its_reason() -> None:
    q = qualify(contact(**GOOD_FIT), [act("meeting", AT - 40 * DAY)], CRITERIA, AT)
    assert q.engagement == 8  # 7.5 rounds half-up
    assert q.score == 32 - 15
    assert "-15 no activity since 2026-04-22" in q.reasons_text
    assert feature_values(q, CRITERIA)["inactivity"] == 1.0


def test_score_is_clamped_to_zero() -> None:
    q = qualify(contact(jobtitle="x"), [act("email_open", AT - 60 * DAY)], CRITERIA, AT)
    assert q.score == 0


def test_next_change_is_the_penalty_start_when_nothing_else_moves() -> None:
    q = qualify(contact(**GOOD_FIT), [act("email_open", AT - 10 * DAY)], CRITERIA, AT)
    assert q.next_change_at == AT + 20 * DAY
    assert rescore(q, CRITERIA, AT + 20 * DAY).score == q.score - 15
    assert rescore(q, CRITERIA, AT + 20 * DAY - MS).score == q.score


def test_next_change_is_exact_to_the_millisecond() -> None:
    q = good_lead()
    assert q.next_change_at is not None
    assert q.next_change_at.microsecond % 1000 == 0
    before = rescore(q, CRITERIA, q.next_change_at - MS)
    after = rescore(q, CRITERIA, q.next_change_at)
    assert before.score > q.score - 5
    assert before.status is q.status
    assert after.score <= q.score - 5  # the score drop comes before the status change


def test_next_change_follows_the_status_when_scores_cannot_drop_enough() -> None:
    criteria = with_yaml("score: {fit_weight: 1.0, engagement_weight: 0.0}\n")
    q = qualify(contact(**GOOD_FIT), TWO_MEETINGS, criteria, AT)
    assert q.next_change_at is not None
    # 60 * 2^(-t/20d) < 34.5 (engagement rounds to 34, below 40 - 5)
    expected = AT + timedelta(days=20 * math.log2(60 / 34.5))
    assert abs(q.next_change_at - expected) < 2 * MS
    assert rescore(q, criteria, q.next_change_at).status is Status.NURTURE
    assert rescore(q, criteria, q.next_change_at - MS).status is Status.SALES_READY


def test_next_change_is_none_when_nothing_can_change() -> None:
    assert qualify(contact(**GOOD_FIT), [], CRITERIA, AT).next_change_at is None
    idle = qualify(contact(**GOOD_FIT), [act("email_open", AT - 90 * DAY)], CRITERIA, AT)
    assert idle.next_change_at is None  # penalty already on, status and score cannot move


# ---------------------------------------------------------------------------------------------
# update / rescore


def test_update_equals_qualify_over_all_activities() -> None:
    lead = contact(**GOOD_FIT)
    first = [act("email_open", AT - 5 * DAY), act("meeting", AT - 20 * DAY)]
    q1 = qualify(lead, first, CRITERIA, AT)
    later = AT + 3 * DAY
    new = [act("page_view", AT + DAY, url="/pricing"), act("email_open", AT - 2 * DAY)]
    updated = update(q1, lead, new, CRITERIA, later)
    full = qualify(lead, first + new, CRITERIA, later, previous=q1)
    assert updated.to_public_dict() == full.to_public_dict()
    assert updated.engagement_state.at == full.engagement_state.at


def test_update_and_rescore_refuse_other_criteria_or_going_back() -> None:
    q = good_lead()
    other = parse_criteria(CRITERIA_YAML.replace("reasons_max: 4", "reasons_max: 3"))
    with pytest.raises(ValueError, match="use qualify"):
        rescore(q, other, AT)
    with pytest.raises(ValueError, match="use qualify"):
        update(q, contact(), [], other, AT)
    with pytest.raises(ValueError, match="back in time"):
        rescore(q, CRITERIA, AT - MS)
    with pytest.raises(ValueError, match="back in time"):
        update(q, contact(**GOOD_FIT), [], CRITERIA, AT - MS)
    with pytest.raises(ValueError, match="is not"):
        update(q, Contact("c2", {}), [], CRITERIA, AT)


def test_rescore_keeps_profile_and_state() -> None:
    q = good_lead()
    later = rescore(q, CRITERIA, AT + 3 * DAY)
    assert later.profile is q.profile
    assert later.engagement_state is q.engagement_state
    assert later.engagement < q.engagement
    assert later.computed_at == AT + 3 * DAY


# ---------------------------------------------------------------------------------------------
# Serialisation, transitions, probability


def test_round_trip_through_json() -> None:
    calibrated = with_yaml(
        "calibration: {intercept: -3, coefficients: {title_vp: 1.0, meeting: 0.05}}\n"
    )
    cases = [
        good_lead(),
        rescore(good_lead(), CRITERIA, AT + 40 * DAY),
        qualify(contact(jobtitle="student"), [], CRITERIA, AT),
        qualify(contact(**{OVERRIDE_PROPERTY: "poor_fit"}), [], CRITERIA, AT),
        qualify(contact(**GOOD_FIT), hot_activities(), calibrated, AT),
    ]
    for q in cases:
        again = Qualification.from_dict(json.loads(json.dumps(q.to_dict())))
        assert again == q


def test_public_dict() -> None:
    public: dict[str, Any] = good_lead().to_public_dict()
    assert list(public) == [
        "contact_id",
        "status",
        "score",
        "fit",
        "engagement",
        "health",
        "reasons",
        "reasons_text",
        "criteria_version",
        "status_since",
        "computed_at",
        "next_change_at",
        "probability",
    ]
    assert public["status"] == "sales_ready"
    assert public["reasons"][1] == {
        "signal": "icp_industry",
        "label": "ideal-customer industry",
        "points": 30,
    }
    json.dumps(public)


def test_transitions() -> None:
    q0 = good_lead()
    first = transition(None, q0)
    assert first is not None
    assert (first.from_status, first.to_status, first.at) == (None, Status.SALES_READY, AT)
    assert first.reason == q0.reasons_text
    assert transition(q0, rescore(q0, CRITERIA, AT + DAY)) is None
    cooled = rescore(q0, CRITERIA, AT + 60 * DAY)
    moved = transition(q0, cooled)
    assert moved is not None
    assert (moved.from_status, moved.to_status) == (Status.SALES_READY, Status.NURTURE)
    pinned = qualify(contact(**{OVERRIDE_PROPERTY: "sales_ready"}), [], CRITERIA, AT, q0)
    by_rep = transition(cooled, pinned)
    assert by_rep is not None
    assert by_rep.reason == "set by rep"


def test_probability_from_calibration() -> None:
    calibrated = with_yaml(
        "calibration:\n  intercept: -3\n"
        "  coefficients: {title_vp: 1.0, meeting: 0.05, inactivity: -1.0}\n"
    )
    q = qualify(contact(**GOOD_FIT), hot_activities(), calibrated, AT)
    assert q.probability == pytest.approx(1 / (1 + math.exp(-(-3 + 1 + 0.05 * 30))))
    features = feature_values(q, calibrated)
    assert features == {
        "title_vp": 1.0,
        "icp_industry": 1.0,
        "meeting": pytest.approx(30),
        "pricing_page_visit": pytest.approx(18),
        "inactivity": 0.0,
    }
    later = rescore(q, calibrated, AT + 20 * DAY)
    assert later.probability is not None
    assert later.probability < q.probability


# ---------------------------------------------------------------------------------------------
# CRM fields


def test_crm_values() -> None:
    values = crm_values(good_lead())
    assert tuple(values) == FIELD_NAMES
    assert values == {
        "glengarry_status": "sales_ready",
        "glengarry_score": "52",
        "glengarry_fit": "55",
        "glengarry_engagement": "48",
        "glengarry_reasons": good_lead().reasons_text,
        "glengarry_status_since": "2026-06-01T00:00:00.000Z",
        "glengarry_criteria_version": CRITERIA.version,
    }


def test_long_reasons_are_clipped_at_a_reason_boundary() -> None:
    long_label = "x" * 400
    criteria = parse_criteria(
        "name: long\nthresholds: {fit: 50, engagement: 40}\nfit:\n"
        + "".join(
            f"  - {{label: {long_label}{i}, points: {10 + i}, "
            f"condition: {{property: a, exists: true}}}}\n"
            for i in range(4)
        )
    )
    q = qualify(Contact("c", {"a": "1"}), [], criteria, AT)
    clipped = crm_values(q)["glengarry_reasons"]
    assert len(q.reasons_text) > REASONS_MAX_CHARS >= len(clipped)
    assert clipped.endswith("…")
    assert clipped.count("; ") == 2  # the deciding fact and one whole reason


def test_needs_write() -> None:
    q = good_lead()
    written = crm_values(q)
    assert needs_write(None, q, CRITERIA)
    assert needs_write({}, q, CRITERIA)
    assert not needs_write(written, q, CRITERIA)
    assert needs_write({**written, "glengarry_score": "47"}, q, CRITERIA)
    assert not needs_write({**written, "glengarry_score": "48"}, q, CRITERIA)
    assert needs_write({**written, "glengarry_score": "n/a"}, q, CRITERIA)
    assert needs_write({**written, "glengarry_status": "nurture"}, q, CRITERIA)
    # a new criteria version alone is no news: it travels with the writes that are
    assert not needs_write({**written, "glengarry_criteria_version": "0" * 12}, q, CRITERIA)
    missing = {k: v for k, v in written.items() if k != "glengarry_fit"}
    assert needs_write(missing, q, CRITERIA)
    # decayed points change the text but not which reasons lead
    slightly_later = rescore(q, CRITERIA, AT + DAY)
    assert slightly_later.reasons_text != q.reasons_text
    assert not needs_write(written, slightly_later, CRITERIA)
    # a new top-3 reason does warrant a write
    reordered = {**written, "glengarry_reasons": f"{q.reasons[0].text}; +40 something else"}
    assert needs_write(reordered, q, CRITERIA)


def test_the_conversion_probability_is_written_once_calibrated_when_it_moves() -> None:
    calibrated = with_yaml(
        "calibration: {intercept: -3, coefficients: {title_vp: 1.0, meeting: 0.05}}\n"
    )
    q = qualify(contact(**GOOD_FIT), hot_activities(), calibrated, AT)
    assert q.probability is not None
    values = crm_values(q)
    assert values["glengarry_conversion_probability"] == f"{100 * q.probability:.1f}"
    assert "glengarry_conversion_probability" not in crm_values(good_lead())
    assert not needs_write(values, q, calibrated)
    # written before calibration: the probability is news
    before = {k: v for k, v in values.items() if k != "glengarry_conversion_probability"}
    assert needs_write(before, q, calibrated)
    percent = 100 * q.probability
    assert not needs_write({**values, "glengarry_conversion_probability": f"{percent - 1.9:.1f}"},
                           q, calibrated)  # fmt: skip
    assert needs_write({**values, "glengarry_conversion_probability": f"{percent - 2.1:.1f}"},
                       q, calibrated)  # fmt: skip
