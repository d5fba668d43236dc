"""Criteria: loading, validation messages, versions, and what each condition operator means."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from qualification.criteria import (
    Condition,
    Criteria,
    CriteriaError,
    default_criteria,
    domain_of,
    is_free_mail,
    lower_bound,
    parse_criteria,
)
from qualification.default_criteria import DEFAULT_CRITERIA_YAML

MINIMAL = """
name: test
thresholds: {fit: 50, engagement: 40}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(CriteriaError) as caught:
        parse_criteria(text, source="criteria.yaml")
    assert str(caught.value).startswith("criteria.yaml: ")
    return caught.value.problems


def matches(condition: dict[str, Any], props: dict[str, Any]) -> bool:
    return Condition.model_validate(condition).compile()(props)


# ---------------------------------------------------------------------------------------------
# Loading and versions


def test_default_criteria_loads_with_the_documented_parts() -> None:
    criteria = default_criteria()
    assert criteria.name == "B2B SaaS default"
    assert {"email_open", "email_click", "page_view", "form_submission", "meeting"} <= set(
        criteria.engagement
    )
    assert {"competitor", "student", "unsubscribed", "bounced", "do_not_contact"} == {
        d.signal for d in criteria.disqualifiers
    }
    assert criteria.fit_properties == {
        "jobtitle",
        "industry",
        "numemployees",
        "country",
        "email",
        "company",
    }
    assert "glengarry_override" in criteria.contact_properties
    assert "hs_email_optout" in criteria.contact_properties


def test_version_is_twelve_hex_chars_and_stable_across_loads() -> None:
    first, second = default_criteria(), parse_criteria(DEFAULT_CRITERIA_YAML)
    assert first is not second
    assert len(first.version) == 12
    int(first.version, 16)
    assert first.version == second.version
    assert first == second
    assert default_criteria() is first  # parsed once


def test_document_round_trips_to_the_same_criteria_and_version() -> None:
    criteria = default_criteria()
    again = parse_criteria(yaml.safe_dump(criteria.to_document(), sort_keys=False))
    assert again == criteria
    assert again.version == criteria.version


def test_version_ignores_comments_and_spelled_out_defaults_but_not_points() -> None:
    base = parse_criteria(MINIMAL)
    spelled = parse_criteria(MINIMAL + "# a comment\nreasons_max: 5\n")
    assert spelled.version == base.version
    changed = parse_criteria(MINIMAL.replace("fit: 50", "fit: 51"))
    assert changed.version != base.version


def test_model_copy_recomputes_cached_version() -> None:
    criteria = parse_criteria(MINIMAL)
    _ = criteria.version, criteria.compiled
    copied = criteria.model_copy(update={"name": "other"})
    assert copied.version != criteria.version
    assert copied.compiled.version == copied.version


def test_signal_defaults_to_a_slug_of_the_label() -> None:
    criteria = parse_criteria(
        MINIMAL
        + """
fit:
  - label: VP-level title!
    points: 25
    condition: {property: jobtitle, regex: vp}
"""
    )
    assert criteria.fit[0].signal == "vp_level_title"


def test_criteria_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^criteria\.yaml: "):
        parse_criteria("name: [", source="criteria.yaml")


# ---------------------------------------------------------------------------------------------
# Problems, each with a path


def test_typo_is_an_unknown_key_with_its_path() -> None:
    problems = problems_of(
        MINIMAL
        + """
fit:
  - label: vp
    points: 25
    conditon: {property: jobtitle, regex: vp}
"""
    )
    assert "fit[0].conditon: unknown key" in problems
    assert "fit[0].condition: required key is missing" in problems


def test_bad_regex_is_a_load_error() -> None:
    problems = problems_of(
        MINIMAL
        + """
engagement:
  page_view:
    label: visit
    points: 1
    half_life_days: 7
    rules:
      - label: pricing
        points: 5
        condition: {property: url, regex: '(pricing'}
"""
    )
    assert len(problems) == 1
    assert problems[0].startswith("engagement.page_view.rules[0].condition.regex: invalid regex")


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?P<x>a)(?P=x)", "(?=vp)v", "(?<!s)vp", "(?!x)", "vp++", r"vp\Z"],
    ids=[
        "backreference",
        "named-backreference",
        "lookahead",
        "lookbehind",
        "negative",
        "possessive",
        "python-end",
    ],
)
def test_a_pattern_that_needs_backtracking_is_refused_naming_where_and_why(pattern: str) -> None:
    """Python's re takes these; RE2, which matches in linear time, cannot."""
    document = MINIMAL + "fit:\n  - label: vp\n    points: 1\n    condition: {property: jobtitle}\n"
    data = yaml.safe_load(document)
    data["fit"][0]["condition"]["regex"] = pattern
    problems = problems_of(yaml.safe_dump(data))

    assert len(problems) == 1
    assert problems[0].startswith(f"fit[0].condition.regex: invalid regex {pattern!r}: "), problems
    assert "no backreferences, look-around or possessive quantifiers" in problems[0]


@pytest.mark.timeout(30)  # RE2 takes milliseconds; Python's re never ended
def test_a_backtracking_pattern_is_searched_in_time_linear_in_the_text() -> None:
    # Python's re would take some 2**5000 steps on the first: scoring one contact never ended.
    catastrophic = {"property": "jobtitle", "regex": "(a+)+$"}
    assert not matches(catastrophic, {"jobtitle": "a" * 5000 + "!"})
    assert matches(catastrophic, {"jobtitle": "a" * 5000})
    polynomial = {"property": "url", "regex": r"^(\w*\w*\w*)*-$"}
    assert not matches(polynomial, {"url": "w" * 20_000})


def test_yaml_syntax_error_names_the_line() -> None:
    problems = problems_of("name: test\nthresholds: {fit: 1\nfit: []\n")
    assert len(problems) == 1
    assert problems[0].startswith("line ")


def test_duplicate_yaml_keys_are_refused() -> None:
    problems = problems_of(MINIMAL + "name: again\n")
    assert problems == ["line 4, column 1: duplicate key 'name'"]


def test_top_level_must_be_a_mapping() -> None:
    assert problems_of("- a\n- b\n") == [
        "(top level): criteria must be a mapping (name, fit, engagement, ...)"
    ]


def test_several_problems_are_reported_together() -> None:
    problems = problems_of(
        """
name: test
thresholds: {fit: 150, engagement: 40}
reasons_max: 0
"""
    )
    assert [p.split(":")[0] for p in problems] == ["thresholds.fit", "reasons_max"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{property: a, equals: x, regex: y}", "exactly one of"),
        ("{property: a}", "exactly one of"),
        ("{equals: x}", "`equals` needs a `property`"),
        ("{property: a, not: {property: b, exists: true}}", "takes no `property`"),
        ("{all: []}", "`all` needs at least one condition"),
        ("{property: a, equals: [1, 2]}", "must be a text, a number or true/false"),
        ("{property: a, range: {}}", "a range needs min, max or both"),
        ("{property: a, range: {min: 5, max: 1}}", "range min is above max"),
    ],
)
def test_malformed_conditions(condition: str, expected: str) -> None:
    problems = problems_of(
        MINIMAL + f"fit:\n  - label: x\n    points: 1\n    condition: {condition}\n"
    )
    assert len(problems) == 1
    assert problems[0].startswith("fit[0].condition")
    assert expected in problems[0]


def test_semantic_checks() -> None:
    problems = problems_of(
        """
name: test
thresholds: {fit: 50, engagement: 10, hysteresis: 10}
fit:
  - {label: a, signal: dup, points: 1, condition: {property: a, exists: true}}
  - {label: b, signal: dup, points: 1, condition: {property: b, exists: true}}
  - {label: c, signal: inactivity, points: 1, condition: {property: c, exists: true}}
calibration: {intercept: 0, coefficients: {nope: 1.0}}
"""
    )
    assert problems == [
        "thresholds.hysteresis: must be below thresholds.engagement (10)",
        "fit[1].signal: duplicate signal 'dup' (also fit[0].signal)",
        "fit[2].signal: signal 'inactivity' is reserved",
        "calibration.coefficients.nope: not a fit, engagement or inactivity signal",
    ]


def test_engagement_points_cannot_be_negative() -> None:
    problems = problems_of(
        MINIMAL + "engagement:\n  call: {label: call, points: -3, half_life_days: 7}\n"
    )
    assert problems == ["engagement.call.points: Input should be greater than or equal to 0"]


def test_engagement_type_keys_share_the_signal_namespace() -> None:
    problems = problems_of(
        MINIMAL
        + """
fit:
  - {label: call, points: 1, condition: {property: a, exists: true}}
engagement:
  call: {label: call, points: 3, half_life_days: 7}
"""
    )
    assert problems == ["engagement.call: duplicate signal 'call' (also fit[0].signal)"]


def test_calibration_may_name_every_kind_of_signal() -> None:
    criteria = parse_criteria(
        MINIMAL
        + """
fit:
  - {label: vp, points: 1, condition: {property: jobtitle, regex: vp}}
engagement:
  page_view:
    label: visit
    points: 1
    half_life_days: 7
    rules: [{label: pricing, points: 5, condition: {property: url, regex: pricing}}]
inactivity: {after_days: 30, points: -5}
calibration:
  intercept: -2
  coefficients: {vp: 1, page_view: 0.1, pricing: 0.2, inactivity: -0.5}
"""
    )
    assert set(criteria.signals) == {"vp", "page_view", "pricing", "inactivity"}


# ---------------------------------------------------------------------------------------------
# Condition semantics


def test_equals_and_in_compare_case_insensitively_as_strings() -> None:
    assert matches({"property": "stage", "equals": "Customer"}, {"stage": " customer "})
    assert not matches({"property": "stage", "equals": "customer"}, {"stage": "lead"})
    assert matches({"property": "optout", "equals": True}, {"optout": "TRUE"})
    assert matches({"property": "optout", "equals": True}, {"optout": True})
    assert matches({"property": "n", "equals": 5}, {"n": "5"})
    assert matches({"property": "ind", "in": ["INTERNET", "retail"]}, {"ind": "Retail"})
    assert not matches({"property": "ind", "in": []}, {"ind": "none"})
    assert not matches({"property": "ind", "in": ["x"]}, {})


def test_regex_is_case_insensitive_search() -> None:
    condition = {"property": "jobtitle", "regex": r"\bvp\b"}
    assert matches(condition, {"jobtitle": "Senior VP, Sales"})
    assert not matches(condition, {"jobtitle": "MVP engineer"})
    assert not matches(condition, {"jobtitle": None})


def test_regex_keeps_the_syntax_criteria_files_use() -> None:
    assert matches(
        {"property": "jobtitle", "regex": r"^(?:co-?)?founder\b"}, {"jobtitle": "Co-Founder"}
    )
    assert matches({"property": "url", "regex": r"/pricing(?:[/?#]|$)"}, {"url": "/PRICING?x=1"})
    assert matches(
        {"property": "email_domain", "regex": r"\.(edu|ac\.[a-z]{2})$"}, {"email": "x@ox.ac.uk"}
    )
    assert matches({"property": "n", "regex": r"^\d{3,}$"}, {"n": 1200})
    assert matches({"property": "city", "regex": "zürich|münchen"}, {"city": "MÜNCHEN"})
    assert matches({"property": "city", "regex": r"^\pL+$"}, {"city": "Genève"})
    assert not matches({"property": "jobtitle", "regex": "vp"}, {"jobtitle": ""})


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        ("100-500", 100.0),
        ("1000+", 1000.0),
        ("25-50", 25.0),
        ("1,200", 1200.0),
        (" 7 ", 7.0),
        (42, 42.0),
        (2.5, 2.5),
        ("-3", -3.0),
        ("many", None),
        ("", None),
        (True, None),
        (None, None),
    ],
)
def test_lower_bound_of_numbers_and_buckets(value: object, bound: float | None) -> None:
    assert lower_bound(value) == bound


def test_range_uses_the_bucket_lower_bound_inclusively() -> None:
    mid = {"property": "numemployees", "range": {"min": 50, "max": 999}}
    assert matches(mid, {"numemployees": "50-100"})
    assert matches(mid, {"numemployees": "500-1000"})
    assert not matches(mid, {"numemployees": "1000+"})
    assert not matches(mid, {"numemployees": "25-50"})
    assert not matches(mid, {"numemployees": "unknown"})
    assert not matches(mid, {})


def test_exists_treats_empty_strings_as_missing() -> None:
    assert matches({"property": "company", "exists": True}, {"company": "Acme"})
    assert not matches({"property": "company", "exists": True}, {"company": ""})
    assert matches({"property": "company", "exists": False}, {"company": ""})
    assert matches({"property": "company", "exists": False}, {})
    assert not matches({"property": "company", "exists": False}, {"company": "Acme"})


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("gmx.de", True),
        ("yandex.ru", True),
        ("yahoo.co.uk", True),
        ("proton.me", True),
        ("163.com", True),
        ("acme.com", False),
        ("live.acme.com", False),
    ],
)
def test_free_mail_domains(domain: str, free: bool) -> None:
    assert is_free_mail(domain) is free
    assert matches({"property": "email", "free_mail": True}, {"email": f"a@{domain}"}) is free
    assert matches({"property": "email", "free_mail": False}, {"email": f"a@{domain}"}) is not free


def test_free_mail_never_matches_without_an_email() -> None:
    assert not matches({"property": "email", "free_mail": True}, {})
    assert not matches({"property": "email", "free_mail": False}, {"email": ""})


def test_email_domain_is_derived_from_email() -> None:
    assert domain_of("Jane.Doe@RivalScore.IO ") == "rivalscore.io"
    competitor = {"property": "email_domain", "in": ["rivalscore.io"]}
    assert matches(competitor, {"email": "jane@RivalScore.io"})
    assert not matches(competitor, {"email": "jane@acme.com"})
    assert not matches(competitor, {})
    assert matches({"property": "email_domain", "regex": r"\.edu$"}, {"email": "x@mit.edu"})


def test_not_all_any() -> None:
    vp = {"property": "jobtitle", "regex": "vp"}
    big = {"property": "numemployees", "range": {"min": 100}}
    both = {"all": [vp, big]}
    either = {"any": [vp, big]}
    assert matches(both, {"jobtitle": "VP", "numemployees": "100-500"})
    assert not matches(both, {"jobtitle": "VP", "numemployees": "5-25"})
    assert matches(either, {"jobtitle": "CTO", "numemployees": "1000+"})
    assert not matches(either, {})
    assert matches({"not": vp}, {})
    assert not matches({"not": vp}, {"jobtitle": "vp"})


def test_default_criteria_fit_reads_hubspot_values() -> None:
    criteria = default_criteria()
    rules = {rule.signal: rule.condition.compile() for rule in criteria.fit}
    assert rules["title_vp"]({"jobtitle": "Vice President Marketing"})
    assert rules["title_c_level"]({"jobtitle": "Co-Founder & CEO"})
    assert rules["icp_industry"]({"industry": "COMPUTER_SOFTWARE"})
    assert rules["size_enterprise"]({"numemployees": "1000+"})
    assert rules["size_very_small"]({"numemployees": "5-25"})
    assert not rules["size_very_small"]({"numemployees": "25-50"})
    assert rules["free_mail"]({"email": "x@gmail.com"})
    assert rules["business_email"]({"email": "x@acme.com"})
    disqualifiers = {d.signal: d.condition.compile() for d in criteria.disqualifiers}
    assert disqualifiers["competitor"]({"email": "x@leadlynx.com"})
    assert disqualifiers["student"]({"jobtitle": "Marketing Intern"})
    assert disqualifiers["unsubscribed"]({"hs_email_optout": "true"})
    assert disqualifiers["bounced"]({"hs_email_bounce": "2"})
    assert not disqualifiers["bounced"]({"hs_email_bounce": "0"})
    assert disqualifiers["do_not_contact"]({"glengarry_do_not_contact": "true"})


def test_criteria_model_is_frozen() -> None:
    criteria = parse_criteria(MINIMAL)
    with pytest.raises(ValueError, match="frozen"):
        criteria.name = "changed"  # type: ignore[misc]
    assert isinstance(criteria, Criteria)
