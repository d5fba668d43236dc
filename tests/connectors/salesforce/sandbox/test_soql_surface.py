"""The SOQL package's public surface, which the sandbox builds on."""

from __future__ import annotations

import connectors.salesforce.sandbox.soql as soql
from connectors.salesforce.sandbox.soql import ErrorCode, SoqlError


def test_the_public_names_are_the_documented_ones() -> None:
    assert sorted(soql.__all__) == [
        "Catalog",
        "CompiledQuery",
        "ErrorCode",
        "FieldInfo",
        "FieldPath",
        "FieldType",
        "Relationship",
        "RowGetter",
        "SObjectSchema",
        "SelectedField",
        "SoqlError",
        "SortItem",
        "SortKey",
        "StaticCatalog",
        "compile_query",
    ]
    assert all(hasattr(soql, name) for name in soql.__all__)


def test_an_error_is_one_element_of_salesforces_error_array() -> None:
    error = SoqlError(ErrorCode.MALFORMED_QUERY, "unexpected token: 'GROUP'")
    assert error.to_json() == {
        "message": "unexpected token: 'GROUP'",
        "errorCode": "MALFORMED_QUERY",
    }
    assert str(error) == error.message
    assert isinstance(error, ValueError)


def test_field_types_are_describes_names() -> None:
    assert {kind.value for kind in soql.FieldType} == {
        "id",
        "string",
        "textarea",
        "picklist",
        "email",
        "phone",
        "url",
        "boolean",
        "int",
        "double",
        "currency",
        "percent",
        "date",
        "datetime",
        "reference",
    }
