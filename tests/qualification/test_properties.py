"""Properties of the engine over generated criteria, contacts and activities (hypothesis).

The next_change_at property scans time in the test (coarse to fine: day, hour, minute,
second); the engine computes the same instant analytically.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qualification.batch import STATUS_CODES, pack, rescore_batch
from qualification.criteria import CapacityBar, Criteria
from qualification.engagement import engagement_at
from qualification.engine import Qualification, feature_values, qualify, rescore, update
from qualification.records import Activity, Contact
from qualification.statuses import OVERRIDE_PROPERTY, Status

AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY, HOUR, MINUTE, SECOND = (
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
    timedelta(seconds=1),
)
TYPES = ("email_open", "page_view", "meeting", "call")
SETTINGS = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def health_strategy(draw: st.DrawFn) -> dict[str, Any]:
    """A customer_health section: signed points, caps, a lapse, half-lives of their own."""

    def half_life() -> float:
        return draw(st.floats(0.5, 120))

    cap = draw(st.none() | st.integers(1, 60))
    usage: dict[str, Any] = {
        "label": "product usage",
        "points": draw(st.floats(0, 15)),
        "half_life_days": half_life(),
    }
    if cap is not None:
        usage["cap"] = cap
    if draw(st.booleans()):
        usage["lapse"] = {
            "after_days": draw(st.floats(1, 60)),
            "points": draw(st.integers(-40, 0)),
            "label": "no product usage since",
        }
    return {
        "base": draw(st.integers(0, 100)),
        "at_risk_below": draw(st.integers(0, 100)),
        "activities": {
            "product_usage": usage,
            "survey_response": {
                "label": "survey answer",
                "half_life_days": half_life(),
                "rules": [
                    {
                        "label": "NPS {score} on",
                        "signal": "detractor",
                        "points": draw(st.floats(-50, 0)),
                        "condition": {"property": "score", "range": {"max": 6}},
                    },
                    {
                        "label": "NPS {score} on",
                        "signal": "promoter",
                        "points": draw(st.floats(0, 30)),
                        "condition": {"property": "score", "range": {"min": 9}},
                    },
                ],
            },
            "ticket": {
                "label": "support ticket",
                "points": draw(st.floats(-20, 5)),
                "half_life_days": half_life(),
            },
            "meeting": {
                "label": "meeting",
                "points": draw(st.floats(0, 20)),
                "half_life_days": half_life(),
            },
        },
    }


@st.composite
def criteria_strategy(draw: st.DrawFn, health: bool = False, capacity: bool = False) -> Criteria:
    engagement: dict[str, dict[str, Any]] = {}
    for kind in TYPES:
        config: dict[str, Any] = {
            "label": kind.replace("_", " "),
            "points": draw(st.integers(0, 40)),
            "half_life_days": draw(st.floats(0.5, 60)),
        }
        cap = draw(st.none() | st.integers(1, 60))
        if cap is not None:
            config["cap"] = cap
        engagement[kind] = config
    engagement["page_view"]["rules"] = [
        {
            "label": "pricing page visit",
            "signal": "pricing",
            "points": draw(st.integers(0, 40)),
            "condition": {"property": "url", "regex": "/pricing"},
        }
    ]
    points = st.integers(-30, 60)
    threshold = draw(st.integers(1, 80))
    data: dict[str, Any] = {
        "name": "generated",
        "fit": [
            {
                "label": "vp",
                "points": draw(points),
                "condition": {"property": "jobtitle", "regex": r"\bvp\b"},
            },
            {
                "label": "icp",
                "points": draw(points),
                "condition": {"property": "industry", "in": ["COMPUTER_SOFTWARE", "INTERNET"]},
            },
            {
                "label": "free mail",
                "points": draw(st.integers(-30, 0)),
                "condition": {"property": "email", "free_mail": True},
            },
            {
                "label": "big",
                "points": draw(points),
                "condition": {"property": "numemployees", "range": {"min": 100}},
            },
        ],
        "engagement": engagement,
        "disqualifiers": [
            {"label": "student", "condition": {"property": "jobtitle", "regex": "student"}},
            {"label": "unsubscribed", "condition": {"property": "hs_email_optout", "equals": True}},
        ],
        "thresholds": {
            "fit": draw(st.integers(0, 100)),
            "engagement": threshold,
            "customer_engagement": draw(st.integers(0, 60)),
            "hysteresis": draw(st.integers(0, min(15, threshold - 1))),
            "score_write_delta": draw(st.integers(1, 20)),
        },
        "score": {
            "fit_weight": draw(st.floats(0, 1)),
            "engagement_weight": draw(st.floats(0, 1)),
        },
        "reasons_max": draw(st.integers(1, 6)),
    }
    if draw(st.booleans()):
        data["inactivity"] = {
            "after_days": draw(st.floats(1, 90)),
            "points": draw(st.integers(-30, 0)),
        }
    if draw(st.booleans()):
        data["calibration"] = {
            "intercept": draw(st.floats(-5, 5)),
            "coefficients": {"vp": 1.0, "meeting": 0.05, "pricing": 0.1},
        }
    if health:
        data["customer_health"] = draw(health_strategy())
    if capacity and draw(st.booleans()):
        data["capacity"] = {
            "new_conversations_per_week": 100,
            "margin": draw(st.floats(0, 0.5)),
        }
        criteria = Criteria.model_validate(data)
        by = criteria.ranked_by
        threshold = draw(st.floats(0, 1) if by == "probability" else st.integers(0, 100))
        return criteria.with_capacity_bar(CapacityBar(by, float(threshold), 100, 100.0, AT))
    return Criteria.model_validate(data)


contacts = st.fixed_dictionaries(
    {},
    optional={
        "jobtitle": st.sampled_from(["VP Sales", "Engineer", "Head of Ops", ""]),
        "industry": st.sampled_from(["COMPUTER_SOFTWARE", "RETAIL", ""]),
        "email": st.sampled_from(["a@gmail.com", "a@acme.com", ""]),
        "numemployees": st.sampled_from(["1-5", "100-500", "1000+", "many"]),
        "lifecyclestage": st.sampled_from(["lead", "lead", "customer"]),
        OVERRIDE_PROPERTY: st.sampled_from(["sales_ready", "nurture", "bogus"]),
    },
).map(lambda props: Contact("c1", props))

activity = st.builds(
    lambda kind, seconds_before, url: Activity(
        "c1",
        kind,
        AT - timedelta(seconds=seconds_before),
        {"url": url} if kind == "page_view" else {},
    ),
    st.sampled_from((*TYPES, "webinar")),
    st.floats(-5 * 86_400, 200 * 86_400),
    st.sampled_from(["/pricing", "/blog"]),
)
activities = st.lists(activity, max_size=25)

customers = contacts.map(lambda c: Contact(c.id, {**c.properties, "lifecyclestage": "customer"}))
customer_activity = st.one_of(
    activity,
    st.builds(
        lambda kind, seconds_before, score: Activity(
            "c1", kind, AT - timedelta(seconds=seconds_before), {"score": str(score)}
        ),
        st.sampled_from(("product_usage", "survey_response", "ticket")),
        st.floats(-5 * 86_400, 200 * 86_400),
        st.integers(0, 10),
    ),
)
customer_activities = st.lists(customer_activity, max_size=25)


def raw_engagement(q: Qualification, criteria: Criteria) -> float:
    return engagement_at(q.engagement_state, criteria, q.computed_at)


@SETTINGS
@given(criteria_strategy(), contacts, activities, activity, st.floats(0, 100))
def test_adding_an_activity_never_lowers_engagement(
    criteria: Criteria, contact: Contact, acts: list[Activity], extra: Activity, days: float
) -> None:
    for at in (AT, AT + timedelta(days=days)):
        without = qualify(contact, acts, criteria, at)
        with_it = qualify(contact, [*acts, extra], criteria, at)
        assert with_it.engagement >= without.engagement
        assert raw_engagement(with_it, criteria) >= raw_engagement(without, criteria) - 1e-9


@SETTINGS
@given(criteria_strategy(), contacts, activities, st.floats(0, 400), st.floats(0, 400))
def test_engagement_never_rises_with_time_alone(
    criteria: Criteria, contact: Contact, acts: list[Activity], first: float, more: float
) -> None:
    q = qualify(contact, acts, criteria, AT)
    earlier = rescore(q, criteria, AT + timedelta(days=first))
    later = rescore(q, criteria, AT + timedelta(days=first + more))
    assert earlier.engagement <= q.engagement
    assert later.engagement <= earlier.engagement
    assert raw_engagement(later, criteria) <= raw_engagement(earlier, criteria)


@SETTINGS
@given(
    criteria_strategy(),
    contacts,
    activities,
    st.sampled_from([{"jobtitle": "VP Student"}, {"hs_email_optout": "TRUE"}]),
    st.floats(0, 100),
)
def test_a_disqualifier_always_wins(
    criteria: Criteria,
    contact: Contact,
    acts: list[Activity],
    ruled_out: dict[str, str],
    days: float,
) -> None:
    before = qualify(contact, acts, criteria, AT)
    disqualified = Contact(contact.id, {**contact.properties, **ruled_out})
    q = qualify(disqualified, acts, criteria, AT + timedelta(days=days), previous=before)
    assert q.status is Status.DISQUALIFIED
    assert q.reasons[0].signal in {"student", "unsubscribed"}
    assert rescore(q, criteria, q.computed_at + timedelta(days=days)).status is (
        Status.DISQUALIFIED
    )


@SETTINGS
@given(criteria_strategy(), contacts, activities, st.randoms(use_true_random=False))
def test_determinism(criteria: Criteria, contact: Contact, acts: list[Activity], rng: Any) -> None:
    q = qualify(contact, acts, criteria, AT)
    shuffled = acts[:]
    rng.shuffle(shuffled)
    assert qualify(contact, acts, criteria, AT) == q
    assert qualify(contact, shuffled, criteria, AT) == q
    assert Qualification.from_dict(q.to_dict()) == q


@SETTINGS
@given(criteria_strategy(), contacts, activities, activities, st.floats(0, 30))
def test_update_matches_qualify(
    criteria: Criteria, contact: Contact, old: list[Activity], new: list[Activity], days: float
) -> None:
    old = [a for a in old if a.occurred_at <= AT]  # what the first qualification saw
    first = qualify(contact, old, criteria, AT)
    later = AT + timedelta(days=days)
    updated = update(first, contact, new, criteria, later)
    full = qualify(contact, old + new, criteria, later, previous=first)
    assert (updated.status, updated.score, updated.engagement, updated.fit) == (
        full.status,
        full.score,
        full.engagement,
        full.fit,
    )
    assert math.isclose(
        raw_engagement(updated, criteria), raw_engagement(full, criteria), abs_tol=1e-9
    )
    if full.next_change_at is None:
        assert updated.next_change_at is None
    else:
        assert updated.next_change_at is not None
        assert abs(updated.next_change_at - full.next_change_at) <= 2 * timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------
# next_change_at against a scan

HORIZON = 4 * 365 * DAY  # beyond the slowest decay to under half a point and any penalty


def changed(q: Qualification, criteria: Criteria, t: datetime) -> bool:
    """What next_change_at promises: the status moves, the score drops by the write delta,
    or the inactivity penalty starts."""
    r = rescore(q, criteria, t)
    if r.status != q.status or r.score <= q.score - criteria.thresholds.score_write_delta:
        return True
    if criteria.inactivity is None:
        return False
    return feature_values(r, criteria)["inactivity"] > feature_values(q, criteria)["inactivity"]


def first_change(q: Qualification, criteria: Criteria) -> datetime | None:
    """The first whole second after q.computed_at at which `changed` holds, by scanning.

    Coarse to fine is exact here: without new activity a change never reverts (engagement
    only falls, the penalty only starts), so the first day with a change holds the first
    hour, and so on."""
    start, end = q.computed_at, q.computed_at + HORIZON
    for step in (DAY, HOUR, MINUTE, SECOND):
        t = start + step
        while t <= end and not changed(q, criteria, t):
            start, t = t, t + step
        if t > end:
            return None
        end = t
    return end


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    criteria_strategy(capacity=True),
    contacts,
    activities,
    st.none() | st.floats(0.5, 30),
    st.sampled_from([0.0, 0.0, 3.7, 45.0]),
)
def test_next_change_at_matches_a_scan(
    criteria: Criteria,
    contact: Contact,
    acts: list[Activity],
    previous_days: float | None,
    rescored_days: float,
) -> None:
    previous = None
    if previous_days is not None:
        previous = qualify(contact, acts, criteria, AT - timedelta(days=previous_days))
    q = qualify(contact, acts, criteria, AT, previous)
    if rescored_days:
        q = rescore(q, criteria, AT + timedelta(days=rescored_days))
    found = first_change(q, criteria)
    event("a change" if found else "no change")
    if found is None:
        assert q.next_change_at is None or q.next_change_at > q.computed_at + HORIZON
        return
    assert q.next_change_at is not None, f"the scan found a change at {found}"
    assert abs(q.next_change_at - found) <= SECOND
    assert q.next_change_at > q.computed_at
    assert changed(q, criteria, q.next_change_at)


# ---------------------------------------------------------------------------------------------
# The batch rescoring agrees with rescore row by row


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    criteria_strategy(),
    st.lists(st.tuples(contacts, activities), min_size=1, max_size=8),
    st.floats(0, 400),
)
def test_rescore_batch_matches_rescore(
    criteria: Criteria, members: list[tuple[Contact, list[Activity]]], days: float
) -> None:
    assert_batch_matches_rescore(criteria, members, days)


def assert_batch_matches_rescore(
    criteria: Criteria, members: list[tuple[Contact, list[Activity]]], days: float
) -> None:
    qualifications = [
        qualify(Contact(f"c{i}", c.properties), acts, criteria, AT)
        for i, (c, acts) in enumerate(members)
    ]
    at = AT + timedelta(days=days)
    result = rescore_batch(pack(qualifications, criteria), criteria, at)
    for row, q in enumerate(qualifications):
        expected = rescore(q, criteria, at)
        assert result.engagement[row] == expected.engagement
        assert result.score[row] == expected.score
        assert STATUS_CODES[result.status[row]] is expected.status
        if expected.next_change_at is None:
            assert math.isnan(result.next_change_at[row])
        else:
            assert abs(result.next_change_at[row] - expected.next_change_at.timestamp()) <= 2e-3


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    criteria_strategy(health=True),
    st.lists(st.tuples(customers, customer_activities), min_size=1, max_size=8),
    st.floats(0, 400),
)
def test_rescore_batch_matches_rescore_for_customers_under_customer_health(
    criteria: Criteria, members: list[tuple[Contact, list[Activity]]], days: float
) -> None:
    assert_batch_matches_rescore(criteria, members, days)


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    criteria_strategy(health=True),
    customers,
    customer_activities,
    st.none() | st.floats(0.5, 30),
    st.randoms(use_true_random=False),
)
def test_a_customer_health_change_is_never_later_than_next_change_at(
    criteria: Criteria,
    contact: Contact,
    acts: list[Activity],
    previous_days: float | None,
    rng: Any,
) -> None:
    """Health is not monotone, so no coarse-to-fine scan: the status holds at sampled instants
    before next_change_at, and each next_change_at either shows a change or moves on."""
    previous = None
    if previous_days is not None:
        previous = qualify(contact, acts, criteria, AT - timedelta(days=previous_days))
    q = qualify(contact, acts, criteria, AT, previous)
    end = q.computed_at + HORIZON if q.next_change_at is None else q.next_change_at
    span = (end - q.computed_at).total_seconds()
    instants = [q.computed_at + timedelta(seconds=rng.random() * span) for _ in range(40)]
    if q.next_change_at is not None:
        instants.append(q.next_change_at - timedelta(milliseconds=1))
    for t in instants:
        if q.computed_at < t < end:
            assert rescore(q, criteria, t).status is q.status, f"changed at {t}, before {end}"
    if q.next_change_at is None:
        return
    shown = changed(q, criteria, q.next_change_at)
    event("next_change_at shows a change" if shown else "next_change_at: look again")
    if not shown:
        again = rescore(q, criteria, q.next_change_at)
        assert again.next_change_at is None or again.next_change_at > q.next_change_at
