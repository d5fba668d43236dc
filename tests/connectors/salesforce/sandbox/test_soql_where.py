"""SOQL WHERE semantics, one construct at a time, over a handful of hand-made Leads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.salesforce.sandbox.soql import compile_query

from .soql_schema import CATALOG, get, select_ids


def lead_id(n: int) -> str:
    return f"00Q{n:012d}AAA"


LEADS: list[dict[str, Any]] = [
    {
        "Id": lead_id(1),
        "FirstName": "Ada",
        "LastName": "O'Brien",
        "Email": "ada@example.com",
        "Status": "Open",
        "IsConverted": False,
        "NumberOfEmployees": 50,
        "AnnualRevenue": Decimal("1000000.50"),
        "Glengarry_Score__c": 0.1,
        "ConvertedDate": None,
        "SystemModstamp": datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    },
    {
        "Id": lead_id(2),
        "FirstName": "bob",
        "LastName": "50% Off_Co",
        "Email": None,
        "Status": "Working",
        "IsConverted": True,
        "NumberOfEmployees": 5000,
        "AnnualRevenue": 20.0,
        "Glengarry_Score__c": 75.5,
        "ConvertedDate": date(2024, 2, 29),
        "SystemModstamp": "2024-03-02T08:30:00.000+0000",
        "ConvertedContactId": "003000000000001AAA",
    },
    {
        "Id": lead_id(3),
        "FirstName": "",
        "LastName": "Line\nBreak",
        "Status": None,
        "IsConverted": None,
        "NumberOfEmployees": None,
        "SystemModstamp": datetime(2024, 3, 1, 12, 0, 1, tzinfo=UTC),
    },
]


def where(condition: str) -> list[str]:
    return select_ids(f"SELECT Id FROM Lead WHERE {condition}", LEADS)


def ids(*numbers: int) -> list[str]:
    return [lead_id(n) for n in numbers]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("FirstName = 'ADA'", ids(1)),  # text compares case-insensitively
        ("FirstName = 'Bob'", ids(2)),
        ("FirstName != 'ada'", ids(2, 3)),  # != keeps the null (blank) one
        ("FirstName = null", ids(3)),  # a blank text field is null
        ("FirstName = ''", ids(3)),
        ("FirstName != null", ids(1, 2)),
        ("FirstName < 'B'", ids(1)),
        ("FirstName >= 'B'", ids(2)),
        ("LastName = 'O\\'Brien'", ids(1)),
        ("LastName = 'line\\nbreak'", ids(3)),
        ("Email = null", ids(2, 3)),
        ("Status = 'working'", ids(2)),  # picklists compare as text
        ("Status IN ('Open', 'Working')", ids(1, 2)),
        ("Status NOT IN ('Open')", ids(2, 3)),
        ("Status IN ('Open', null)", ids(1, 3)),
        ("NumberOfEmployees > 50", ids(2)),
        ("NumberOfEmployees <= 50", ids(1)),  # a null is neither less nor greater
        ("NumberOfEmployees < null", []),
        ("NumberOfEmployees = null", ids(3)),
        ("NumberOfEmployees IN (50, 5000)", ids(1, 2)),
        ("AnnualRevenue > 1000000", ids(1)),
        ("AnnualRevenue = 1000000.50", ids(1)),  # a Decimal equals the literal
        ("AnnualRevenue = 20", ids(2)),
        ("Glengarry_Score__c = 0.1", ids(1)),
        ("Glengarry_Score__c > -1.5", ids(1, 2)),
        ("IsConverted = true", ids(2)),
        ("IsConverted = false", ids(1, 3)),  # a boolean is never null: null is false
        ("IsConverted = null", ids(1, 3)),
        ("IsConverted != null", ids(2)),
        ("ConvertedDate = 2024-02-29", ids(2)),
        ("ConvertedDate < 2024-03-01", ids(2)),
        ("ConvertedDate = null", ids(1, 3)),
        ("SystemModstamp > 2024-03-01T12:00:00Z", ids(2, 3)),
        ("SystemModstamp >= 2024-03-01T12:00:00.000Z", ids(1, 2, 3)),
        ("SystemModstamp = 2024-03-01T13:00:00+01:00", ids(1)),  # offsets are from UTC
        ("SystemModstamp < 2024-03-02T00:00:00-08:00", ids(1, 3)),
        ("SystemModstamp > 2024-03-02T08:29:59Z", ids(2)),  # stored as Salesforce writes it
        ("Id = '00Q000000000001'", ids(1)),  # a 15-character id names the same record
        ("Id IN ('00Q000000000002AAA', '00Q000000000003AAA')", ids(2, 3)),
        ("Id != '00Q000000000002AAA'", ids(1, 3)),
        ("ConvertedContactId = '003000000000001AAA'", ids(2)),
        ("ConvertedContactId = null", ids(1, 3)),
    ],
)
def test_comparison(condition: str, expected: list[str]) -> None:
    assert where(condition) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("LastName LIKE 'o%'", ids(1)),  # case-insensitive, % any run
        ("LastName LIKE '%\\%%'", ids(2)),  # \% is a percent sign
        ("LastName LIKE '50\\% Off\\_Co'", ids(2)),
        ("LastName LIKE '50% Off_Co'", ids(2)),  # _ is any one character
        ("LastName LIKE '_\\'brien'", ids(1)),
        ("LastName LIKE 'O'", []),
        ("LastName LIKE '%'", ids(1, 2, 3)),
        ("LastName LIKE 'line%break'", ids(3)),  # % spans a new line
        ("FirstName LIKE '%'", ids(1, 2)),  # a null never matches
        ("Status LIKE 'w%'", ids(2)),
    ],
)
def test_like(condition: str, expected: list[str]) -> None:
    assert where(condition) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("FirstName = 'Ada' AND IsConverted = false", ids(1)),
        ("FirstName = 'Ada' OR IsConverted = true", ids(1, 2)),
        ("FirstName = 'Ada' AND IsConverted = false AND NumberOfEmployees = 50", ids(1)),
        ("FirstName = 'x' OR FirstName = 'y' OR FirstName = 'bob'", ids(2)),
        ("NOT FirstName = 'Ada'", ids(2, 3)),
        ("NOT NumberOfEmployees > 60", ids(1, 3)),  # two-valued: NOT of false is true
        ("(FirstName = 'Ada' OR FirstName = 'bob') AND IsConverted = true", ids(2)),
        ("FirstName = 'Ada' OR (IsConverted = true AND NumberOfEmployees > 60)", ids(1, 2)),
        ("NumberOfEmployees > 0 AND (NOT Status = 'Open')", ids(2)),
        ("NOT (FirstName = 'Ada' OR FirstName = 'bob')", ids(3)),
        ("((FirstName = 'Ada'))", ids(1)),
    ],
)
def test_logic(condition: str, expected: list[str]) -> None:
    assert where(condition) == expected


def test_keywords_and_names_are_case_insensitive_and_answered_canonically() -> None:
    query = compile_query(
        "select ID, lastname, account.owner.NAME from CONTACT where LASTNAME = 'x' "
        "order by SYSTEMMODSTAMP desc nulls first limit 5",
        CATALOG,
    )
    assert query.sobject == "Contact"
    assert [field.name for field in query.fields] == ["Id", "LastName", "Account.Owner.Name"]
    assert [item.field.name for item in query.order_by] == ["SystemModstamp"]
    assert query.order_by[0].descending
    assert not query.order_by[0].nulls_last
    assert query.limit == 5


def test_relationship_fields_filter_through_parents_and_a_missing_parent_reads_null() -> None:
    owner = {"Id": "005000000000001AAA", "Name": "Rep One"}
    retail = {"Id": "001000000000001AAA", "Industry": "Retail", "Owner": owner}
    bank = {"Id": "001000000000002AAA", "Industry": "Banking", "NumberOfEmployees": 10}
    contacts = [
        {"Id": "003000000000001AAA", "Account": retail},
        {"Id": "003000000000002AAA", "Account": bank},
        {"Id": "003000000000003AAA", "Account": None},
    ]
    query = "SELECT Id, Account.Industry FROM Contact WHERE "
    assert select_ids(query + "Account.Industry = 'retail'", contacts) == [contacts[0]["Id"]]
    assert select_ids(query + "Account.Owner.Name LIKE 'rep%'", contacts) == [contacts[0]["Id"]]
    assert select_ids(query + "Account.Industry = null", contacts) == [contacts[2]["Id"]]
    assert select_ids(query + "Account.NumberOfEmployees > 5", contacts) == [contacts[1]["Id"]]
    assert select_ids(
        "SELECT Id FROM Contact WHERE Contact.Account.Industry != 'Retail'", contacts
    ) == [contacts[1]["Id"], contacts[2]["Id"]]


def test_paths_lists_what_the_query_reads() -> None:
    query = compile_query(
        "SELECT Id, Account.Industry FROM Contact WHERE Account.Owner.Name = 'x' "
        "ORDER BY LastName, Id",
        CATALOG,
    )
    assert query.paths == (
        ("Id",),
        ("Account", "Industry"),
        ("Account", "Owner", "Name"),
        ("LastName",),
    )
    assert not query.is_count


def test_count_selects_nothing_and_counts_up_to_the_limit() -> None:
    query = compile_query("SELECT COUNT() FROM Lead WHERE NumberOfEmployees != null", CATALOG)
    assert query.is_count
    assert query.fields == ()
    assert len(query.run(LEADS, get)) == 2
    capped = compile_query("select count() from Lead LIMIT 1", CATALOG)
    assert len(capped.run(LEADS, get)) == 1


def test_matches_reads_a_row_through_its_getter() -> None:
    query = compile_query("SELECT Id FROM Lead WHERE Email LIKE '%@example.com'", CATALOG)
    read: list[tuple[str, ...]] = []

    def row(path: tuple[str, ...]) -> object:
        read.append(path)
        return {"Email": "ada@example.com"}.get(path[0])

    assert query.matches(row)
    assert read == [("Email",)]
