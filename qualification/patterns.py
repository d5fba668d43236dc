"""The `regex:` of a criteria condition, searched with RE2: its matching takes time linear in the
text, whatever the pattern. Python's `re` backtracks: `(a+)+$` against a property holding
"aaa...a!" takes time exponential in its length, and one criteria file could stall scoring.

RE2 has no backreferences, look-around or possessive quantifiers (they need backtracking): a
pattern using them is refused when the criteria load. Its `\\b`, `\\w`, `\\d` and `\\s` are ASCII
(`\\pL` is any letter), `$` is the end of the text only, and Python's `\\Z` is written `\\z`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import re2

# Whether the pattern occurs in a text.
Search = Callable[[str], bool]

# google-re2's public `search` builds a match object through a Python generator: 3 to 8 times
# Python's `re` per call on a job title, a fifth of a full scoring with the default criteria.
# Its binding's own Match, called here directly, is within 2 times; without it (another
# release), the public search is used.
_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # criteria text comparisons ignore case
    options.log_errors = False  # a refused pattern is raised with its reason, not logged by RE2
    options.never_capture = True  # a condition asks whether it occurs, not for groups: faster
    return options


_OPTIONS = _options()


def compile_search(pattern: str) -> Search:
    """The case-insensitive search for `pattern`; ValueError saying why it is refused."""
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise ValueError(_refusal(pattern, exc)) from None
    except UnicodeEncodeError:
        raise ValueError(f"invalid regex {pattern!r}: a lone surrogate is no character") from None
    match, anchor = getattr(getattr(compiled, "_regexp", None), "Match", None), _UNANCHORED
    if match is None or anchor is None:
        public = compiled.search
        return lambda text: public(_utf8(text)) is not None

    def search(text: str) -> bool:
        data = _utf8(text)
        return bool(match(anchor, data, 0, len(data))[0][0] >= 0)  # (-1, -1): none

    return search


def fast_path() -> bool:
    """Whether searches call the binding's Match (the installed google-re2 has it)."""
    return _UNANCHORED is not None and hasattr(re2.compile("x", _OPTIONS), "_regexp")


def _utf8(text: str) -> bytes:
    # A lone surrogate (JSON's "\ud800" decodes to one) is not UTF-8: it is searched as "?".
    return text.encode("utf-8", "replace")


def _refusal(pattern: str, exc: Exception) -> str:
    reason = exc.args[0] if exc.args else "refused"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    message = f"invalid regex {pattern!r}: {reason}"
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError):
        return message  # no regex in Python's syntax either
    return (  # Python's syntax, then: why it is not RE2's
        f"{message} (regexes are RE2, searched in time linear in the text: no backreferences, "
        "look-around or possessive quantifiers; \\z for the end of the text)"
    )
