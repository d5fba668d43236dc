"""Literal values: string escapes (and LIKE's wildcards), numbers, dates and date-times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

# Quoted String Escape Sequences. `\b` is the backspace (Java's escape, which simple-salesforce's
# format_soql writes for "\b").
_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


class EscapeError(ValueError):
    """A backslash used outside the documented sequences; `sequence` is what was written."""

    def __init__(self, sequence: str) -> None:
        super().__init__(sequence)
        self.sequence = sequence


def _pieces(body: str, *, like: bool) -> list[tuple[str, bool]]:
    """The characters of a string body as (character, is_wildcard) pairs."""
    pieces: list[tuple[str, bool]] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            pieces.append((char, like and char in "%_"))
            index += 1
            continue
        following = body[index + 1 : index + 2]
        if following in _ESCAPES:
            pieces.append((_ESCAPES[following], False))
            index += 2
        elif following == "u" and _HEX4.fullmatch(body, index + 2, index + 6):
            pieces.append((chr(int(body[index + 2 : index + 6], 16)), False))
            index += 6
        elif like and following in ("%", "_"):
            pieces.append((following, False))
            index += 2
        else:
            raise EscapeError("\\" + following)
    return pieces


def decode_string(body: str) -> str:
    """The value of a quoted string outside LIKE."""
    return "".join(char for char, _ in _pieces(body, like=False))


def like_pattern(body: str) -> re.Pattern[str]:
    """LIKE's pattern as a regular expression: % any run, _ one character, case-insensitive."""
    parts = []
    for char, wildcard in _pieces(body, like=True):
        if wildcard:
            parts.append(".*" if char == "%" else ".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def parse_date(text: str) -> date:
    """YYYY-MM-DD (ValueError if it names no day)."""
    return date.fromisoformat(text)


def parse_datetime(text: str) -> datetime:
    """YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm), in UTC (ValueError if it names no moment)."""
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return moment.astimezone(UTC)
