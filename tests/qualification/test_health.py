"""Customer health: what customers do and say decides at-risk, with reasons and exact timing."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from qualification.batch import STATUS_CODES, pack, rescore_batch
from qualification.criteria import Criteria, CriteriaError, parse_criteria
from qualification.engine import Qualification, qualify, rescore, update
from qualification.health import raw_at, seconds_until_crossing
from qualification.records import Activity, Contact
from qualification.statuses import Status

BASE_YAML = r"""
name: health test
fit:
  - {label: business email domain, signal: business_email, points: 10,
     condition: {property: email, free_mail: false}}
engagement:
  meeting: {label: meeting, points: 30, half_life_days: 20}
  product_usage: {label: product usage, points: 5, half_life_days: 7, cap: 30}
thresholds: {fit: 50, engagement: 40, customer_engagement: 20, hysteresis: 5}
"""
HEALTH_YAML = r"""
customer_health:
  base: 60
  at_risk_below: 40
  activities:
    product_usage:
      label: product usage
      points: 2
      half_life_days: 14
      cap: 20
      lapse: {after_days: 21, points: -30, label: no product usage since}
    survey_response:
      label: survey answer
      half_life_days: {survey_days}
      rules:
        - {label: "NPS {score} on", signal: nps_detractor, points: -30,
           condition: {property: score, range: {max: 6}}}
        - {label: "NPS {score} on", signal: nps_promoter, points: 15,
           condition: {property: score, range: {min: 9}}}
    ticket:
      label: support ticket
      half_life_days: {ticket_days}
      rules:
        - label: urgent ticket open since
          signal: urgent_ticket_open
          points: -10
          condition: {all: [{property: priority, equals: URGENT}, {property: status, equals: OPEN}]}
"""


def health_yaml(survey_days: float = 90, ticket_days: float = 30) -> str:
    return HEALTH_YAML.replace("{survey_days}", str(survey_days)).replace(
        "{ticket_days}", str(ticket_days)
    )


CRITERIA = parse_criteria(BASE_YAML + health_yaml())
WITHOUT_HEALTH = parse_criteria(BASE_YAML)
AT = datetime(2026, 11, 20, tzinfo=UTC)
DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)
CUSTOMER = Contact("c1", {"lifecyclestage": "customer", "email": "ann@acme.com"})


def act(kind: str, when: datetime, **props: str) -> Activity:
    return Activity("c1", kind, when, props)


def nps(score: int, when: datetime) -> Activity:
    return act("survey_response", when, survey="nps", score=str(score))


def urgent_ticket(when: datetime, status: str = "OPEN") -> Activity:
    return act("ticket", when, priority="URGENT", status=status)


def usage(until: datetime, days: int = 10) -> list[Activity]:
    return [act("product_usage", until - i * DAY) for i in range(days)]


# ---------------------------------------------------------------------------------------------
# The language


def test_the_section_is_checked_like_the_rest() -> None:
    unknown = BASE_YAML + health_yaml().replace(
        "      cap: 20\n", "      cap: 20\n      colour: red\n"
    )
    with pytest.raises(CriteriaError) as caught:
        parse_criteria(unknown)
    assert caught.value.problems == ["customer_health.activities.product_usage.colour: unknown key"]
    broken = BASE_YAML + health_yaml().replace(
        '"NPS {score} on", signal: nps_d', '"NPS {score on", signal: nps_d'
    )
    with pytest.raises(CriteriaError) as caught:
        parse_criteria(broken)
    assert caught.value.problems == [
        "customer_health.activities.survey_response.rules[0].label: placeholders are property "
        "names in braces, such as {score}"
    ]
    clash = BASE_YAML + health_yaml().replace("signal: nps_promoter", "signal: business_email")
    with pytest.raises(CriteriaError, match="duplicate signal 'business_email'"):
        parse_criteria(clash)
    assert CRITERIA.version != WITHOUT_HEALTH.version


# ---------------------------------------------------------------------------------------------
# Statuses and reasons


def test_health_not_marketing_engagement_decides_at_risk() -> None:
    # no marketing engagement at all: at risk by engagement, active by health (nothing is wrong)
    assert qualify(CUSTOMER, [], WITHOUT_HEALTH, AT).status is Status.CUSTOMER_AT_RISK
    quiet = qualify(CUSTOMER, [], CRITERIA, AT)
    assert (quiet.status, quiet.health) == (Status.CUSTOMER_ACTIVE, 60)
    assert quiet.reasons_text.startswith("health 60 ≥ 40 for customer_active")
    # busy in meetings, but a detractor with an urgent ticket open
    unhappy = [act("meeting", AT - DAY), nps(3, AT - 10 * DAY), urgent_ticket(AT - DAY)]
    assert qualify(CUSTOMER, unhappy, WITHOUT_HEALTH, AT).status is Status.CUSTOMER_ACTIVE
    q = qualify(CUSTOMER, unhappy, CRITERIA, AT)
    assert q.status is Status.CUSTOMER_AT_RISK
    assert q.health is not None
    assert q.health < 40
    # a lead is never given a health figure
    lead = qualify(Contact("c2", {"email": "x@acme.com"}), unhappy, CRITERIA, AT)
    assert lead.health is None
    assert lead.status is Status.NURTURE


def test_the_reasons_name_the_health_signals_with_their_dates() -> None:
    lasting = parse_criteria(BASE_YAML + health_yaml(survey_days=36500, ticket_days=36500))
    said = [nps(3, datetime(2026, 11, 2, tzinfo=UTC)), urgent_ticket(AT)]
    q = qualify(CUSTOMER, said, lasting, AT)
    assert q.reasons_text == (
        "health 20, needs 40 for customer_active; -30 NPS 3 on 2026-11-02; "
        "-10 urgent ticket open since 2026-11-20; +10 business email domain"
    )
    later = [*said, nps(10, AT - DAY)]  # the label shows each answer's own score
    assert "+15 NPS 10 on 2026-11-19" in qualify(CUSTOMER, later, lasting, AT).reasons_text
    closed = qualify(CUSTOMER, [urgent_ticket(AT, status="CLOSED")], lasting, AT)
    assert closed.status is Status.CUSTOMER_ACTIVE  # a closed ticket is no open ticket


# ---------------------------------------------------------------------------------------------
# Timing: decay and lapses move customers on time, with no event


def status_change(q: Qualification, criteria: Criteria) -> Qualification:
    """Follow next_change_at, as the decay schedule does, until the status moves."""
    for _ in range(100):
        assert q.next_change_at is not None
        moved = rescore(q, criteria, q.next_change_at)
        if moved.status is not q.status:
            return moved
        q = moved
    raise AssertionError("no status change in 100 rescores")


def test_a_customer_who_stops_using_the_product_is_at_risk_when_the_lapse_starts() -> None:
    last = AT - 5 * DAY
    q = qualify(CUSTOMER, usage(last, days=3), CRITERIA, AT)  # about +2 left at the lapse
    assert q.status is Status.CUSTOMER_ACTIVE
    lapsed = status_change(q, CRITERIA)
    assert lapsed.computed_at == last + 21 * DAY
    assert rescore(q, CRITERIA, lapsed.computed_at - MS).status is Status.CUSTOMER_ACTIVE
    assert lapsed.status is Status.CUSTOMER_AT_RISK
    assert "-30 no product usage since 2026-11-15" in lapsed.reasons_text
    back = update(lapsed, CUSTOMER, [act("product_usage", lapsed.computed_at)], CRITERIA,
                  lapsed.computed_at)  # fmt: skip
    assert back.status is Status.CUSTOMER_ACTIVE


def test_a_detractor_fades_and_the_customer_recovers_on_time() -> None:
    q = qualify(CUSTOMER, [nps(2, AT)], CRITERIA, AT)
    assert (q.status, q.health) == (Status.CUSTOMER_AT_RISK, 30)
    # 60 - 30 * 2^(-t/90d) >= 39.5 when 2^(-t/90d) <= 20.5/30
    recovered = status_change(q, CRITERIA)
    assert recovered.status is Status.CUSTOMER_ACTIVE
    assert rescore(q, CRITERIA, recovered.computed_at - MS).status is Status.CUSTOMER_AT_RISK
    assert recovered.computed_at - AT == pytest.approx(90 * DAY * math.log2(30 / 20.5), abs=MS)


def test_mixed_signals_cross_exactly_where_a_scan_finds_it() -> None:
    """Usage fading (health falls) while a detractor fades (health rises): not monotone."""
    acts = [nps(4, AT - 30 * DAY), *[act("product_usage", AT - i * DAY) for i in range(3)]]
    heavy = parse_criteria(
        BASE_YAML + health_yaml().replace("points: 2\n", "points: 9\n").replace("cap: 20", "")
    )
    q = qualify(CUSTOMER, acts, heavy, AT)
    assert q.status is Status.CUSTOMER_ACTIVE
    moved = status_change(q, heavy)
    t = q.computed_at  # the scan: hours, then seconds, then milliseconds
    for step in (timedelta(hours=1), timedelta(seconds=1), MS):
        while rescore(q, heavy, t + step).status is q.status:
            t += step
    assert moved.computed_at == t + MS


def test_the_crossing_search_is_exact_when_one_way_and_never_late_otherwise() -> None:
    rate = 0.693 / 86_400
    # falling, positives only: the analytic crossing
    found = seconds_until_crossing(50.0, ((40.0, rate, 100.0),), (), 70.0, 0.0, falling=True)
    assert found is not None
    assert found[1] is True
    assert raw_at(50.0, ((40.0, rate, 100.0),), (), found[0]) == pytest.approx(70.0)
    # rising with only positive terms and future lapses: never
    terms = ((10.0, rate, 100.0),)
    assert seconds_until_crossing(20.0, terms, ((3600.0, -5),), 39.5, 0.0, falling=False) is None
    # a lapse alone
    lapse = seconds_until_crossing(60.0, (), ((7200.0, -30),), 39.5, 0.0, falling=True)
    assert lapse == (7200.0, True)


# ---------------------------------------------------------------------------------------------
# State, batch, serialisation


def test_update_folds_health_and_refuses_a_new_customer() -> None:
    first = qualify(CUSTOMER, usage(AT - DAY), CRITERIA, AT)
    new = [nps(3, AT + DAY), urgent_ticket(AT + 2 * DAY)]
    updated = update(first, CUSTOMER, new, CRITERIA, AT + 3 * DAY)
    full = qualify(CUSTOMER, [*usage(AT - DAY), *new], CRITERIA, AT + 3 * DAY, first)
    assert (updated.status, updated.health, updated.reasons_text) == (
        full.status,
        full.health,
        full.reasons_text,
    )
    lead = Contact("c1", {"email": "ann@acme.com"})
    before = qualify(lead, usage(AT - DAY), CRITERIA, AT)
    with pytest.raises(ValueError, match="became a customer"):
        update(before, CUSTOMER, [], CRITERIA, AT + DAY)


def test_round_trip_and_batch_agree_for_customers() -> None:
    members = [
        [],
        usage(AT - 3 * DAY),
        [nps(2, AT - 5 * DAY), *usage(AT - 2 * DAY, 3)],
        [urgent_ticket(AT - DAY), nps(10, AT - 40 * DAY)],
        [act("meeting", AT - 2 * DAY)],
    ]
    qualifications = [
        qualify(Contact(f"c{i}", CUSTOMER.properties), acts, CRITERIA, AT)
        for i, acts in enumerate(members)
    ]
    for q in qualifications:
        assert Qualification.from_dict(json.loads(json.dumps(q.to_dict()))) == q
    for days in (0.0, 3.0, 20.0, 120.0):
        at = AT + timedelta(days=days)
        result = rescore_batch(pack(qualifications, CRITERIA), CRITERIA, at)
        for row, q in enumerate(qualifications):
            expected = rescore(q, CRITERIA, at)
            assert STATUS_CODES[result.status[row]] is expected.status
            if expected.next_change_at is None:
                assert math.isnan(result.next_change_at[row])
            else:
                assert result.next_change_at[row] == pytest.approx(
                    expected.next_change_at.timestamp(), abs=2e-3
                )
