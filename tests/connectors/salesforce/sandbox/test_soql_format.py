"""What simple-salesforce's format_soql writes (the literals Glengarry sends) parses, and means
the value that was formatted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from connectors.salesforce.sandbox.soql import compile_query

from .soql_schema import CATALOG, get


def matches(text: str, record: dict[str, Any]) -> bool:
    return compile_query(text, CATALOG).matches(lambda path: get(record, path))


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1))
@settings(max_examples=200, deadline=None)
def test_any_formatted_string_means_itself(value: str) -> None:
    text = format_soql("SELECT Id FROM Lead WHERE LastName = {}", value)
    assert matches(text, {"LastName": value})
    assert not matches(text, {"LastName": value + "x"})


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1))
@settings(max_examples=200, deadline=None)
def test_a_formatted_like_fragment_matches_itself_literally(value: str) -> None:
    text = format_soql("SELECT Id FROM Lead WHERE LastName LIKE '{:like}%'", value)
    assert matches(text, {"LastName": value + " and more"})
    assert not matches(text, {"LastName": value[:-1]})
    # % and _ in the value are themselves, not wildcards.
    other = value.replace("%", "Q").replace("_", "Q")
    if other != value:
        assert not matches(text, {"LastName": other})


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 3, 1, 12, 30, 15, 999_999, tzinfo=UTC),
        datetime(2024, 3, 1, 12, 30, 15, tzinfo=timezone(timedelta(hours=-8))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_formatted_datetimes_compare_as_the_same_moment(moment: datetime) -> None:
    text = format_soql("SELECT Id FROM Lead WHERE SystemModstamp >= {}", moment)
    exact = moment.replace(microsecond=0)
    assert matches(text, {"SystemModstamp": exact})
    assert not matches(text, {"SystemModstamp": exact - timedelta(seconds=1)})


def test_formatted_values_of_every_kind_parse() -> None:
    formatted = format_soql(
        "SELECT Id, Account.Industry FROM Contact WHERE Id IN {ids} AND LastName != {name} "
        "AND Account.NumberOfEmployees > {n} AND SystemModstamp > {since} "
        "AND Account.Industry IN {industries} AND AccountId != {none} ORDER BY Id LIMIT 200",
        ids=["003000000000001AAA", "003000000000002AAA"],
        name='O\'Brien \\ "Jr"\n\t\b\f\r',
        n=50,
        since=datetime(2024, 1, 1, tzinfo=UTC),
        industries=("Retail", "Banking"),
        none=None,
    )
    query = compile_query(formatted, CATALOG)
    assert [field.name for field in query.fields] == ["Id", "Account.Industry"]
    record = {
        "Id": "003000000000002AAA",
        "LastName": "Smith",
        "AccountId": "001000000000001AAA",
        "SystemModstamp": datetime(2024, 1, 2, tzinfo=UTC),
        "Account": {"Industry": "banking", "NumberOfEmployees": 51},
    }
    assert query.matches(lambda path: get(record, path))


@pytest.mark.parametrize(
    ("value", "field", "stored"),
    [
        (True, "IsConverted", True),
        (False, "IsConverted", None),
        (None, "Email", None),
        (42, "NumberOfEmployees", 42),
        (-7, "NumberOfEmployees", -7),
        (1234.5, "AnnualRevenue", 1234.5),
        (0.000001, "Glengarry_Score__c", 0.000001),  # written as 1e-06
        (1e22, "Glengarry_Score__c", 1e22),  # written as 1e+22
        (date(2024, 2, 29), "ConvertedDate", date(2024, 2, 29)),
    ],
)
def test_formatted_scalars_match_their_value(value: object, field: str, stored: object) -> None:
    text = format_soql(f"SELECT Id FROM Lead WHERE {field} = {{}}", value)
    assert matches(text, {field: stored})
