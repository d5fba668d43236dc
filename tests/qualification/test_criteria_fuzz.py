"""The criteria loader under hypothesis: any YAML document either loads into criteria that
compile, hash and serialise as strict JSON, or raises `CriteriaError` whose every problem says
where it is ("<key.path>: ...", "line L, column C: ...", "(yaml): ..." or "(top level): ...");
never another exception, and never a hang.

Documents are the default criteria with one value changed, removed or added, one regex
replaced (backtracking traps among them), the same text with a character put in, and arbitrary
text. Derandomized and bounded. Regexes are searched with RE2: on the patterns Python's `re`
and RE2 share, they find what `re` finds.
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qualification.criteria import (
    MAX_VALUES,
    Condition,
    Criteria,
    CriteriaError,
    parse_criteria,
)
from qualification.default_criteria import DEFAULT_CRITERIA_YAML

EXAMPLES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASE = yaml.safe_load(DEFAULT_CRITERIA_YAML)
# Where, then what: a key path starts with a key (or a quoted odd key, ['a: b']).
_LOCATED = re.compile(r"^(line \d+, column \d+|\(yaml\)|\(top level\)|[\w\[].*?): \S", re.S)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


PATHS = _paths(BASE)[1:]
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**30), 2**63, float("inf"), float("-inf"), float("nan")]),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "a\x00b", "(a", "[", "{score", "customer", "x" * 200]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def changed_documents(draw: st.DrawFn) -> str:
    """The default criteria, one value replaced, removed, or given a sibling key."""
    data = copy.deepcopy(BASE)
    path = draw(st.sampled_from(PATHS))
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    what = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if what == "replace":
        parent[path[-1]] = draw(yaml_values)
    elif what == "remove":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(yaml_values)
    else:
        parent.append(draw(yaml_values))
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """The default criteria's text with a few characters put in or taken out."""
    text = DEFAULT_CRITERIA_YAML
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = (
                text[:at]
                + draw(st.sampled_from([*":-[]{}&*!|>'\"%@`#,?\t\n ", "\x00"]))
                + text[at:]
            )
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
    return text


REGEX_PATHS = [path for path in PATHS if path[-1] == "regex"]
# Traps for a backtracking matcher, and what only Python's `re` has.
TRAPS = ["(a+)+$", "(a|a)*$", "(a*)*b", r"(\w+\s?)+$", "(.*a){12}", r"(a)\1", "(?=a)", "a{1001}"]


@st.composite
def regex_documents(draw: st.DrawFn) -> str:
    """The default criteria, one `regex:` replaced."""
    data = copy.deepcopy(BASE)
    path = draw(st.sampled_from(REGEX_PATHS))
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = draw(st.sampled_from(TRAPS) | st.text(max_size=20))
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


documents = st.one_of(
    changed_documents(),
    changed_documents(),
    regex_documents(),
    edited_text(),
    st.text(max_size=200),
    st.sampled_from(
        [
            "",
            "~",
            "[]",
            "name: x\nthresholds: " + "[" * 300 + "]" * 300,
            "name: x\nthresholds: " + "{a: " * 50 + "1" + "}" * 50,
            "name: x\nreasons_max: " + "9" * 5000,
            'name: "a\\0b"\nthresholds: {fit: 1, engagement: 1}',
            "name: !!python/object/apply:os.system ['true']\n",
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n",
        ]
    ),
)


def _load(text: str) -> Criteria | CriteriaError:
    try:
        return parse_criteria(text, source="criteria.yaml")
    except CriteriaError as exc:  # any other exception fails the test
        return exc


def _check(text: str) -> None:
    criteria = _load(text)
    if isinstance(criteria, CriteriaError):
        assert criteria.problems, text
        for problem in criteria.problems:
            assert _LOCATED.match(problem), problem
        return
    criteria.compiled  # noqa: B018 - compiling must not fail either
    json.dumps(criteria.to_document(), allow_nan=False)
    assert re.fullmatch(r"[0-9a-f]{12}", criteria.version)
    for condition in _conditions(criteria):  # and no value stalls matching (a trap's)
        condition.compile()(dict.fromkeys(condition.properties(), "a" * 3000 + "!"))


def _conditions(criteria: Criteria) -> list[Condition]:
    rules = [*criteria.fit, *criteria.disqualifiers]
    for etype in criteria.engagement.values():
        rules += etype.rules
    return [rule.condition for rule in rules]


@EXAMPLES
@given(text=documents)
def test_any_yaml_document_loads_or_names_where_it_is_wrong(text: str) -> None:
    _check(text)


def _laughs(levels: int) -> str:
    """Valid criteria whose one condition, through aliases, holds 10**levels leaves."""
    lines = ["defs:", "  c0: &c0 {property: x, equals: 1}"]
    for i in range(1, levels + 1):
        lines.append(f"  c{i}: &c{i} {{all: [{', '.join([f'*c{i - 1}'] * 10)}]}}")
    return "\n".join(lines) + (
        "\nname: a\nthresholds: {fit: 1, engagement: 1}\n"
        f"fit: [{{label: a, points: 1, condition: *c{levels}}}]\n"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_laughs(8), f"more than {MAX_VALUES} values"),
        ("name: x\nthresholds: " + "[" * 29_000 + "]" * 29_000, "nested deeper than 40"),
        ("name: x\nreasons_max: " + "9" * 5000, "(yaml): Exceeds the limit"),
        ('name: "a\\0b"\nthresholds: {fit: 1, engagement: 1}', "name: a text holds a NUL"),
        (
            "name: a\nthresholds: {fit: 1, engagement: 1}\n"
            "engagement: {x: {points: .inf, half_life_days: 1, label: l}}",
            "engagement.x.points: Input should be a finite number",
        ),
        (
            "name: a\nthresholds: {fit: 1, engagement: 1}\n"
            "fit: [{label: a, points: 1, condition: {property: p, range: {min: .nan}}}]",
            "fit[0].condition.range.min: Input should be a finite number",
        ),
    ],
    ids=["alias-bomb", "deep-nesting", "5000-digit-int", "nul", "infinite-points", "nan-bound"],
)
def test_what_fuzzing_found_is_refused_quickly_naming_the_problem(text: str, words: str) -> None:
    """Each of these was accepted (NaN, infinity, NUL), escaped as another exception
    (RecursionError, ValueError) or hung validation (the alias bomb) before."""
    started = time.monotonic()
    with pytest.raises(CriteriaError) as caught:
        parse_criteria(text, source="criteria.yaml")
    assert time.monotonic() - started < 10
    assert words in str(caught.value)


def _pattern_strategy() -> st.SearchStrategy[str]:
    """Patterns in the syntax Python's `re` and RE2 share, nested quantifiers included."""
    atoms = st.sampled_from(["a", "b", "A", "1", "-", " ", ".", r"\.", "[ab]", "[^a]", "[a-c]"])
    atoms |= st.sampled_from([r"\d", r"\w", r"\s", r"\W"])
    quantifiers = st.sampled_from(["", "", "*", "+", "?", "{1,3}", "{2}", "*?", "+?"])
    assertions = st.sampled_from(["", "", "", "^", "$", r"\b", r"\B"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        group = st.tuples(st.sampled_from(["(", "(?:"]), inner).map(lambda t: f"{t[0]}{t[1]})")
        quantified = st.tuples(group | atoms, quantifiers).map("".join)
        return st.lists(quantified | assertions, min_size=1, max_size=4).map("".join) | st.tuples(
            inner, inner
        ).map("|".join)

    return st.recursive(st.tuples(atoms, quantifiers).map("".join), extend, max_leaves=6)


@settings(EXAMPLES, max_examples=300)
@given(
    pattern=_pattern_strategy(),
    texts=st.lists(st.text("abcAB1 -._", min_size=1, max_size=12), max_size=6),
)
def test_regexes_find_what_pythons_re_finds_on_the_syntax_both_share(
    pattern: str, texts: list[str]
) -> None:
    search = Condition.model_validate({"property": "p", "regex": pattern}).compile()
    python = re.compile(pattern, re.IGNORECASE)
    for text in texts:
        assert search({"p": text}) == (python.search(text) is not None), (pattern, text)
