"""Engagement state: decay, caps, folding, serialisation and the below-a-level solver."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from qualification.criteria import parse_criteria
from qualification.engagement import (
    EngagementState,
    SignalSum,
    advance,
    contributions_at,
    empty,
    engagement_at,
    fold,
    seconds_until_below,
    total_at,
)
from qualification.records import Activity

CRITERIA = parse_criteria(
    """
name: engagement test
thresholds: {fit: 50, engagement: 40}
engagement:
  email_open: {label: email opens, points: 2, half_life_days: 10, cap: 5}
  page_view:
    label: website visit
    points: 1
    half_life_days: 10
    cap: 30
    rules:
      - label: pricing page visit
        signal: pricing
        points: 10
        condition: {property: url, regex: /pricing}
      - label: docs visit
        signal: docs
        points: 3
        condition: {property: url, regex: /docs}
  meeting: {label: meeting, points: 30, half_life_days: 20}
"""
)
AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def act(kind: str, days_ago: float, **props: str) -> Activity:
    return Activity("c1", kind, AT - timedelta(days=days_ago), props)


def test_one_activity_halves_every_half_life() -> None:
    state = fold(empty(AT), [act("meeting", 0)], CRITERIA)
    assert engagement_at(state, CRITERIA, AT) == pytest.approx(30)
    assert engagement_at(state, CRITERIA, AT + 20 * DAY) == pytest.approx(15)
    assert engagement_at(state, CRITERIA, AT + 40 * DAY) == pytest.approx(7.5)
    assert state.value_at(AT + 20 * DAY, CRITERIA) == {"meeting": pytest.approx(15)}


def test_older_activities_are_decayed_to_the_state_time() -> None:
    state = fold(empty(AT), [act("meeting", 20)], CRITERIA)
    assert state.at == AT
    assert state.signals[0].value == pytest.approx(15)
    assert state.signals[0].last_at == AT - 20 * DAY


def test_newer_activities_move_the_reference_forward() -> None:
    state = fold(empty(AT), [act("meeting", 0)], CRITERIA)
    later = Activity("c1", "meeting", AT + 20 * DAY, {})
    moved = fold(state, [later], CRITERIA)
    assert moved.at == AT + 20 * DAY
    assert moved.signals[0].value == pytest.approx(45)
    assert moved.signals[0].last_at == AT + 20 * DAY


def test_first_matching_rule_replaces_the_default() -> None:
    state = fold(
        empty(AT),
        [
            act("page_view", 0, url="https://x.io/pricing"),
            act("page_view", 0, url="https://x.io/docs/pricing"),  # pricing rule comes first
            act("page_view", 0, url="https://x.io/docs/api"),
            act("page_view", 0, url="https://x.io/blog"),
            act("page_view", 0),
        ],
        CRITERIA,
    )
    values = {s.signal: (s.type, s.label, s.value) for s in state.signals}
    assert values == {
        "pricing": ("page_view", "pricing page visit", 20.0),
        "docs": ("page_view", "docs visit", 3.0),
        "page_view": ("page_view", "website visit", 2.0),
    }


def test_activity_types_the_criteria_do_not_name_are_ignored() -> None:
    state = fold(empty(AT), [act("webinar", 0)], CRITERIA)
    assert state.signals == ()
    assert engagement_at(state, CRITERIA, AT) == 0.0


def test_type_cap_is_shared_pro_rata_among_its_signals() -> None:
    activities = [act("page_view", 0, url="/pricing")] * 3 + [act("page_view", 0, url="/docs")] * 5
    state = fold(empty(AT), activities, CRITERIA)  # 30 pricing + 15 docs, capped at 30
    assert engagement_at(state, CRITERIA, AT) == pytest.approx(30)
    shares = {c.signal: c.points for c in contributions_at(state, CRITERIA, AT)}
    assert shares == {"pricing": pytest.approx(20), "docs": pytest.approx(10)}
    # 45 decays below the cap after log2(45/30) half-lives; then no cap applies
    after = AT + 20 * DAY
    assert engagement_at(state, CRITERIA, after) == pytest.approx(11.25)


def test_fold_does_not_depend_on_activity_order() -> None:
    activities = [
        act(kind, days, url=url)
        for kind, days, url in [
            ("page_view", 3.25, "/pricing"),
            ("email_open", 1.5, ""),
            ("meeting", 7.125, ""),
            ("page_view", 0.1, "/docs"),
            ("email_open", 9.0, ""),
            ("page_view", 30.0, "/pricing"),
        ]
    ]
    expected = fold(empty(AT), activities, CRITERIA)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = activities[:]
        rng.shuffle(shuffled)
        assert fold(empty(AT), shuffled, CRITERIA) == expected
        assert fold(empty(AT), iter(shuffled), CRITERIA) == expected


def test_folding_in_two_steps_equals_folding_at_once() -> None:
    first = [act("meeting", 30), act("email_open", 12)]
    second = [act("page_view", 2, url="/pricing"), act("email_open", 20)]  # one is late
    at_once = fold(empty(AT), first + second, CRITERIA)
    stepwise = fold(fold(empty(AT - 10 * DAY), first, CRITERIA), second, CRITERIA)
    stepwise = advance(stepwise, AT, CRITERIA)
    assert stepwise.at == at_once.at
    for a, b in zip(at_once.signals, stepwise.signals, strict=True):
        assert (a.signal, a.last_at) == (b.signal, b.last_at)
        assert a.value == pytest.approx(b.value)


def test_state_round_trips_through_json() -> None:
    state = fold(empty(AT), [act("meeting", 1.5), act("page_view", 0, url="/pricing")], CRITERIA)
    assert EngagementState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_state_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        empty(datetime(2026, 6, 1))
    with pytest.raises(ValueError, match="timezone"):
        EngagementState.from_dict({"at": "2026-06-01T00:00:00", "signals": []})


def test_last_activity() -> None:
    state = fold(empty(AT), [act("meeting", 5), act("email_open", 2)], CRITERIA)
    assert state.last_activity_at == AT - 2 * DAY
    assert empty(AT).last_activity_at is None
    assert isinstance(state.signals[0], SignalSum)


# ---------------------------------------------------------------------------------------------
# seconds_until_below: checked against a brute-force bisection on the same function


def brute_force(totals: tuple[tuple[float, float, float], ...], level: float) -> float:
    low, high = 0.0, 1.0
    while total_at(totals, high) >= level:
        high *= 2
    while high - low > 1e-4:
        mid = (low + high) / 2
        if total_at(totals, mid) < level:
            high = mid
        else:
            low = mid
    return high


def test_solver_single_type_is_closed_form() -> None:
    rate = math.log(2) / 86_400
    found = seconds_until_below(((80.0, rate, math.inf),), 10.0, 0.0)
    assert found == pytest.approx(3 * 86_400)


def test_solver_never_when_level_is_zero_or_below() -> None:
    assert seconds_until_below(((80.0, 1e-6, math.inf),), 0.0, 0.0) is None
    assert seconds_until_below((), 5.0, 0.0) == 0.0  # already below


def test_solver_matches_brute_force_with_caps() -> None:
    rng = random.Random(3)
    for _ in range(300):
        totals = tuple(
            (
                rng.uniform(0, 120),
                math.log(2) / (rng.uniform(0.5, 60) * 86_400),
                rng.choice([math.inf, rng.uniform(1, 50)]),
            )
            for _ in range(rng.randint(1, 6))
        )
        start_value = total_at(totals, 0.0)
        if start_value < 1:
            continue
        level = rng.uniform(0.5, start_value)
        found = seconds_until_below(totals, level, 0.0)
        assert found is not None
        assert found == pytest.approx(brute_force(totals, level), abs=2e-3)
