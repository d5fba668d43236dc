"""Candidate rules from the data and the features the engine would compute for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from qualification.records import Activity, Contact
from qualification.rule_search import activity_candidates, design, fit_candidates, select

AT = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def contacts() -> list[Contact]:
    people = []
    for i in range(40):
        props: dict[str, str | None] = {
            "industry": "INTERNET" if i % 2 else "RETAIL",
            "jobtitle": "VP of Sales" if i % 4 == 0 else "Software Engineer",
            "email": f"p{i}@gmail.com" if i % 5 == 0 else f"p{i}@acme{i}.com",
            # Germany: too rare to be a candidate
            "country": "Germany" if i < 3 else ("France" if i < 10 else "United States"),
        }
        if i % 5 == 4:
            props["industry"] = None
        people.append(Contact(f"c{i}", props))
    return people


def test_fit_candidates_are_values_missing_values_title_words_and_domain_classes() -> None:
    people = contacts()
    converted = [i % 2 == 1 for i in range(40)]
    found = {c.signal: c for c in fit_candidates(people, converted, min_support=5)}
    assert {"industry_internet", "industry_retail", "no_industry"} <= set(found)
    assert "country_germany" not in found  # 3 contacts: below the support
    assert {"country_france", "country_united_states"} <= set(found)
    assert {"title_vp", "title_sales", "title_software", "title_engineer"} <= set(found)
    assert "title_of" not in found  # a stop word
    assert {"free_mail_domain", "business_domain"} <= set(found)
    internet = found["industry_internet"]
    assert (internet.matched, internet.converted) == (16, 16)  # 20 odd, 4 of them missing
    # candidates matching nearly everyone or no one carry nothing
    assert "no_jobtitle" not in found


def test_activity_candidates_tell_kinds_apart_by_url_segment_form_or_outcome() -> None:
    histories = []
    for i in range(30):
        histories.append(
            [
                Activity(f"c{i}", "page_view", AT - DAY, {"url": "https://x.io/pricing?plan=a"}),
                Activity(f"c{i}", "page_view", AT - DAY, {"url": "https://x.io/"}),
                Activity(f"c{i}", "page_view", AT - DAY, {"url": f"https://x.io/blog/{i}"}),
                Activity(f"c{i}", "form_submission", AT - DAY, {"form": "demo-request"}),
                Activity(f"c{i}", "email_open", AT + DAY, {}),  # after `at`: not seen
            ]
        )
    found = activity_candidates(histories, [False] * 30, AT, min_support=5)
    assert set(found) == {"page_view", "form_submission"}
    assert [c.signal for c in found["page_view"]] == [
        "page_view_home",
        "page_view_blog",
        "page_view_pricing",
        "page_view",  # the default comes last
    ]
    assert [c.signal for c in found["form_submission"]] == [
        "form_submission_demo_request",
        "form_submission",
    ]


def test_features_are_the_engines_one_point_rules_first_match_and_decay() -> None:
    people = contacts()[:2]
    histories = [
        [
            Activity("c0", "page_view", AT - 10 * DAY, {"url": "https://x.io/pricing"}),
            Activity("c0", "page_view", AT, {"url": "https://x.io/pricing/enterprise"}),
            Activity("c0", "page_view", AT, {"url": "https://x.io/pricingx"}),
        ],
        [],
    ]
    found = activity_candidates(histories * 5, [False] * 10, AT, min_support=1)
    fit = fit_candidates(contacts(), [False] * 40, min_support=5)[:1]
    built = design(people, histories, fit, found, AT)
    x = built.features({"page_view": 10.0})
    names = [c.signal for c in built.columns]
    pricing, other = names.index("page_view_pricing"), names.index("page_view_pricingx")
    assert x[0, pricing] == pytest.approx(1.5)  # one today, one a half-life ago
    assert x[0, other] == pytest.approx(1.0)  # /pricingx is no /pricing page
    assert x[0, names.index("page_view")] == 0.0
    assert x[1, pricing] == 0.0
    capped = built.features({"page_view": 10.0}, {"page_view": 1.0})
    assert capped[0, pricing] + capped[0, other] == pytest.approx(1.0)  # shared pro rata
    assert capped[0, pricing] == pytest.approx(0.6)


def test_selection_keeps_few_columns_and_no_negative_engagement() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12))
    z = 2.0 * x[:, 0] - 1.5 * x[:, 1] + 0.8 * x[:, 2]
    y = (rng.random(600) < 1 / (1 + np.exp(-z))).astype(np.int8)
    nonnegative = [False, True, False] + [False] * 9  # column 1 must not be negative
    chosen = select(
        x[:400], y[:400], nonnegative, 4, [0.01, 0.03, 0.1, 0.3, 1.0], 0.1, (x[400:], y[400:])
    )
    assert 0 < len(chosen.weights) <= 4
    assert 0 in chosen.weights
    assert 1 not in chosen.weights  # it predicts, but with the wrong sign for its kind
    assert all(w > 0 for j, w in chosen.weights.items() if nonnegative[j])
