"""Batch rescoring agrees with engine.rescore for every row."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from qualification.batch import STATUS_CODES, pack, rescore_batch
from qualification.criteria import default_criteria, parse_criteria
from qualification.engine import Qualification, qualify, rescore
from qualification.records import Activity, Contact
from qualification.statuses import OVERRIDE_PROPERTY, Status

CRITERIA = default_criteria()
AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)

TITLES = ["VP Marketing", "CEO", "Director of IT", "Engineer", "Student", "Head of Sales", ""]
INDUSTRIES = ["COMPUTER_SOFTWARE", "INTERNET", "RETAIL", "FINANCIAL_SERVICES", ""]
SIZES = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"]
DOMAINS = ["acme.com", "globex.io", "gmail.com", "yahoo.co.uk", "rivalscore.io"]
KINDS = [
    "email_open",
    "email_open",
    "email_click",
    "page_view",
    "page_view",
    "form_submission",
    "meeting",
    "call",
    "chat",
    "product_usage",
]


def member(rng: random.Random, index: int) -> tuple[Contact, list[Activity]]:
    cid = f"c{index:07d}"
    props: dict[str, str | None] = {}
    if rng.random() > 0.05:  # a few contacts we know nothing about
        props = {
            "email": f"p{index}@{rng.choice(DOMAINS)}",
            "jobtitle": rng.choice(TITLES),
            "industry": rng.choice(INDUSTRIES),
            "numemployees": rng.choice(SIZES),
            "country": rng.choice(["United States", "Brazil"]),
            "company": rng.choice(["Acme", ""]),
            "lifecyclestage": "customer" if rng.random() < 0.08 else "lead",
        }
    if rng.random() < 0.03:
        props[OVERRIDE_PROPERTY] = rng.choice(["sales_ready", "nurture", "poor_fit"])
    activities = []
    burst = AT - timedelta(days=rng.uniform(0, 120))
    for _ in range(rng.choice([0, 1, 3, 8, 20])):
        kind = rng.choice(KINDS)
        when = burst - timedelta(days=rng.expovariate(1 / 10))
        props_a: dict[str, str] = {}
        if kind == "page_view":
            props_a["url"] = rng.choice(["/pricing", "/docs/api", "/blog/x", "/"])
        if kind == "form_submission":
            props_a["form"] = rng.choice(["demo-request", "newsletter", "ebook"])
        activities.append(Activity(cid, kind, when, props_a))
    return Contact(cid, props), activities


def population(n: int, seed: int = 11) -> list[Qualification]:
    rng = random.Random(seed)
    result = []
    for i in range(n):
        contact, activities = member(rng, i)
        previous = None
        if i % 3 == 0:  # some carry a previous status, so hysteresis matters
            previous = qualify(contact, activities, CRITERIA, AT - 2 * DAY)
        q = qualify(contact, activities, CRITERIA, AT, previous)
        if i % 4 == 0:  # some were rescored already: state older than computed_at
            q = rescore(q, CRITERIA, AT + 1.5 * DAY)
        result.append(q)
    return result


QUALIFICATIONS = population(1500)


def assert_rows_match(qualifications: list[Qualification], at: datetime) -> None:
    result = rescore_batch(pack(qualifications, CRITERIA), CRITERIA, at)
    assert result.contact_ids == tuple(q.contact_id for q in qualifications)
    for row, q in enumerate(qualifications):
        expected = rescore(q, CRITERIA, at)
        got = (int(result.engagement[row]), int(result.score[row]), result.statuses()[row])
        assert got == (expected.engagement, expected.score, expected.status), q.contact_id
        if expected.next_change_at is None:
            assert math.isnan(result.next_change_at[row]), q.contact_id
        else:
            gap = result.next_change_at[row] - expected.next_change_at.timestamp()
            assert abs(gap) <= 1e-3 + 1e-6, q.contact_id


def test_population_covers_every_status() -> None:
    statuses = {q.status for q in QUALIFICATIONS}
    assert statuses == set(Status)


@pytest.mark.parametrize("days", [1.5, 2, 7.25, 30, 90, 365, 2000])
def test_batch_matches_rescore_row_by_row(days: float) -> None:
    assert_rows_match(QUALIFICATIONS, AT + timedelta(days=days))


def test_pack_layout() -> None:
    batch = pack(QUALIFICATIONS[:10], CRITERIA)
    assert len(batch) == 10
    assert batch.values.shape == (10, len(batch.signals))
    assert batch.type_values.shape == (10, len(CRITERIA.engagement))
    assert set(batch.signals) == {
        s for s in CRITERIA.signals if s != "inactivity" and s in CRITERIA.compiled.signal_types
    }
    meeting = batch.types.index("meeting")
    assert batch.half_life_days[meeting] == pytest.approx(21)
    assert batch.caps[meeting] == 45
    assert batch.types[batch.signal_type[batch.signals.index("demo_request")]] == (
        "form_submission"
    )
    np.testing.assert_allclose(batch.type_values.sum(axis=1), batch.values.sum(axis=1), rtol=1e-12)


def test_empty_batch() -> None:
    result = rescore_batch(pack([], CRITERIA), CRITERIA, AT)
    assert len(result.score) == 0
    assert result.statuses() == []


def test_refuses_other_criteria_and_going_back() -> None:
    batch = pack(QUALIFICATIONS[:5], CRITERIA)
    other = parse_criteria("name: other\nthresholds: {fit: 1, engagement: 1}\n")
    with pytest.raises(ValueError, match="other criteria"):
        rescore_batch(batch, other, AT)
    with pytest.raises(ValueError, match="back in time"):
        rescore_batch(batch, CRITERIA, AT - DAY)
    with pytest.raises(ValueError, match="not"):
        pack(QUALIFICATIONS[:5], other)


def test_status_codes_decode() -> None:
    assert STATUS_CODES[0] is Status.DISQUALIFIED
    assert len(STATUS_CODES) == len(Status)
