"""Strict, bounded JSON for bodies a CRM sends us: what `json.loads` takes too readily is refused.

`json.loads` accepts `NaN` and `Infinity` (which no database stores as JSON), turns `1e999` into
`inf`, and raises `RecursionError` on deep nesting; a nesting that stays just under the
interpreter's limit still breaks whatever walks the value next (hashing, storage). Each of these
is a `PayloadError` naming the problem.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # CRM webhook deliveries nest two or three levels


class PayloadError(ValueError):
    """The body is not JSON this service accepts; the message names the problem."""


def no_constant(name: str) -> Any:
    """`json.loads(parse_constant=...)`: NaN and the infinities are no JSON numbers."""
    raise PayloadError(f"{name} is not a JSON number")


def finite(text: str) -> float:
    """`json.loads(parse_float=...)`: a float past the double range is refused, not infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError(f"number {text[:40]} is out of range")
    return value


def _check_depth(value: Any, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise PayloadError(f"nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def load_json(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body`, or `PayloadError` saying why it is refused."""
    try:
        value = json.loads(body, parse_constant=no_constant, parse_float=finite)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, ints past 4,300 digits
        raise PayloadError(f"not JSON: {exc}") from None
    _check_depth(value, max_depth)
    return value
