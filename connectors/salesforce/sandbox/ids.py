"""Salesforce record ids: a 3-character key prefix naming the object, 12 more characters, and
the 3-character case-safe suffix that makes the 18-character form ("What is a Salesforce ID",
and the ID Field Type of the SOAP API Developer Guide)."""

from __future__ import annotations

import itertools
import string
import threading

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
POD = "5e"  # the instance part of every id the sandbox makes


def checksum(id15: str) -> str:
    """The suffix of the 18-character id: one character per 5-character chunk, whose bits say
    which of the chunk's characters are upper case."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if char in string.ascii_uppercase)
        suffix += _SUFFIX[bits]
    return suffix


def to18(record_id: str) -> str:
    return record_id if len(record_id) == 18 else record_id + checksum(record_id)


def to15(record_id: str) -> str:
    return record_id[:15]


def _base62(number: int, width: int) -> str:
    text = ""
    while number:
        number, digit = divmod(number, 62)
        text = _BASE62[digit] + text
    return text.rjust(width, "0")


class IdFactory:
    """Fresh 18-character ids per key prefix, in increasing order."""

    def __init__(self, start: int = 1) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(start)

    def new(self, prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        return to18(f"{prefix}{POD}0{_base62(number, 9)}")
