"""The one error a query can raise, shaped as Salesforce words it.

Salesforce answers a bad query with `400 [{"message": ..., "errorCode": ...}]`; where it can
place the problem, the message quotes the query around it, puts a caret under it and names the
row and column (1-based), then says what is wrong:

    \\nSELECT Foo FROM Lead\\n       ^\\nERROR at Row:1:Column:8\\nNo such column 'Foo' ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED_QUERY = "MALFORMED_QUERY"
    INVALID_FIELD = "INVALID_FIELD"
    INVALID_TYPE = "INVALID_TYPE"
    INVALID_QUERY_FILTER_OPERATOR = "INVALID_QUERY_FILTER_OPERATOR"


class SoqlError(ValueError):
    """A query Salesforce would refuse: `error_code` and `message` go into the 400 body as is."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def to_json(self) -> dict[str, str]:
        """One element of the error array Salesforce answers with."""
        return {"message": self.message, "errorCode": str(self.error_code)}


@dataclass(frozen=True, slots=True)
class Span:
    """Where a token sits in the query text: `start` and `end` are offsets, `row` and
    `column` 1-based, as Salesforce counts them."""

    start: int
    end: int
    row: int
    column: int


# Salesforce quotes a few tokens either side of the one at fault (observed in its messages).
_CONTEXT_TOKENS = 4


def locate(text: str, offset: int) -> tuple[int, int]:
    """The 1-based row and column of an offset into `text`."""
    row = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return row, offset - line_start + 1


def positioned(
    code: ErrorCode, text: str, at: Span, detail: str, tokens: Sequence[Span] = ()
) -> SoqlError:
    """An error pointing at `at`, quoting the tokens of its row around it (or the whole row)."""
    line_start = text.rfind("\n", 0, at.start) + 1
    line_end = text.find("\n", at.start)
    line_end = len(text) if line_end < 0 else line_end
    same_row = [span for span in tokens if span.row == at.row and span.end > span.start]
    if same_row:
        before = [span for span in same_row if span.start < at.start][-_CONTEXT_TOKENS:]
        after = [span for span in same_row if span.start > at.start][:_CONTEXT_TOKENS]
        start = before[0].start if before else at.start
        ends = [at.end, *(span.end for span in after)]
        end = max(ends)
    else:
        start, end = line_start, line_end
    snippet = text[start:end]
    caret = " " * (at.start - start) + "^"
    message = f"\n{snippet}\n{caret}\nERROR at Row:{at.row}:Column:{at.column}\n{detail}"
    return SoqlError(code, message)


def unplaced(code: ErrorCode, detail: str) -> SoqlError:
    """An error Salesforce reports without a position (such as a field selected twice)."""
    return SoqlError(code, detail)
