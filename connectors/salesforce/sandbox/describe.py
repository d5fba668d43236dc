"""Describe: the global list of objects and one object's fields as the integration user sees
them ("Describe Global", "sObject Describe", REST API Developer Guide; "DescribeSObjectResult"
and "Field", SOAP API Developer Guide). A field the user may not read is left out, as
Salesforce leaves it out; `createable` and `updateable` say what the user may write."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.sandbox.catalog import DATA
from connectors.salesforce.sandbox.permissions import Access
from connectors.salesforce.sandbox.schema import FieldDef, ObjectDef
from connectors.salesforce.sandbox.soql import FieldType

T = FieldType
_SOAP_TYPES = {
    T.ID: "tns:ID",
    T.REFERENCE: "tns:ID",
    T.BOOLEAN: "xsd:boolean",
    T.INT: "xsd:int",
    T.DOUBLE: "xsd:double",
    T.CURRENCY: "xsd:double",
    T.PERCENT: "xsd:double",
    T.DATE: "xsd:date",
    T.DATETIME: "xsd:dateTime",
}


def _urls(obj: ObjectDef) -> dict[str, str]:
    base = f"{DATA}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def global_json(objects: list[ObjectDef]) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(obj) for obj in objects],
    }


def _summary(obj: ObjectDef) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "keyPrefix": obj.key_prefix,
        "custom": False,
        "createable": obj.createable,
        "updateable": obj.updateable,
        "deletable": obj.deletable,
        "queryable": True,
        "retrieveable": True,
        "replicateable": obj.replicateable,
        "searchable": True,
        "urls": _urls(obj),
    }


def field_json(obj: ObjectDef, definition: FieldDef, access: Access) -> dict[str, Any]:
    editable = access.editable(obj.name, definition)
    kind = definition.type
    return {
        "name": definition.name,
        "label": definition.label,
        "type": str(kind),
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "length": 18
        if kind in (T.ID, T.REFERENCE)
        else (0 if kind in _SOAP_TYPES else definition.length),
        "precision": definition.precision,
        "scale": definition.scale,
        "digits": definition.precision if kind is T.INT else 0,
        "nillable": definition.nillable,
        "createable": definition.createable and editable,
        "updateable": definition.updateable and editable,
        "defaultedOnCreate": definition.default is not None or definition.defaulted,
        "calculated": definition.name == "Name" and obj.name in ("Lead", "Contact", "User"),
        "custom": definition.custom,
        "filterable": definition.filterable,
        "sortable": definition.sortable,
        "groupable": definition.filterable and kind is not T.DATETIME,
        "unique": False,
        "externalId": False,
        "idLookup": definition.name == "Id",
        "extraTypeInfo": "plaintextarea" if kind is T.TEXTAREA else None,
        "inlineHelpText": None,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == definition.default,
                "label": value,
                "value": value,
                "validFor": None,
            }
            for value in definition.picklist
        ],
        "restrictedPicklist": definition.restricted,
        "referenceTo": list(definition.reference_to),
        "relationshipName": definition.relationship_name,
    }


def describe_json(obj: ObjectDef, access: Access) -> dict[str, Any]:
    fields = [
        field_json(obj, definition, access)
        for definition in obj.fields.values()
        if access.readable(obj.name, definition)
    ]
    return {**_summary(obj), "fields": fields, "childRelationships": [], "recordTypeInfos": []}
