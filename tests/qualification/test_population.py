"""The synthetic population: deterministic, streaming, HubSpot-shaped, realistic in shares."""

from __future__ import annotations

import inspect
import itertools
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from qualification.population import COMPETITOR_DOMAINS, Member, generate_population

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)
BUCKETS = {"1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"}
STAGES = {
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
}
TYPES = {
    "email_open",
    "email_click",
    "email_reply",
    "page_view",
    "form_submission",
    "meeting",
    "call",
    "chat",
    "product_usage",
    "survey_response",
    "ticket",
}


@pytest.fixture(scope="module")
def members() -> list[Member]:
    return list(generate_population(4000, seed=7, start=START, end=END))


def _fingerprint(member: Member) -> tuple[object, ...]:
    return (
        member.contact,
        tuple(member.activities),
        member.outcome,
        member.fit,
        member.intent,
        member.churn,
    )


def test_same_seed_same_population_and_other_seed_another() -> None:
    first = [_fingerprint(m) for m in generate_population(300, 11, START, END)]
    again = [_fingerprint(m) for m in generate_population(300, 11, START, END)]
    other = [_fingerprint(m) for m in generate_population(300, 12, START, END)]
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 290


def test_a_bigger_population_extends_a_smaller_one() -> None:
    small = [_fingerprint(m) for m in generate_population(150, 3, START, END)]
    big = [_fingerprint(m) for m in generate_population(1000, 3, START, END)]
    assert big[:150] == small


def test_it_streams_one_member_at_a_time() -> None:
    population = generate_population(10**9, 5, START, END)
    assert inspect.isgenerator(population)
    began = time.perf_counter()
    head = list(itertools.islice(population, 3))
    assert time.perf_counter() - began < 1.0
    assert [m.contact.id for m in head] == ["c0000000", "c0000001", "c0000002"]


def test_it_is_fast_enough_to_seed_a_crm_sandbox() -> None:
    began = time.perf_counter()
    count = sum(len(m.activities) for m in generate_population(3000, 9, START, END))
    elapsed = time.perf_counter() - began
    assert count > 3000 * 10
    assert elapsed < 3.0  # about 10,000 members a second on a laptop; slack for slow CI


@pytest.mark.parametrize(
    ("n", "start", "end"),
    [
        (-1, START, END),
        (1, END, START),
        (1, START.replace(tzinfo=None), END),
    ],
)
def test_bad_arguments_are_refused(n: int, start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="must"):
        next(generate_population(n, 1, start, end))


def test_contacts_look_like_hubspot_contacts(members: list[Member]) -> None:
    ids = [m.contact.id for m in members]
    assert ids == [f"c{i:07d}" for i in range(len(members))]
    emails = [m.contact.properties["email"] for m in members]
    assert len(set(emails)) == len(emails), "HubSpot refuses two contacts with one email"
    for member in members:
        props = member.contact.properties
        assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+", props["email"] or "")
        assert props.get("numemployees") in BUCKETS | {None}
        assert props["lifecyclestage"] in STAGES
        industry = props.get("industry")
        assert industry is None or re.fullmatch(r"[A-Z_]+", industry)
        created = datetime.fromisoformat(props["createdate"] or "")
        assert created.tzinfo is not None
        assert created < END


def test_activities_are_sorted_typed_and_inside_the_period(members: list[Member]) -> None:
    types: Counter[str] = Counter()
    for member in members:
        created = datetime.fromisoformat(member.contact.properties["createdate"] or "")
        instants = [a.occurred_at for a in member.activities]
        assert instants == sorted(instants)
        for activity in member.activities:
            assert activity.contact_id == member.contact.id
            assert activity.occurred_at.tzinfo is not None
            assert max(START, created) - timedelta(milliseconds=1) <= activity.occurred_at <= END
            types[activity.type] += 1
            if activity.type == "page_view":
                assert activity.properties["url"].startswith("https://")
            if activity.type == "form_submission":
                assert activity.properties["form"] in {"demo-request", "newsletter", "ebook",
                                                       "webinar"}  # fmt: skip
            if activity.type == "survey_response":
                assert 0 <= int(activity.properties["score"]) <= 10
            if activity.type == "ticket":
                assert activity.properties["priority"] in {"LOW", "MEDIUM", "HIGH", "URGENT"}
                assert activity.properties["status"] in {"OPEN", "CLOSED"}
    assert set(types) == TYPES
    assert types["page_view"] > types["meeting"] > 0
    assert 8 <= sum(types.values()) / len(members) <= 40


def test_shares_are_realistic(members: list[Member]) -> None:
    n = len(members)

    def share(predicate: Callable[[Member], object]) -> float:
        return sum(1 for m in members if predicate(m)) / n

    def prop(member: Member, name: str) -> str:
        return member.contact.properties.get(name) or ""

    assert 0.03 <= share(lambda m: prop(m, "lifecyclestage") == "customer") <= 0.08
    free = re.compile(r"@(gmail|yahoo|hotmail|outlook|icloud|aol|gmx|proton|yandex|live|qq|163)\.")
    assert 0.05 <= share(lambda m: free.search(prop(m, "email"))) <= 0.3
    assert 0.003 <= share(lambda m: prop(m, "email").split("@")[1] in COMPETITOR_DOMAINS) <= 0.03
    assert 0.01 <= share(lambda m: re.search(r"student|intern", prop(m, "jobtitle"), re.I)) <= 0.06
    assert 0.01 <= share(lambda m: prop(m, "hs_email_optout") == "true") <= 0.05
    assert 0.005 <= share(lambda m: prop(m, "hs_email_bounce")) <= 0.03
    assert 0.02 <= share(lambda m: not m.activities) <= 0.25
    assert 0.05 <= share(lambda m: m.outcome.converted_at is not None) <= 0.2


def test_outcomes_follow_the_hidden_truth(members: list[Member]) -> None:
    converted = [m for m in members if m.outcome.converted_at is not None]
    others = [m for m in members if m.outcome.converted_at is None]
    for member in converted:
        assert member.outcome.converted_at is not None
        assert END < member.outcome.converted_at <= END + timedelta(days=90)
    assert mean(m.fit for m in converted) > mean(m.fit for m in others) + 0.15
    assert mean(m.intent for m in converted) > 2 * mean(m.intent for m in others)
    assert all(0.0 <= m.fit <= 1.0 and 0.0 <= m.intent <= 1.0 for m in members)


def test_hidden_fit_shows_in_titles_industries_and_size(members: list[Member]) -> None:
    def mean_fit(predicate: Callable[[Member], object]) -> float:
        return mean(m.fit for m in members if predicate(m))

    def prop(member: Member, name: str) -> str:
        return member.contact.properties.get(name) or ""

    senior = re.compile(r"\b(VP|Vice President|Director|Head of|Chief|CEO|CRO|CMO)\b")
    assert mean_fit(lambda m: senior.search(prop(m, "jobtitle"))) > mean_fit(
        lambda m: prop(m, "jobtitle") and not senior.search(prop(m, "jobtitle"))
    )
    icp = {"COMPUTER_SOFTWARE", "INFORMATION_TECHNOLOGY_AND_SERVICES", "INTERNET"}
    assert mean_fit(lambda m: prop(m, "industry") in icp) > mean_fit(
        lambda m: prop(m, "industry") not in icp | {""}
    )
    assert mean_fit(lambda m: prop(m, "numemployees") == "100-500") > mean_fit(
        lambda m: prop(m, "numemployees") == "1-5"
    )


def test_customers_churn_by_a_hidden_flag_that_shows_only_through_noise(
    members: list[Member],
) -> None:
    customers = [m for m in members if m.contact.properties["lifecyclestage"] == "customer"]
    churning = [m for m in customers if m.churn]
    healthy = [m for m in customers if not m.churn]
    assert 0.15 <= len(churning) / len(customers) <= 0.35
    for member in members:
        churned = member.outcome.churned_at
        assert (churned is not None) == member.churn
        if churned is not None:
            assert END < churned <= END + timedelta(days=90)
    # one account, one churn date for all its people
    by_company: dict[str | None, set[object]] = {}
    for member in churning:
        by_company.setdefault(member.contact.properties["company"], set()).add(
            member.outcome.churned_at
        )
    assert all(len(dates) == 1 for dates in by_company.values())

    def answers(group: list[Member]) -> list[int]:
        return [
            int(a.properties["score"])
            for m in group
            for a in m.activities
            if a.type == "survey_response"
        ]

    def urgent_open(group: list[Member]) -> float:
        return sum(
            1
            for m in group
            for a in m.activities
            if a.type == "ticket"
            and (a.properties["priority"], a.properties["status"]) == ("URGENT", "OPEN")
        ) / len(group)

    def detractors(group: list[Member]) -> float:
        scores = answers(group)
        return sum(1 for score in scores if score <= 6) / len(scores)

    assert detractors(churning) > detractors(healthy) + 0.25
    assert detractors(healthy) > 0.05  # noise: healthy customers have detractors too
    assert urgent_open(churning) > 3 * urgent_open(healthy)
    # many say nothing at all: the flag is not written on anyone
    silent = [m for m in churning if not any(a.type in ("survey_response", "ticket")
                                             for a in m.activities)]  # fmt: skip
    assert len(silent) / len(churning) > 0.1
    leads = [m for m in members if m.contact.properties["lifecyclestage"] != "customer"]
    assert not any(a.type in ("survey_response", "ticket") for m in leads for a in m.activities)
