"""Installing Glengarry in an org: the nine fields on Lead and Contact, the two permission sets,
and a describe check that the integration user can write every field.

Fields are made one by one through the Tooling API's `CustomField` ("CustomField", Tooling API
Developer Guide); permission sets, object and field permissions and the integration user's
assignment through the ordinary data API ("PermissionSet", "ObjectPermissions",
"FieldPermissions", "PermissionSetAssignment", Object Reference). Salesforce's rules shape
the order: a field permission needs the object permission of the same set, edit needs read,
and a new field is invisible to every user until a permission grants it.

Running it again changes nothing that is right already. A field that exists with another type
is reported as a conflict and left alone (no permission is granted on it either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from simple_salesforce.format import format_soql

from connectors.base import FieldState, FieldStatus
from connectors.errors import CrmRequestError
from connectors.salesforce import fields as glengarry
from connectors.salesforce import realtime
from connectors.salesforce.describe import Schema
from connectors.salesforce.fields import OBJECTS, PERMISSION_SETS, SPECS, FieldSpec
from connectors.salesforce.limits import errors_of_body
from connectors.salesforce.rest import SalesforceRest


@dataclass(frozen=True, slots=True)
class InstallReport:
    fields: list[FieldStatus]  # "Lead.Glengarry_Status__c", ...
    permission_sets: list[FieldStatus]  # "Glengarry_Integration", "Glengarry_Reps"
    todo: list[str] = field(default_factory=list)  # what the admin must still do by hand

    @property
    def ok(self) -> bool:
        return not any(f.state is FieldState.CONFLICT for f in self.fields)


def full_name(sobject: str, spec: FieldSpec) -> str:
    return f"{sobject}.{spec.api_name}"


def _code(exc: CrmRequestError) -> str:
    found = errors_of_body(exc.body)
    return found[0].code if found else ""


class Installer:
    def __init__(self, rest: SalesforceRest, schema: Schema, user_id: str) -> None:
        self.rest = rest
        self.schema = schema
        self.user_id = user_id

    async def install(self, statuses: Sequence[str]) -> InstallReport:
        report = await self._fields(statuses)
        usable = {f.name for f in report if f.state is not FieldState.CONFLICT}
        sets = await self._permission_sets(usable)
        self.schema.forget()  # the fields, and what the user may do with them, just changed
        checked = await self.verify(report)
        return InstallReport(checked, sets, todo(checked))

    # -- fields -----------------------------------------------------------------------------

    async def _fields(self, statuses: Sequence[str]) -> list[FieldStatus]:
        names = [spec.api_name.removesuffix("__c") for spec in SPECS]
        rows = await self.rest.tooling_records(
            format_soql(
                "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField "
                "WHERE DeveloperName IN {}",
                names,
            )
        )
        existing = {
            (str(r.get("TableEnumOrId")).lower(), str(r.get("DeveloperName")).lower()): str(r["Id"])
            for r in rows
        }
        report: list[FieldStatus] = []
        for sobject in OBJECTS:
            for spec in SPECS:
                name = full_name(sobject, spec)
                key = (sobject.lower(), spec.api_name.removesuffix("__c").lower())
                if key in existing:
                    report.append(await self._judge(name, spec, existing[key]))
                    continue
                try:
                    await self.rest.tooling_create(
                        "CustomField", glengarry.custom_field_body(sobject, spec, statuses)
                    )
                    report.append(FieldStatus(name, FieldState.CREATED))
                except CrmRequestError as exc:
                    if _code(exc) != "DUPLICATE_VALUE":
                        raise
                    report.append(FieldStatus(name, FieldState.KEPT, "created concurrently"))
        return report

    async def _judge(self, name: str, spec: FieldSpec, field_id: str) -> FieldStatus:
        found = await self.rest.tooling_read("CustomField", field_id)
        metadata = found.get("Metadata")
        kind = metadata.get("type") if isinstance(metadata, dict) else None
        if kind != spec.type:
            return FieldStatus(
                name,
                FieldState.CONFLICT,
                f"exists as {kind}, Glengarry needs {spec.type}: left untouched",
            )
        return FieldStatus(name, FieldState.KEPT)

    # -- permission sets --------------------------------------------------------------------

    async def _permission_sets(self, usable: set[str]) -> list[FieldStatus]:
        rows = await self.rest.records(
            format_soql(
                "SELECT Id, Name FROM PermissionSet WHERE Name IN {}",
                [s.name for s in PERMISSION_SETS],
            )
        )
        ids = {str(r["Name"]).lower(): str(r["Id"]) for r in rows}
        report: list[FieldStatus] = []
        for spec in PERMISSION_SETS:
            state, changes = FieldState.KEPT, []
            set_id = ids.get(spec.name.lower())
            if set_id is None:
                set_id = await self.rest.create(
                    "PermissionSet",
                    {"Name": spec.name, "Label": spec.label, "Description": spec.description},
                )
                state = FieldState.CREATED
            changes += await self._object_permissions(set_id)
            changes += await self._field_permissions(set_id, spec, usable)
            if spec.assign_to_integration_user and await self._assign(set_id):
                changes.append("assigned to the integration user")
            if state is FieldState.KEPT and changes:
                state = FieldState.CREATED  # something was added to it
            report.append(FieldStatus(spec.name, state, "; ".join(changes)))
        return report

    async def _object_permissions(self, set_id: str) -> list[str]:
        rows = await self.rest.records(
            format_soql(
                "SELECT Id, SobjectType, PermissionsRead, PermissionsEdit FROM ObjectPermissions "
                "WHERE ParentId = {}",
                set_id,
            )
        )
        held = {str(r["SobjectType"]).lower(): r for r in rows}
        done = []
        wanted = {"PermissionsRead": True, "PermissionsEdit": True}
        for sobject in OBJECTS:
            row = held.get(sobject.lower())
            if row is None:
                await self.rest.create(
                    "ObjectPermissions", {"ParentId": set_id, "SobjectType": sobject, **wanted}
                )
                done.append(f"read and edit on {sobject}")
            elif not all(row.get(k) for k in wanted):
                await self.rest.update("ObjectPermissions", str(row["Id"]), wanted)
                done.append(f"read and edit on {sobject}")
        return done

    async def _field_permissions(
        self, set_id: str, spec: glengarry.PermissionSetSpec, usable: set[str]
    ) -> list[str]:
        rows = await self.rest.records(
            format_soql(
                "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                "WHERE ParentId = {}",
                set_id,
            )
        )
        held = {str(r["Field"]).lower(): r for r in rows}
        granted = 0
        for sobject in OBJECTS:
            for field_spec in SPECS:
                name = full_name(sobject, field_spec)
                if name not in usable:
                    continue
                edit = field_spec.logical in spec.edit
                wanted = {"PermissionsRead": True, "PermissionsEdit": edit}
                row = held.get(name.lower())
                if row is None:
                    await self.rest.create(
                        "FieldPermissions",
                        {"ParentId": set_id, "SobjectType": sobject, "Field": name, **wanted},
                    )
                    granted += 1
                elif not row.get("PermissionsRead") or (edit and not row.get("PermissionsEdit")):
                    await self.rest.update("FieldPermissions", str(row["Id"]), wanted)
                    granted += 1
        return [f"{granted} field permissions granted"] if granted else []

    async def _assign(self, set_id: str) -> bool:
        rows = await self.rest.records(
            format_soql(
                "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {} "
                "AND PermissionSetId = {}",
                self.user_id,
                set_id,
            )
        )
        if rows:
            return False
        await self.rest.create(
            "PermissionSetAssignment", {"AssigneeId": self.user_id, "PermissionSetId": set_id}
        )
        return True

    # -- the check --------------------------------------------------------------------------

    async def verify(self, report: Sequence[FieldStatus] | None = None) -> list[FieldStatus]:
        """Can the integration user write every field? (describe: listed and updateable).
        Without a report (an install made by the admin): one entry per field."""
        known = {f.name: f for f in report or ()}
        checked: list[FieldStatus] = []
        for sobject in OBJECTS:
            described = await self.schema.fields(self.rest, sobject)
            for spec in SPECS:
                name = full_name(sobject, spec)
                before = known.get(name, FieldStatus(name, FieldState.KEPT))
                if before.state is FieldState.CONFLICT:
                    checked.append(before)
                    continue
                found = described.get(spec.api_name.lower())
                wanted = glengarry.DESCRIBE_TYPES[spec.type]
                if found is None:
                    problem = "not visible to the integration user (no read access)"
                elif found.type != wanted:
                    problem = f"exists as {found.type}, Glengarry needs {wanted}: left untouched"
                elif not found.updateable:
                    problem = "visible but not editable by the integration user"
                else:
                    checked.append(before)
                    continue
                checked.append(FieldStatus(name, FieldState.CONFLICT, problem))
        return checked


def todo(report: Sequence[FieldStatus]) -> list[str]:
    """What the admin must still do by hand, with the exact values."""
    steps = [f"fix {f.name}: {f.detail}" for f in report if f.state is FieldState.CONFLICT]
    labels = ", ".join(spec.api_name for spec in SPECS)
    steps += [
        f"assign the permission set {glengarry.REPS.name} ({glengarry.REPS.label}) to the "
        "users who should see the qualification (Setup > Permission Sets > Manage Assignments)",
        f"add the fields to the Lead and Contact page layouts and list views: {labels}",
        "map each Lead field onto the Contact field of the same name (Setup > Object Manager > "
        "Lead > Fields & Relationships > Map Lead Fields), so the override survives conversion: "
        + ", ".join(f"{s.api_name} -> {s.api_name}" for s in SPECS),
        "in an org that also runs HubSpot's Salesforce sync, exclude these fields from it: "
        + labels,
        "for real time, create an Outbound Message and a record-triggered Flow on each of "
        + ", ".join(realtime.OBJECTS)
        + " with the values under `realtime` (or deploy them: `glengarry salesforce package "
        "--out DIR --connection NAME`); Case needs Cases, SurveyResponse Feedback Management: "
        "without them, leave those two out (their records arrive with the scheduled sync)",
    ]
    return steps
