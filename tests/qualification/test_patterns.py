"""Criteria regexes on RE2: the binding's fast path and the public search agree, and any text
(a lone surrogate included) is searched without an exception."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qualification import patterns
from qualification.criteria import Condition
from qualification.patterns import compile_search

SAMPLES = ["Senior VP, Sales", "MVP engineer", "Co-Founder & CEO", "vice-president", "", "é vp"]
PATTERNS = [r"\bvp\b", r"^(?:co-?)?founder\b", "vice[ -]president", r"(a+)+$", r"\pL vp"]


def test_the_installed_google_re2_takes_the_fast_path() -> None:
    # The public search costs 3 to 8 times Python's re per call: a new release without the
    # binding's Match would slow every scoring, so it is noticed here.
    assert patterns.fast_path()


def test_the_fast_path_and_the_public_search_find_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = [compile_search(pattern) for pattern in PATTERNS]
    monkeypatch.setattr(patterns, "_UNANCHORED", None)
    public = [compile_search(pattern) for pattern in PATTERNS]
    for pattern, one, other in zip(PATTERNS, fast, public, strict=True):
        for text in SAMPLES:
            assert one(text) == other(text), (pattern, text)
    assert [search("Senior VP, Sales") for search in fast] == [True, False, False, False, True]


def test_a_lone_surrogate_in_a_value_is_searched_as_a_character_not_an_exception() -> None:
    matcher = Condition.model_validate({"property": "jobtitle", "regex": r"^.vp$"}).compile()
    assert matcher({"jobtitle": "\ud800vp"})
    assert not matcher({"jobtitle": "\ud800"})


def test_a_lone_surrogate_in_a_pattern_is_refused_as_an_invalid_regex() -> None:
    with pytest.raises(ValidationError, match="invalid regex '\\\\ud800': a lone surrogate"):
        Condition.model_validate({"property": "jobtitle", "regex": "\ud800"})
