"""ORDER BY (keys, directions, where nulls go, picklist order) and LIMIT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.salesforce.sandbox.soql import compile_query

from .soql_schema import CATALOG, get, select_ids


def lead(n: int, **fields: Any) -> dict[str, Any]:
    return {"Id": f"00Q{n:012d}AAA", **fields}


LEADS = [
    lead(1, LastName="beta", NumberOfEmployees=10, Status="Open"),
    lead(2, LastName="Alpha", NumberOfEmployees=None, Status="Working"),
    lead(3, LastName="alpha", NumberOfEmployees=30, Status=None),
    lead(4, LastName=None, NumberOfEmployees=10, Status="Open"),
    lead(5, LastName="Gamma", NumberOfEmployees=20, Status="Closed"),
]


def order(clause: str, records: list[dict[str, Any]] = LEADS) -> list[int]:
    ids = select_ids(f"SELECT Id FROM Lead {clause}", records)
    return [int(text[3:15]) for text in ids]


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        # Text sorts case-insensitively; ties keep their order; nulls first ascending.
        ("ORDER BY LastName", [4, 2, 3, 1, 5]),
        ("ORDER BY LastName ASC", [4, 2, 3, 1, 5]),
        ("ORDER BY LastName NULLS LAST", [2, 3, 1, 5, 4]),
        # Descending puts nulls last unless told otherwise.
        ("ORDER BY LastName DESC", [5, 1, 2, 3, 4]),
        ("ORDER BY LastName DESC NULLS FIRST", [4, 5, 1, 2, 3]),
        ("ORDER BY NumberOfEmployees", [2, 1, 4, 5, 3]),
        ("ORDER BY NumberOfEmployees DESC", [3, 5, 1, 4, 2]),
        # Several keys: the second breaks ties of the first.
        ("ORDER BY NumberOfEmployees, LastName DESC", [2, 1, 4, 5, 3]),
        ("ORDER BY NumberOfEmployees DESC NULLS FIRST, Id DESC", [2, 3, 5, 4, 1]),
        ("ORDER BY NumberOfEmployees ASC NULLS LAST, Id DESC", [4, 1, 5, 3, 2]),
        ("ORDER BY Id DESC", [5, 4, 3, 2, 1]),
        # Lead.Status lists no values in this schema: it sorts as text.
        ("ORDER BY Status, Id", [3, 5, 1, 4, 2]),
        ("LIMIT 2", [1, 2]),
        ("ORDER BY LastName LIMIT 2", [4, 2]),
        ("ORDER BY LastName DESC LIMIT 0", []),
        ("WHERE NumberOfEmployees != null ORDER BY NumberOfEmployees DESC LIMIT 3", [3, 5, 1]),
    ],
)
def test_order_and_limit(clause: str, expected: list[int]) -> None:
    assert order(clause) == expected


def test_a_picklist_sorts_in_its_set_up_order_and_unlisted_values_after() -> None:
    accounts = [
        {"Id": f"001{n:012d}AAA", "Industry": industry}
        for n, industry in enumerate(["Technology", "banking", "Zoology", None, "Agriculture"])
    ]
    query = compile_query("SELECT Id FROM Account ORDER BY Industry", CATALOG)
    assert [record["Industry"] for record in query.run(accounts, get)] == [
        None,
        "Agriculture",
        "banking",
        "Technology",
        "Zoology",
    ]


def test_dates_and_datetimes_sort_by_the_moment_they_name() -> None:
    records = [
        lead(1, SystemModstamp=datetime(2024, 1, 2, tzinfo=UTC)),
        lead(2, SystemModstamp="2024-01-01T23:00:00.000+0000"),
        lead(3, SystemModstamp="2024-01-02T00:30:00.000+01:00"),
    ]
    assert order("ORDER BY SystemModstamp", records) == [2, 3, 1]


def test_parent_fields_sort_and_a_missing_parent_sorts_as_null() -> None:
    contacts = [
        {"Id": "003000000000001AAA", "Account": {"Name": "b"}},
        {"Id": "003000000000002AAA", "Account": None},
        {"Id": "003000000000003AAA", "Account": {"Name": "A"}},
    ]
    ids = select_ids("SELECT Id FROM Contact ORDER BY Account.Name", contacts)
    assert [text[-4] for text in ids] == ["2", "3", "1"]


def test_sort_key_orders_rows_on_its_own() -> None:
    query = compile_query("SELECT Id FROM Lead ORDER BY NumberOfEmployees DESC, Id", CATALOG)
    rows = sorted(LEADS, key=lambda record: query.sort_key(lambda path: get(record, path)))
    assert [record["Id"][14] for record in rows] == ["3", "5", "1", "4", "2"]
