"""SOQL statements, with every literal quoted by `simple_salesforce.format_soql`, split so that
each one fits a request (rest.SalesforceRest.fits).

Two things can make a statement long: an `IN (...)` list of ids (`in_chunks` packs as many ids
into each statement as fit) and a long field list (`split_fields` keeps what fits in the
statement and leaves the rest to be read by id, in a request body).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from simple_salesforce.format import format_soql

Fits = Callable[[str], bool]


def select(
    fields: Sequence[str],
    sobject: str,
    where: str = "",
    *,
    order_by: str = "",
) -> str:
    # Names only (each checked against describe); every value goes through format_soql.
    text = f"SELECT {', '.join(fields)} FROM {sobject}"  # noqa: S608  # nosec B608
    if where:
        text += f" WHERE {where}"
    if order_by:
        text += f" ORDER BY {order_by}"
    return text


def since(moment: datetime | None, field: str = "SystemModstamp") -> str:
    """`field >= moment`, or nothing for the very beginning."""
    if moment is None:
        return ""
    return format_soql(f"{field} >= {{}}", moment)


def id_after(record_id: str | None) -> str:
    """`Id > record_id`, or nothing without one."""
    if record_id is None:
        return ""
    return format_soql("Id > {}", record_id)


def id_in(field: str, ids: Sequence[str]) -> str:
    return format_soql(f"{field} IN {{}}", list(ids))


def both(*conditions: str) -> str:
    return " AND ".join(c for c in conditions if c)


def in_chunks(
    build: Callable[[Sequence[str]], str], ids: Sequence[str], fits: Fits
) -> Iterator[str]:
    """Statements built from consecutive runs of `ids`, each as long as still fits."""
    remaining = list(dict.fromkeys(ids))
    while remaining:
        low, high = 1, len(remaining)
        if not fits(build(remaining[:1])):
            raise ValueError(f"even one id does not fit: {build(remaining[:1])[:200]}...")
        while low < high:  # the largest prefix that fits
            middle = (low + high + 1) // 2
            if fits(build(remaining[:middle])):
                low = middle
            else:
                high = middle - 1
        yield build(remaining[:low])
        remaining = remaining[low:]


def split_fields(
    fixed: Sequence[str],
    extra: Sequence[str],
    statement: Callable[[Sequence[str]], str],
    fits: Fits,
) -> tuple[list[str], list[str]]:
    """(fields in the statement, fields left over): `fixed` always, then as many of `extra`
    as keep the statement fitting."""
    kept = list(fixed)
    if not fits(statement(kept)):
        raise ValueError(f"the fixed fields alone do not fit: {statement(kept)[:200]}...")
    left: list[str] = []
    for name in extra:
        if not left and fits(statement([*kept, name])):
            kept.append(name)
        else:
            left.append(name)
    return kept, left
