"""What Salesforce refuses, and how it says so: MALFORMED_QUERY for everything outside the
subset, INVALID_FIELD for unknown and unreadable fields, INVALID_TYPE for unknown objects."""

from __future__ import annotations

import pytest

from connectors.salesforce.sandbox.soql import ErrorCode, SoqlError, compile_query

from .soql_schema import CATALOG

ID = "00Q000000000001AAA"
CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)


def refusal(text: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        compile_query(text, CATALOG)
    return caught.value


UNSUPPORTED = [
    "SELECT Status FROM Lead GROUP BY Status",
    "SELECT Status, COUNT(Id) FROM Lead GROUP BY Status HAVING COUNT(Id) > 1",
    "SELECT Id FROM Lead LIMIT 10 OFFSET 5",
    "SELECT Id FROM Lead OFFSET 5",
    "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
    "SELECT Id FROM Lead WHERE ConvertedContactId IN (SELECT Id FROM Contact)",
    "SELECT Id FROM Lead WHERE ConvertedContactId NOT IN (SELECT Id FROM Contact)",
    "SELECT TYPEOF Owner WHEN User THEN Name END FROM Account",
    "SELECT Id FROM Lead FOR UPDATE",
    "SELECT Id FROM Lead FOR VIEW",
    "SELECT Id FROM Lead UPDATE TRACKING",
    "SELECT Id FROM Lead WITH SECURITY_ENFORCED",
    "SELECT Id FROM Lead USING SCOPE mine",
    "SELECT Id FROM Lead ALL ROWS",
    "SELECT FIELDS(ALL) FROM Lead LIMIT 200",
    "SELECT COUNT(Id) FROM Lead",
    "SELECT MAX(NumberOfEmployees) FROM Lead",
    "SELECT toLabel(Status) FROM Lead",
    "SELECT Id FROM Lead WHERE CALENDAR_YEAR(ConvertedDate) = 2024",
    "SELECT Id FROM Lead WHERE ConvertedDate = TODAY",
    "SELECT Id FROM Lead WHERE SystemModstamp > LAST_N_DAYS:7",
    "SELECT Id FROM Lead WHERE Status INCLUDES ('Open')",
    "SELECT Id FROM Lead WHERE Id = :leadId",
    "SELECT Id FROM Lead WHERE AnnualRevenue > USD5000",
    "SELECT Id, COUNT() FROM Lead",
    "SELECT COUNT(), Id FROM Lead",
    "SELECT COUNT() FROM Lead ORDER BY Id",
    "SELECT l.Id FROM Lead l",
    "SELECT Id FROM Contact, Contact.Account",
    "SELECT Id FROM Lead WHERE Id = 'x' garbage",
    "SELECT Id FROM Lead;",
    "SELECT Id FROM Lead WHERE (LastName = 'x'",
    "SELECT Id FROM Lead WHERE LastName = 'x')",
    "SELECT Id FROM Lead WHERE LastName = 'x' AND IsConverted = true OR Status = 'Open'",
    "SELECT Id FROM Lead WHERE LastName = 'x' AND NOT IsConverted = true",
    "SELECT Id FROM Lead WHERE NOT LastName = 'x' AND IsConverted = true",
    "SELECT Id FROM Lead WHERE LastName NOT LIKE 'x%'",
    "SELECT Id FROM Lead WHERE LastName <> 'x'",
    "SELECT Id FROM Lead WHERE LastName == 'x'",
    'SELECT Id FROM Lead WHERE LastName = "x"',
    "SELECT Id FROM Lead WHERE LastName = 'x",
    "SELECT Id FROM Lead WHERE LastName = 'a\\qb'",
    "SELECT Id FROM Lead WHERE LastName = 'a\\%b'",  # \% only means something in LIKE
    "SELECT Id FROM Lead WHERE Status IN ()",
    "SELECT Id FROM Lead WHERE Status IN 'Open'",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01T00:00:00",  # no zone
    "SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01T00:00:00Z' + 1",
    "SELECT Id FROM Lead WHERE ConvertedDate = 2024-02-30",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01T25:00:00Z",
    "SELECT Id FROM Lead WHERE NumberOfEmployees > inf",
    "SELECT Id FROM Lead LIMIT -1",
    "SELECT Id FROM Lead LIMIT 2.5",
    "SELECT Id FROM Lead LIMIT 2147483648",
    "SELECT Id FROM Lead ORDER BY",
    "SELECT Id FROM Lead ORDER BY Id NULLS",
    "SELECT Id FROM Lead ORDER Id",
    "SELECT Id FROM Lead WHERE",
    "SELECT Id, FROM Lead",
    "SELECT FROM Lead",
    "SELECT * FROM Lead",
    "SELECT Id Lead",
    "Id FROM Lead",
    "",
    "SELECT Id FROM Lead WHERE Account..Name = 'x'",
    "SELECT Id FROM Lead WHERE LastName = 'x' LIMIT 1 LIMIT 2",
    "SELECT Id FROM Lead LIMIT 1 WHERE LastName = 'x'",
    "SELECT Id FROM Lead ORDER BY Id LIMIT 1 ORDER BY Id",
]


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_anything_outside_the_subset_is_a_malformed_query(text: str) -> None:
    assert refusal(text).error_code is ErrorCode.MALFORMED_QUERY


def test_the_list_of_unsupported_constructs_is_long_enough() -> None:
    assert len(UNSUPPORTED) >= 20


def test_an_unknown_field_is_reported_as_salesforce_words_it() -> None:
    error = refusal("SELECT Foo FROM Lead")
    assert error.error_code is ErrorCode.INVALID_FIELD
    assert error.message == (
        "\nSELECT Foo FROM Lead\n       ^\nERROR at Row:1:Column:8\n"
        f"No such column 'Foo' on entity 'Lead'. {CUSTOM_FIELD_HINT}"
    )
    assert error.to_json() == {"message": error.message, "errorCode": "INVALID_FIELD"}


def test_a_field_the_user_cannot_read_is_reported_exactly_as_a_missing_one() -> None:
    hidden = refusal("SELECT Id, Glengarry_Status__c FROM Lead")
    missing = refusal("SELECT Id, Glengarry_Statux__c FROM Lead")
    assert hidden.error_code is missing.error_code is ErrorCode.INVALID_FIELD
    assert hidden.message == missing.message.replace("Statux", "Status")
    for place in ("WHERE Glengarry_Status__c = 'x'", "ORDER BY Glengarry_Status__c"):
        assert refusal(f"SELECT Id FROM Lead {place}").error_code is ErrorCode.INVALID_FIELD


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("SELECT Id FROM Lead WHERE Foo = 1", "No such column 'Foo' on entity 'Lead'."),
        (
            "SELECT Account.Foo FROM Contact",
            "No such column 'Foo' on entity 'Account'.",
        ),
        (
            "SELECT Account.Owner.Foo FROM Contact",
            "No such column 'Foo' on entity 'User'.",
        ),
        (
            "SELECT Id FROM Contact ORDER BY Acount.Name",
            "Didn't understand relationship 'Acount' in field path.",
        ),
        ("SELECT Account FROM Contact", "No such column 'Account' on entity 'Contact'."),
        ("SELECT AccountId.Name FROM Contact", "Didn't understand relationship 'AccountId'"),
        ("SELECT Id, LastName, lastname FROM Lead", "duplicate field selected: LastName"),
        (
            "SELECT Id FROM Lead WHERE Glengarry_Reasons__c = 'x'",
            "field 'Glengarry_Reasons__c' can not be filtered in a query call",
        ),
        (
            "SELECT Id FROM Lead ORDER BY Glengarry_Reasons__c",
            "field 'Glengarry_Reasons__c' can not be sorted in a query call",
        ),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01",
            "value of filter criterion for field 'SystemModstamp' must be of type dateTime "
            "and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE ConvertedDate > 2024-01-01T00:00:00Z",
            "value of filter criterion for field 'ConvertedDate' must be of type date "
            "and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE LastName = 3999",
            "value of filter criterion for field 'LastName' must be of type string "
            "and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE NumberOfEmployees = '5'",
            "must be of type integer and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE NumberOfEmployees = 5.5",
            "must be of type integer and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE AnnualRevenue = true",
            "must be of type double and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE IsConverted = 'true'",
            "must be of type boolean and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE Status IN ('Open', 5)",
            "field 'Status' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE NumberOfEmployees IN (5, '6')",
            "field 'NumberOfEmployees' must be of type integer",
        ),
        (
            "SELECT Id FROM Lead WHERE LastName LIKE null",
            "field 'LastName' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Lead WHERE NumberOfEmployees LIKE '5%'",
            "invalid operator on integer field",
        ),
        ("SELECT Id FROM Lead WHERE Id LIKE '00Q%'", "invalid operator on id field"),
        ("SELECT Id FROM Lead WHERE IsConverted > false", "invalid operator on boolean field"),
        ("SELECT Id FROM Lead WHERE Id = 'abc'", "invalid ID field: abc"),
        ("SELECT Id FROM Lead WHERE ConvertedContactId IN (null, '')", "invalid ID field: "),
        ("SELECT Id FROM Nope__c", "sObject type 'Nope__c' is not supported."),
    ],
)
def test_schema_and_type_errors(text: str, detail: str) -> None:
    assert detail in refusal(text).message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT Id FROM Lead WHERE Foo = 1", ErrorCode.INVALID_FIELD),
        ("SELECT Id FROM Nope__c", ErrorCode.INVALID_TYPE),
        ("SELECT Id FROM Lead WHERE Id = 'abc'", ErrorCode.INVALID_QUERY_FILTER_OPERATOR),
        ("SELECT Id FROM Lead WHERE Id LIKE '00Q%'", ErrorCode.INVALID_QUERY_FILTER_OPERATOR),
        ("SELECT Id FROM Lead WHERE LastName = 1", ErrorCode.INVALID_FIELD),
        ("SELECT Id, Id FROM Lead", ErrorCode.INVALID_FIELD),
    ],
)
def test_error_codes(text: str, code: ErrorCode) -> None:
    assert refusal(text).error_code is code


def test_the_object_is_checked_before_the_fields_and_syntax_before_both() -> None:
    assert refusal("SELECT Foo FROM Nope").error_code is ErrorCode.INVALID_TYPE
    assert refusal("SELECT Foo FROM Nope GROUP BY Foo").error_code is ErrorCode.MALFORMED_QUERY


def test_messages_place_the_problem_by_row_and_column_with_the_tokens_around_it() -> None:
    error = refusal("SELECT Id, LastName\nFROM Lead\nWHERE LastName = 'x' AND Foo__c = 1")
    assert error.message == (
        "\nLastName = 'x' AND Foo__c = 1\n"
        "                   ^\n"
        "ERROR at Row:3:Column:26\n"
        f"No such column 'Foo__c' on entity 'Lead'. {CUSTOM_FIELD_HINT}"
    )
    long = refusal("SELECT Id, FirstName, LastName, Email, Nope, Phone, Status, Website FROM Lead")
    assert long.message.startswith(
        "\nLastName, Email, Nope, Phone, Status\n                 ^\nERROR at Row:1:Column:40\n"
    )


def test_an_unexpected_end_points_past_the_last_character() -> None:
    error = refusal("SELECT Id FROM Lead WHERE")
    assert error.message.endswith("\nERROR at Row:1:Column:26\nunexpected token: '<EOF>'")


def test_unsupported_constructs_are_named_in_the_message() -> None:
    assert "GROUP BY" in refusal("SELECT Status FROM Lead GROUP BY Status").message
    assert "OFFSET" in refusal("SELECT Id FROM Lead LIMIT 1 OFFSET 1").message
    assert "semi-join" in refusal("SELECT Id FROM Lead WHERE Id IN (SELECT Id FROM Lead)").message
    assert "date literals" in refusal("SELECT Id FROM Lead WHERE ConvertedDate = TODAY").message
    assert (
        "unexpected token: 'OR'"
        in refusal(
            "SELECT Id FROM Lead WHERE LastName = 'a' AND LastName = 'b' OR LastName = 'c'"
        ).message
    )
    short = ID[:5]
    error = refusal(f"SELECT Id FROM Lead WHERE Id = '{short}'")
    assert f"invalid ID field: {short}" in error.message


def test_group_is_an_object_name_too() -> None:
    # `Group` is a keyword and a standard object: FROM Group is valid SOQL.
    assert refusal("SELECT Name FROM Group").error_code is ErrorCode.INVALID_TYPE
