"""SOQL's tokens: names (a dotted path is one token), quoted strings, numbers, date and
date-time literals, punctuation and comparison operators, each with its place in the text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from connectors.salesforce.sandbox.soql.errors import ErrorCode, SoqlError, Span, locate, positioned


class Kind(StrEnum):
    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    OPERATOR = "operator"
    COLON = ":"
    EOF = "<EOF>"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # as written; for a string, the body between the quotes, escapes undecoded
    span: Span

    def is_word(self, *words: str) -> bool:
        """True for a bare (undotted) name that is one of `words`, in any case."""
        return self.kind is Kind.NAME and self.text.upper() in words


_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
# Dates are written bare (no quotes). A date-time needs its zone: Z or an offset from UTC.
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})(?![\w.:+-])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w.:+-])")
_PARTIAL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WORD_END = re.compile(r"[^\s(),]+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA, ":": Kind.COLON}


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an EOF token placed just past the last character."""
    tokens: list[Token] = []
    pos = 0
    while True:
        blank = _WHITESPACE.match(text, pos)
        if blank:
            pos = blank.end()
        if pos >= len(text):
            break
        kind, end = _scan(text, pos, tokens)
        body = text[pos + 1 : end - 1] if kind is Kind.STRING else text[pos:end]
        tokens.append(Token(kind, body, _span(text, pos, end)))
        pos = end
    tokens.append(Token(Kind.EOF, "<EOF>", _span(text, len(text), len(text))))
    return tokens


def _span(text: str, start: int, end: int) -> Span:
    row, column = locate(text, start)
    return Span(start, end, row, column)


def _scan(text: str, pos: int, tokens: list[Token]) -> tuple[Kind, int]:
    char = text[pos]
    if char == "'":
        return Kind.STRING, _string_end(text, pos, tokens)
    if char.isdigit() or (char in "+-." and pos + 1 < len(text) and text[pos + 1].isdigit()):
        for pattern, kind in ((_DATETIME, Kind.DATETIME), (_DATE, Kind.DATE)):
            found = pattern.match(text, pos)
            if found:
                return kind, found.end()
        if _PARTIAL_DATE.match(text, pos):
            # A date followed by something that is not a valid time and zone.
            end = _WORD_END.match(text, pos)
            written = text[pos : end.end() if end else pos + 1]
            raise _bad(
                text, pos, tokens, f"invalid date or dateTime literal: {written}", len(written)
            )
        number = _NUMBER.match(text, pos)
        if number:
            return Kind.NUMBER, number.end()
        raise _bad(text, pos, tokens, f"no viable alternative at character '{char}'")
    name = _NAME.match(text, pos)
    if name:
        if name.end() < len(text) and text[name.end()] == ".":
            raise _bad(text, name.end(), tokens, "no viable alternative at character '.'")
        return Kind.NAME, name.end()
    for operator in _OPERATORS:
        if text.startswith(operator, pos):
            return Kind.OPERATOR, pos + len(operator)
    if char in _PUNCTUATION:
        return _PUNCTUATION[char], pos + 1
    raise _bad(text, pos, tokens, f"no viable alternative at character '{char}'")


def _string_end(text: str, pos: int, tokens: list[Token]) -> int:
    """The offset just past the closing quote of the string opening at `pos`."""
    index = pos + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "'":
            return index + 1
        index += 1
    raise _bad(text, pos, tokens, "unterminated string literal: the closing quote is missing")


def _bad(text: str, pos: int, tokens: list[Token], detail: str, width: int = 1) -> SoqlError:
    end = min(pos + width, len(text))
    return positioned(
        ErrorCode.MALFORMED_QUERY,
        text,
        _span(text, pos, end),
        detail,
        [token.span for token in tokens],
    )
