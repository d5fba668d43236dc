"""The set-up that sends Glengarry Lead and Contact changes as they happen, and the changes of
the records that say what became of them (Cases, Opportunities and their contact roles, survey
responses): an Outbound Message on each object (Workflow metadata: its endpoint URL, the
fields it carries) called by a record-triggered Flow ("A record is created or updated") whose
condition leaves out the integration user's own changes, so Glengarry's write-backs do not
come back.

`connect salesforce` and `connections show` print these values for an admin to click through;
the SFDX package (`package.py`) writes them as metadata to deploy."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # writes XML, never parses any  # nosec B405
from collections.abc import Mapping
from typing import Any

from connectors.salesforce.fields import API_NAMES, OVERRIDE
from connectors.salesforce.mapping import SOURCES
from connectors.salesforce.marketing import TOUCHES
from connectors.salesforce.marketing import fields as marketing_fields
from connectors.salesforce.rest import API_VERSION

PEOPLE = ("Lead", "Contact")
# What else changes a person's qualification or outcomes without changing the person: a Case
# (a ticket), an Opportunity won or lost, a contact role added to one, a survey completed.
RELATED = ("Case", "Opportunity", "OpportunityContactRole", "SurveyResponse")
OBJECTS = (*PEOPLE, *RELATED)
# The dates let the worker order the changes and tell a creation from an update; for any other
# record it re-reads the record, so `Id` is all it needs. A message without the dates still
# works (counted as sparse in `glengarry_webhook_events_sparse_total`). The field naming the
# person (or what leads to them) is carried too, for an admin reading the delivery log.
CARRIED = ("Id", "CreatedDate", "LastModifiedDate")
# A Lead's message carries every Lead field a read maps onto the engine's properties
# (mapping.SOURCES: who the person is, the opt-out and bounces, the rep's override; not the
# fields Glengarry writes itself) and the marketing touches, so that the worker stores those
# values instead of reading the Lead (carried.py). `IsDeleted`, a checkbox (always sent) that
# no older set-up had, says that a message was set up so: a field it leaves out is empty.
# A Contact's company, industry, size and lifecycle come from its Account, which its message
# cannot carry: Contacts are read, and their message stays the dates alone.
MARKER = "IsDeleted"
_WRITTEN = frozenset(api for name, api in API_NAMES.items() if name != OVERRIDE)
LEAD_FIELDS = (
    *CARRIED,
    *sorted(
        {MARKER, "IsConverted", *marketing_fields(TOUCHES)}
        | {path for source in SOURCES.values() for path in source.lead if path not in _WRITTEN}
        - set(CARRIED)
    ),
)
FIELDS: Mapping[str, tuple[str, ...]] = {
    "Lead": LEAD_FIELDS,
    "Contact": CARRIED,
    "Case": (*CARRIED, "ContactId"),
    "Opportunity": CARRIED,
    "OpportunityContactRole": (*CARRIED, "ContactId", "OpportunityId"),
    "SurveyResponse": (*CARRIED, "InvitationId"),
}
# What each message is for, and where the org may not have the object.
PURPOSE: Mapping[str, str] = {
    "Lead": "the person changed",
    "Contact": "the person changed",
    "Case": "a ticket opened, escalated or closed (where the org has Cases)",
    "Opportunity": "a deal created, won or lost",
    "OpportunityContactRole": "a Contact added to a deal",
    "SurveyResponse": "a survey answered (where Feedback Management is licensed)",
}
DATED = ("LastModifiedDate", "SystemModstamp")
METADATA = "http://soap.sforce.com/2006/04/metadata"


def message_name(sobject: str) -> str:
    return f"Glengarry_{sobject}"


def flow_name(sobject: str) -> str:
    return f"Glengarry_{sobject}_Changed"


def condition(username: str | None) -> str:
    """The Flow's entry formula: changes by anyone but the integration user."""
    who = username or "INTEGRATION_USER_USERNAME"
    return f"{{!$Record.LastModifiedBy.Username}} <> '{who}'"


def setup(endpoint_url: str, username: str | None) -> dict[str, Any]:
    """What the admin creates, with the exact values (Setup > Outbound Messages, then Flows)."""
    return {
        "endpoint_url": endpoint_url,
        "outbound_messages": [
            {
                "object": sobject,
                "name": message_name(sobject),
                "endpoint_url": endpoint_url,
                "fields": list(FIELDS[sobject]),
                "send_session_id": False,
                "user_to_send_as": username or "the integration user",
                "for": PURPOSE[sobject],
            }
            for sobject in OBJECTS
        ],
        "flows": [
            {
                "name": flow_name(sobject),
                "object": sobject,
                "trigger": "A record is created or updated",
                "optimize_for": "Actions and Related Records",
                "entry_condition": condition(username),
                "action": f"Outbound Message {message_name(sobject)}",
            }
            for sobject in OBJECTS
        ],
    }


def _element(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, name)
    if text is not None:
        child.text = text
    return child


def _document(root: ET.Element) -> bytes:
    ET.indent(root, space="    ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root) + b"\n"


def workflow_xml(sobject: str, endpoint_url: str, username: str | None) -> bytes:
    """`workflows/{sobject}.workflow-meta.xml`: the object's Outbound Message."""
    root = ET.Element("Workflow", xmlns=METADATA)
    message = _element(root, "outboundMessages")
    _element(message, "fullName", message_name(sobject))
    _element(message, "apiVersion", API_VERSION)
    _element(message, "description", "Sends the record to Glengarry, which rescores it.")
    _element(message, "endpointUrl", endpoint_url)
    for name in FIELDS[sobject]:
        _element(message, "fields", name)
    _element(message, "includeSessionId", "false")
    _element(message, "integrationUser", username or "INTEGRATION_USER_USERNAME")
    _element(message, "name", message_name(sobject))
    _element(message, "protected", "false")
    _element(message, "useDeadLetterQueue", "false")
    return _document(root)


def flow_xml(sobject: str, username: str | None) -> bytes:
    """`flows/Glengarry_{sobject}_Changed.flow-meta.xml`: the record-triggered Flow."""
    root = ET.Element("Flow", xmlns=METADATA)
    action = _element(root, "actionCalls")
    _element(action, "name", "Send_to_Glengarry")
    _element(action, "label", "Send to Glengarry")
    _element(action, "locationX", "176")
    _element(action, "locationY", "158")
    _element(action, "actionName", f"{sobject}.{message_name(sobject)}")
    _element(action, "actionType", "outboundMessage")
    _element(action, "flowTransactionModel", "CurrentTransaction")
    _element(root, "apiVersion", API_VERSION)
    _element(root, "description", "Glengarry rescores a person when anyone but it changes them.")
    _element(root, "label", f"Glengarry: {sobject} changed")
    _element(root, "processType", "AutoLaunchedFlow")
    start = _element(root, "start")
    _element(start, "locationX", "50")
    _element(start, "locationY", "0")
    connector = _element(start, "connector")
    _element(connector, "targetReference", "Send_to_Glengarry")
    _element(start, "filterFormula", condition(username))
    _element(start, "object", sobject)
    _element(start, "recordTriggerType", "CreateAndUpdate")
    _element(start, "triggerType", "RecordAfterSave")
    _element(root, "status", "Active")
    return _document(root)
