"""A small org for the SOQL tests: Lead, Contact -> Account -> Owner (User), every field type,
a field the user may not read and a long text area (neither filterable nor sortable)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.salesforce.sandbox.soql import (
    FieldInfo,
    FieldType,
    SObjectSchema,
    StaticCatalog,
    compile_query,
)

Record = Mapping[str, Any]

INDUSTRIES = ("Agriculture", "Banking", "Retail", "Technology")

CATALOG = StaticCatalog(
    [
        SObjectSchema(
            "Lead",
            (
                FieldInfo("Id", FieldType.ID),
                FieldInfo("FirstName", FieldType.STRING),
                FieldInfo("LastName", FieldType.STRING),
                FieldInfo("Email", FieldType.EMAIL),
                FieldInfo("Phone", FieldType.PHONE),
                FieldInfo("Website", FieldType.URL),
                FieldInfo("Status", FieldType.PICKLIST),
                FieldInfo("Description", FieldType.TEXTAREA),
                FieldInfo("IsConverted", FieldType.BOOLEAN),
                FieldInfo("NumberOfEmployees", FieldType.INT),
                FieldInfo("AnnualRevenue", FieldType.CURRENCY),
                FieldInfo("Glengarry_Score__c", FieldType.DOUBLE),
                FieldInfo("Probability__c", FieldType.PERCENT),
                FieldInfo("ConvertedDate", FieldType.DATE),
                FieldInfo("SystemModstamp", FieldType.DATETIME),
                FieldInfo("ConvertedContactId", FieldType.REFERENCE),
                FieldInfo("Glengarry_Status__c", FieldType.PICKLIST, readable=False),
                FieldInfo(
                    "Glengarry_Reasons__c", FieldType.TEXTAREA, filterable=False, sortable=False
                ),
            ),
        ),
        SObjectSchema(
            "Contact",
            (
                FieldInfo("Id", FieldType.ID),
                FieldInfo("LastName", FieldType.STRING),
                FieldInfo("AccountId", FieldType.REFERENCE),
                FieldInfo("SystemModstamp", FieldType.DATETIME),
            ),
            {"Account": "Account"},
        ),
        SObjectSchema(
            "Account",
            (
                FieldInfo("Id", FieldType.ID),
                FieldInfo("Name", FieldType.STRING),
                FieldInfo("Industry", FieldType.PICKLIST, picklist_values=INDUSTRIES),
                FieldInfo("NumberOfEmployees", FieldType.INT),
                FieldInfo("OwnerId", FieldType.REFERENCE),
            ),
            {"Owner": "User"},
        ),
        SObjectSchema(
            "User",
            (FieldInfo("Id", FieldType.ID), FieldInfo("Name", FieldType.STRING)),
        ),
    ]
)


def get(record: Record, path: tuple[str, ...]) -> Any:
    """A record's value at a path of canonical names; parents are nested records."""
    value: Any = record
    for segment in path:
        if value is None:
            return None
        value = value.get(segment)
    return value


def select_ids(text: str, records: Iterable[Record]) -> list[str]:
    """The ids of the records a query returns, in its order."""
    query = compile_query(text, CATALOG)
    return [record["Id"] for record in query.run(records, get)]
