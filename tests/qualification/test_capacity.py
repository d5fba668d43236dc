"""Readiness sized to the team: a capacity bar, kept beside the criteria version."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from qualification.batch import pack
from qualification.capacity import eligible_figures, simulate_weeks, size_bar
from qualification.criteria import CapacityBar, Criteria, CriteriaError, parse_criteria
from qualification.engine import Qualification, qualify, rescore
from qualification.fields import crm_values, needs_write
from qualification.population import generate_population
from qualification.records import Activity, Contact
from qualification.statuses import Status

BASE = r"""
name: capacity test
fit:
  - {label: VP-level title, signal: title_vp, points: 60,
     condition: {property: jobtitle, regex: '\bvp\b'}}
  - {label: ideal-customer industry, signal: icp, points: 30,
     condition: {property: industry, in: [COMPUTER_SOFTWARE]}}
engagement:
  meeting: {label: meeting, points: 30, half_life_days: 20}
  page_view: {label: website visit, points: 10, half_life_days: 10}
thresholds: {fit: 50, engagement: 40, hysteresis: 5}
"""
CAPACITY = "capacity: {new_conversations_per_week: 2, margin: 0.1}\n"
CRITERIA = parse_criteria(BASE + CAPACITY)
AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)


def bar(threshold: float, by: str = "score", capacity: int = 2) -> CapacityBar:
    return CapacityBar(by, threshold, capacity, float(capacity), AT)


def lead(contact_id: str, meetings: int, industry: str = "COMPUTER_SOFTWARE") -> tuple[
    Contact, list[Activity]
]:  # fmt: skip
    contact = Contact(contact_id, {"jobtitle": "VP Sales", "industry": industry})
    return contact, [Activity(contact_id, "meeting", AT) for _ in range(meetings)]


# ---------------------------------------------------------------------------------------------
# The language and the bar's place beside the version


def test_capacity_is_part_of_the_criteria_and_the_bar_is_not() -> None:
    assert CRITERIA.capacity is not None
    assert CRITERIA.capacity.new_conversations_per_week == 2
    assert CRITERIA.version != parse_criteria(BASE).version
    with_bar = CRITERIA.with_capacity_bar(bar(70))
    assert with_bar.version == CRITERIA.version  # a recompute is not a new version
    assert with_bar.capacity_bar == bar(70)
    assert CRITERIA.capacity_bar is None
    assert CapacityBar.from_dict(json.loads(json.dumps(bar(70).to_dict()))) == bar(70)
    with pytest.raises(ValueError, match="no capacity"):
        parse_criteria(BASE).with_capacity_bar(bar(70))
    with pytest.raises(ValueError, match="ranks by probability"):
        CRITERIA.with_capacity_bar(bar(0.2, by="probability"))
    with pytest.raises(CriteriaError, match="new_conversations_per_week"):
        parse_criteria(BASE + "capacity: {new_conversations_per_week: 0}\n")
    with pytest.raises(ValueError, match="capacity bar"):
        pack([], with_bar)


def test_without_a_bar_thresholds_work_as_today() -> None:
    plain = parse_criteria(BASE)
    for contact, acts in (lead("a", 2), lead("b", 1), lead("c", 3, "RETAIL")):
        with_capacity = qualify(contact, acts, CRITERIA, AT).to_public_dict()
        without = qualify(contact, acts, plain, AT).to_public_dict()
        assert with_capacity.pop("criteria_version") != without.pop("criteria_version")
        assert with_capacity == without


# ---------------------------------------------------------------------------------------------
# Statuses under a bar


def test_sales_ready_holds_the_leads_within_the_bar_and_says_so() -> None:
    criteria = CRITERIA.with_capacity_bar(bar(70))
    strong = qualify(*lead("a", 2), criteria, AT)  # fit 90, engagement 60: score 75
    assert (strong.score, strong.status) == (75, Status.SALES_READY)
    assert strong.reasons_text.startswith("within this week's capacity of 2; ")
    weaker = qualify(*lead("b", 2, "RETAIL"), criteria, AT)  # fit 60: score 60
    assert (weaker.score, weaker.status) == (60, Status.NURTURE)
    assert weaker.reasons_text.startswith("score 60: outside this week's capacity of 2; ")
    assert "needs" not in weaker.reasons[0].text  # never the bar itself: it moves


def test_a_lead_stays_until_its_score_falls_below_the_bar_lowered_by_the_margin() -> None:
    criteria = CRITERIA.with_capacity_bar(bar(70))  # stays down to 63
    q = qualify(*lead("a", 2), criteria, AT)
    assert q.status is Status.SALES_READY
    assert q.next_change_at is not None
    moved = q
    while moved.status is Status.SALES_READY:  # follow the decay schedule
        assert moved.next_change_at is not None
        last, moved = moved, rescore(moved, criteria, moved.next_change_at)
    assert moved.score < 63 <= rescore(q, criteria, moved.computed_at - MS).score
    assert rescore(q, criteria, moved.computed_at - MS).status is Status.SALES_READY
    # a fresh lead with the same figures would not get in
    fresh = qualify(*lead("a", 2), criteria, last.computed_at)
    assert fresh.score < 70
    assert fresh.status is Status.NURTURE


def test_ranked_by_probability_once_calibrated() -> None:
    calibrated = parse_criteria(
        BASE
        + CAPACITY
        + "calibration: {intercept: -4, coefficients: {title_vp: 1.0, meeting: 0.05}}\n"
    )
    assert calibrated.ranked_by == "probability"
    criteria = calibrated.with_capacity_bar(bar(0.4, by="probability"))
    q = qualify(*lead("a", 2), criteria, AT)  # z = -4 + 1 + 0.05 * 60 = 0: p 0.5
    assert q.probability == pytest.approx(0.5)
    assert q.status is Status.SALES_READY
    # it stays while p >= 0.36: 0.05 * 60 * 2^(-t/20d) >= logit(0.36) + 3 (about six days,
    # well before its engagement falls below 35)
    expected = AT + 20 * DAY * math.log2(3.0 / (math.log(0.36 / 0.64) + 3.0))
    moved = q
    while moved.status is Status.SALES_READY:  # follow the decay schedule
        assert moved.next_change_at is not None
        moved = rescore(moved, criteria, moved.next_change_at)
    assert abs(moved.computed_at - expected) < 2 * MS
    assert rescore(q, criteria, moved.computed_at - MS).status is Status.SALES_READY
    contact, _ = lead("b", 0, "RETAIL")
    earlier = [Activity("b", "meeting", AT - 8 * DAY) for _ in range(2)]  # engagement 45
    outside = qualify(contact, earlier, criteria, AT)  # z = -3 + 0.05 * 45.5: p 0.33
    assert outside.engagement == 45
    assert outside.reasons_text.startswith("probability 33%: outside this week's capacity")


# ---------------------------------------------------------------------------------------------
# Sizing the bar


def test_the_first_bar_lets_the_capacity_through() -> None:
    figures = [90.0, 80.0, 80.0, 70.0, 60.0, 50.0]
    assert size_bar(CRITERIA, figures, 0.0, AT).threshold == 80.0
    # ties: of 80 (three through) and 90 (one), the closer to two is either: the lower wins
    three = parse_criteria(BASE + "capacity: {new_conversations_per_week: 3}\n")
    assert size_bar(three, figures, 0.0, AT).threshold == 80.0
    assert size_bar(three, [], 0.0, AT).threshold == 0.0


def test_a_recompute_follows_the_entries_damped_and_keeps_the_bar_within_the_margin() -> None:
    figures = [float(f) for f in range(100, 0, -1)]  # 100, 99, ..., 1
    ten = parse_criteria(BASE + "capacity: {new_conversations_per_week: 10, margin: 0.2}\n")
    previous = bar(91, capacity=10)  # ten leads above it
    assert size_bar(ten, figures, 11.0, AT, previous).threshold == 91  # within 20%: kept
    # four times too many entries: half as many leads above the bar (the step is damped)
    assert size_bar(ten, figures, 40.0, AT, previous).threshold == 96
    # far too few: at most twice as many
    assert size_bar(ten, figures, 1.0, AT, previous).threshold == 81
    with pytest.raises(ValueError, match="no capacity"):
        size_bar(parse_criteria(BASE), figures, 1.0, AT)


def test_a_recompute_writes_only_the_contacts_whose_status_changed() -> None:
    """The bar moves; every contact is rescored; only those whose status changed are news."""
    members = [lead(f"c{i}", meetings, "COMPUTER_SOFTWARE" if i % 2 else "RETAIL")
               for i, meetings in enumerate([1, 2, 2, 3, 3, 4, 1, 2])]  # fmt: skip
    before = CRITERIA.with_capacity_bar(bar(75))
    first = [qualify(c, a, before, AT) for c, a in members]
    written = [crm_values(q) for q in first]
    after = CRITERIA.with_capacity_bar(bar(58))
    later = AT + timedelta(hours=1)
    again = [rescore(q, after, later) for q in first]
    changed = [q.contact_id for q, r in zip(first, again, strict=True) if q.status != r.status]
    assert changed  # the lower bar let someone in
    assert len(changed) < len(members)
    writes = [r.contact_id for w, r in zip(written, again, strict=True) if needs_write(w, r, after)]
    assert writes == changed


# ---------------------------------------------------------------------------------------------
# Capacity used per week, on the population generator


@pytest.fixture(scope="module")
def members() -> list[tuple[Contact, list[Activity]]]:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    return [(m.contact, m.activities) for m in generate_population(2000, 3, start, end)]


def test_capacity_used_per_week_follows_the_capacity(
    members: list[tuple[Contact, list[Activity]]],
) -> None:
    end = datetime(2026, 6, 1, tzinfo=UTC)
    default = parse_criteria(BASE)
    unlimited = simulate_weeks(members, default, end, weeks=4)
    natural = sum(w.entered for w in unlimited.weeks) / 4
    capped = parse_criteria(
        BASE + f"capacity: {{new_conversations_per_week: {round(natural / 3)}}}\n"
    )
    use = simulate_weeks(members, capped, end, weeks=4)
    assert [w.bar is None for w in unlimited.weeks] == [True] * 4
    assert all(w.bar is not None for w in use.weeks)
    assert sum(w.entered for w in use.weeks[1:]) < 0.6 * sum(w.entered for w in unlimited.weeks[1:])
    assert use.bar is not None
    ready = [q for q in use.qualifications if q.status is Status.SALES_READY]
    assert len(ready) < sum(1 for q in unlimited.qualifications if q.status is Status.SALES_READY)
    last_bar = use.weeks[-1].bar
    assert last_bar is not None
    assert min(q.score for q in ready) >= last_bar * 0.9
    assert use.to_dict()["weeks"][0]["entered"] == use.weeks[0].entered
    assert eligible_figures(use.qualifications, capped)


def test_a_qualification_under_a_bar_round_trips(
    members: list[tuple[Contact, list[Activity]]],
) -> None:
    criteria: Criteria = CRITERIA.with_capacity_bar(bar(60))
    for contact, acts in members[:50]:
        q = qualify(contact, acts, criteria, AT)
        assert Qualification.from_dict(json.loads(json.dumps(q.to_dict()))) == q
