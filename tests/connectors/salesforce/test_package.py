"""The SFDX source package: every field on both objects with the metadata the Tooling API
install uses, both permission sets with the grants the install makes, a manifest naming them,
and the Lead-to-Contact mapping kept out of the deployable source."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from connectors.salesforce.fields import API_NAMES, SPECS, metadata
from connectors.salesforce.package import NAMESPACE, write_package
from qualification.statuses import OVERRIDE_PROPERTY, Status

STATUSES = [s.value for s in Status]
NS = {"m": NAMESPACE}


def _tree(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _plain(element: ET.Element) -> Any:
    """An element back as data (repeated children as lists; "true"/"false" and digits typed)."""
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if text in ("true", "false"):
            return text == "true"
        return int(text) if text.isdigit() else text
    body: dict[str, Any] = {}
    for child in children:
        name = child.tag.split("}")[1]
        value = _plain(child)
        if name in body:
            body[name] = (
                [*body[name], value] if isinstance(body[name], list) else [body[name], value]
            )
        else:
            body[name] = value
    return body


def test_the_package_holds_the_fields_the_install_makes(tmp_path: Path) -> None:
    written = write_package(tmp_path / "pkg", STATUSES)
    root = tmp_path / "pkg"
    assert all((root / path).is_file() for path in written)
    for sobject in ("Lead", "Contact"):
        for spec in SPECS:
            path = (
                root
                / f"force-app/main/default/objects/{sobject}/fields/{spec.api_name}.field-meta.xml"
            )
            field = _plain(_tree(path))
            assert field.pop("fullName") == spec.api_name
            assert field.pop("required") is False
            expected = metadata(spec, STATUSES)
            if spec.type == "Picklist":
                values = field["valueSet"]["valueSetDefinition"]["value"]
                assert [v["fullName"] for v in values] == STATUSES
                assert field["valueSet"]["restricted"] is True
                field.pop("valueSet")
                expected.pop("valueSet")
            assert field == expected


def test_the_permission_sets_grant_what_the_install_grants(tmp_path: Path) -> None:
    write_package(tmp_path, STATUSES)
    folder = tmp_path / "force-app/main/default/permissionsets"
    integration = _plain(_tree(folder / "Glengarry_Integration.permissionset-meta.xml"))
    reps = _plain(_tree(folder / "Glengarry_Reps.permissionset-meta.xml"))
    every = {f"{o}.{n}" for o in ("Lead", "Contact") for n in API_NAMES.values()}
    for body in (integration, reps):
        assert {p["field"] for p in body["fieldPermissions"]} == every
        assert all(p["readable"] for p in body["fieldPermissions"])
        objects = {p["object"]: (p["allowRead"], p["allowEdit"]) for p in body["objectPermissions"]}
        assert objects == {"Lead": (True, True), "Contact": (True, True)}
    assert all(p["editable"] for p in integration["fieldPermissions"])
    override = API_NAMES[OVERRIDE_PROPERTY]
    assert {p["field"] for p in reps["fieldPermissions"] if p["editable"]} == {
        f"Lead.{override}",
        f"Contact.{override}",
    }


def test_the_manifest_and_project_name_everything_deployable(tmp_path: Path) -> None:
    write_package(tmp_path, STATUSES)
    manifest = _tree(tmp_path / "manifest/package.xml")
    members = {
        t.findtext("m:name", namespaces=NS): [m.text for m in t.findall("m:members", NS)]
        for t in manifest.findall("m:types", NS)
    }
    assert len(members["CustomField"]) == 18
    assert sorted(members["PermissionSet"]) == ["Glengarry_Integration", "Glengarry_Reps"]
    assert manifest.findtext("m:version", namespaces=NS) == "62.0"
    project = json.loads((tmp_path / "sfdx-project.json").read_text())
    assert project["packageDirectories"] == [{"default": True, "path": "force-app"}]
    # The conversion mapping would replace the org's own: it is beside the source, not in it.
    assert not list((tmp_path / "force-app").rglob("*LeadConvert*"))
    mapping = _plain(_tree(next((tmp_path / "optional").rglob("*.LeadConvertSetting-meta.xml"))))
    pairs = {(m["inputField"], m["outputField"]) for m in mapping["objectMapping"]["mappingFields"]}
    assert pairs == {(n, n) for n in API_NAMES.values()}
    assert "Map Lead Fields" in (tmp_path / "README.md").read_text()


def test_writing_again_gives_the_same_files(tmp_path: Path) -> None:
    first = write_package(tmp_path, STATUSES)
    contents = {p: (tmp_path / p).read_bytes() for p in first}
    assert write_package(tmp_path, STATUSES) == first
    assert {p: (tmp_path / p).read_bytes() for p in first} == contents
