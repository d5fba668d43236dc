"""An SFDX source package of Glengarry's fields and permission sets, for an admin to review and
deploy (`sf project deploy start`, or a change set), in orgs that never give an integration
Customize Application. The same fields (fields.py) the Tooling API install makes.

    DIR/sfdx-project.json
    DIR/manifest/package.xml
    DIR/force-app/main/default/objects/{Lead,Contact}/fields/Glengarry_*__c.field-meta.xml
    DIR/force-app/main/default/permissionsets/Glengarry_{Integration,Reps}.permissionset-meta.xml
    DIR/force-app/main/default/workflows/{Lead,Contact,Case,...}.workflow-meta.xml  (with a
    DIR/force-app/main/default/flows/Glengarry_*_Changed.flow-meta.xml              connection)
    DIR/optional/LeadConvertSettings/LeadConvertSettings.LeadConvertSetting-meta.xml
    DIR/README.md

The Lead-to-Contact conversion mapping is left out of force-app: deploying LeadConvertSettings
replaces the org's whole mapping, so it is written beside, to merge with the org's own
("Metadata API Developer Guide": CustomField, PermissionSet, LeadConvertSettings; "Salesforce
DX Developer Guide": Salesforce DX project structure and source format).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # writes XML, never parses any  # nosec B405
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connectors.salesforce import realtime as realtime_setup
from connectors.salesforce.fields import (
    OBJECTS,
    PERMISSION_SETS,
    SPECS,
    FieldSpec,
    PermissionSetSpec,
    metadata,
)
from connectors.salesforce.rest import API_VERSION

NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
SOURCE = Path("force-app/main/default")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _order(keys: Any) -> list[str]:
    """As retrieved metadata has them: fullName first, then alphabetically."""
    return sorted(keys, key=lambda key: (key != "fullName", key))


def _append(parent: ET.Element, name: str, value: Any) -> None:
    """`value` as XML under `parent`: mappings become elements, lists repeat the element."""
    if isinstance(value, Mapping):
        child = ET.SubElement(parent, name)
        for key in _order(value):
            _append(child, key, value[key])
    elif isinstance(value, list):
        for item in value:
            _append(parent, name, item)
    else:
        ET.SubElement(parent, name).text = _text(value)


def _document(root: str, body: Mapping[str, Any]) -> bytes:
    element = ET.Element(root, xmlns=NAMESPACE)
    for key in _order(body):
        _append(element, key, body[key])
    ET.indent(element, space="    ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element) + b"\n"


def field_xml(spec: FieldSpec, statuses: Sequence[str]) -> bytes:
    body = dict(metadata(spec, statuses))
    value_set = body.get("valueSet")
    if isinstance(value_set, dict):  # the picklist values, in their order, as retrieved
        definition = value_set["valueSetDefinition"]
        body["valueSet"] = {
            "restricted": value_set["restricted"],
            "valueSetDefinition": {"sorted": definition["sorted"], "value": definition["value"]},
        }
    return _document("CustomField", {"fullName": spec.api_name, "required": False, **body})


def permission_set_xml(spec: PermissionSetSpec) -> bytes:
    fields = [
        {
            "editable": field.logical in spec.edit,
            "field": f"{sobject}.{field.api_name}",
            "readable": True,
        }
        for sobject in OBJECTS
        for field in SPECS
    ]
    objects = [
        {
            "allowCreate": False,
            "allowDelete": False,
            "allowEdit": True,  # field edit needs the object's
            "allowRead": True,
            "modifyAllRecords": False,
            "object": sobject,
            "viewAllRecords": False,
        }
        for sobject in OBJECTS
    ]
    return _document(
        "PermissionSet",
        {
            "description": spec.description,
            "fieldPermissions": fields,
            "hasActivationRequired": False,
            "label": spec.label,
            "objectPermissions": objects,
        },
    )


def lead_convert_xml() -> bytes:
    mapping = {
        "inputObject": "Lead",
        "mappingFields": [
            {"inputField": spec.api_name, "outputField": spec.api_name} for spec in SPECS
        ],
        "outputObject": "Contact",
    }
    return _document("LeadConvertSettings", {"allowOwnerChange": True, "objectMapping": mapping})


def manifest_xml(*, realtime: bool = False) -> bytes:
    members = {
        "CustomField": [f"{sobject}.{spec.api_name}" for sobject in OBJECTS for spec in SPECS],
        "PermissionSet": [spec.name for spec in PERMISSION_SETS],
    }
    if realtime:
        members["WorkflowOutboundMessage"] = [
            f"{sobject}.{realtime_setup.message_name(sobject)}"
            for sobject in realtime_setup.OBJECTS
        ]
        members["Flow"] = [realtime_setup.flow_name(sobject) for sobject in realtime_setup.OBJECTS]
    element = ET.Element("Package", xmlns=NAMESPACE)
    for kind, names in members.items():
        types = ET.SubElement(element, "types")
        for name in names:
            ET.SubElement(types, "members").text = name
        ET.SubElement(types, "name").text = kind
    ET.SubElement(element, "version").text = API_VERSION
    ET.indent(element, space="    ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element) + b"\n"


_README = """# Glengarry for Salesforce: the package to deploy

The nine fields Glengarry writes, on Lead and Contact, and two permission sets:
`Glengarry_Integration` (read and edit on all nine: assign it to the integration user) and
`Glengarry_Reps` (read on all nine, edit on the override only: assign it to the reps).

    sf project deploy start --manifest manifest/package.xml --target-org YOUR_ORG

Then, by hand:
- assign the permission sets (Setup > Permission Sets > Manage Assignments);
- add the fields to the Lead and Contact page layouts and list views;
- map each Lead field onto the Contact field of the same name, so that a rep's override
  survives conversion: Setup > Object Manager > Lead > Fields & Relationships >
  Map Lead Fields, or merge `optional/LeadConvertSettings/` into your org's
  LeadConvertSettings (deploying that file as it is replaces the org's whole mapping);
- in an org that also runs HubSpot's Salesforce sync, exclude the nine fields from it.

Glengarry then only checks (describe) that the integration user can write every field.

Written with the connection's Outbound Message URL (`glengarry salesforce package --out DIR
--connection NAME`), the package also holds the Outbound Messages on Lead, Contact, Case,
Opportunity, OpportunityContactRole and SurveyResponse and the record-triggered Flows that call
them, skipping the integration user's own changes: a Case, a deal won or lost, a contact role
or a completed survey rescores the people it names at once. In an org without Cases or without
Feedback Management, drop that object's two files (and its lines in the manifest) before
deploying; its records then reach Glengarry with the scheduled sync.
"""


def write_package(
    out: Path,
    statuses: Sequence[str],
    *,
    endpoint_url: str | None = None,
    username: str | None = None,
) -> list[Path]:
    """Write the package under `out` (made if need be; files of the same names replaced);
    the paths written, relative to `out`. With the connection's Outbound Message URL
    (`endpoint_url`, which `connect` prints), the Outbound Messages and the Flows that call
    them are in it too."""
    files: dict[Path, bytes] = {
        Path("sfdx-project.json"): (
            json.dumps(
                {
                    "name": "glengarry",
                    "namespace": "",
                    "packageDirectories": [{"default": True, "path": "force-app"}],
                    "sourceApiVersion": API_VERSION,
                },
                indent=2,
            )
            + "\n"
        ).encode(),
        Path("manifest/package.xml"): manifest_xml(realtime=endpoint_url is not None),
        Path("README.md"): _README.encode(),
        Path("optional/LeadConvertSettings/LeadConvertSettings.LeadConvertSetting-meta.xml"): (
            lead_convert_xml()
        ),
    }
    for sobject in OBJECTS:
        for spec in SPECS:
            path = SOURCE / "objects" / sobject / "fields" / f"{spec.api_name}.field-meta.xml"
            files[path] = field_xml(spec, statuses)
    for permission_set in PERMISSION_SETS:
        path = SOURCE / "permissionsets" / f"{permission_set.name}.permissionset-meta.xml"
        files[path] = permission_set_xml(permission_set)
    if endpoint_url is not None:
        for sobject in realtime_setup.OBJECTS:
            workflow = SOURCE / "workflows" / f"{sobject}.workflow-meta.xml"
            files[workflow] = realtime_setup.workflow_xml(sobject, endpoint_url, username)
            flow = SOURCE / "flows" / f"{realtime_setup.flow_name(sobject)}.flow-meta.xml"
            files[flow] = realtime_setup.flow_xml(sobject, username)
    for relative, content in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return sorted(files)
