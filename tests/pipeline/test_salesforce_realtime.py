"""Salesforce in real time: the sandbox's Outbound Messages reach the served receiver, the worker
re-reads and rescores the people they name, and the fields land in the org; the admin's set-up
(URL, fields, Flows) printed by `connect` and `connections show`, the token rotated, the SFDX
package carrying the Flows. Both databases."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api import create_app
from app.audit import cli_actor
from app.cli import context
from app.connections import connect
from app.models import AuditEntry, Connection, Contact, QualificationRecord
from app.runtime import Runtime
from app.serving import ServerThread
from app.sync.run import SyncRunner
from app.worker import jobs
from connectors.salesforce.crm import CRM
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.population import generate_population
from tests.cli import Glengarry
from tests.wakers import RecordingWaker

PUBLIC = "https://glengarry.example.com"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    end = datetime.now(UTC)
    members = generate_population(80, 9, end - timedelta(days=90), end)
    config = SandboxConfig(cert_dir=tmp_path / "org", outbound_backoff_seconds=0.05)
    server = SandboxServer(config, members=members).start()
    yield server
    server.stop()


def _control(org: SandboxServer) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    return httpx.Client(base_url=f"{org.instance_url}/_sandbox", verify=trust, timeout=30)


def _secrets(org: SandboxServer) -> dict[str, str]:
    return {"client_id": org.config.client_id, "client_secret": org.config.client_secret}


def _options(org: SandboxServer) -> dict[str, Any]:
    return {"instance_url": org.instance_url, "ca_bundle": str(org.ca_file)}


async def test_outbound_messages_rescore_the_people_they_name_and_the_fields_land(
    runtime: Runtime, org: SandboxServer
) -> None:
    runtime.wake = RecordingWaker()
    connected = await connect(runtime, CRM, name="sf", secrets=_secrets(org), options=_options(org))
    cid = connected.connection.id
    await SyncRunner(runtime, "sf").run()
    with ServerThread(create_app(runtime)) as receiver, _control(org) as control:
        setup = CRM.setup(_stored(runtime, cid), receiver.base_url)
        for sobject in ("Lead", "Contact", "Task", "Event"):
            answer = control.post(
                "/outbound-message", json={"url": setup["endpoint_url"], "sobject": sobject}
            )
            assert answer.status_code == 200, answer.text
        touched = control.post("/simulate", json={"contacts": 8, "events_per_contact": 3})
        ids = set(touched.json()["contact_ids"])
        assert control.post("/deliveries/flush", json={"timeout": 30}).json()["queued"] == 0
        deliveries = control.get("/deliveries").json()
    assert deliveries["acknowledged"] >= 1
    assert all(d["acknowledged"] for d in deliveries["deliveries"] if d["status"] == 200)
    result = await jobs.process_inbox(runtime, cid)
    assert result.error is None
    assert result.events >= 1
    assert result.read >= 1
    with _control(org) as control:
        dumped = {r["id"]: r["fields"] for r in control.get("/dump").json()["records"]}
    with runtime.sessions() as session:
        query = (
            select(Contact.crm_id, QualificationRecord.written_values)
            .join(QualificationRecord, QualificationRecord.contact_id == Contact.id)
            .where(Contact.deleted_at.is_(None))
        )
        written: dict[str, Any] = dict(session.execute(query).all())
    # A converted Lead's qualification moved to its Contact; every other person touched is
    # qualified, and the org holds what Glengarry last wrote for each of them.
    live = ids & set(dumped) & set(written)
    assert live, (ids, set(written))
    assert result.read >= len(live)  # each of them re-read from the org and rescored
    for crm_id in live:  # what the org holds is what Glengarry last wrote for each of them
        assert dumped[crm_id]["Glengarry_Status__c"] == written[crm_id]["glengarry_status"]
        assert float(dumped[crm_id]["Glengarry_Score__c"]) == float(
            written[crm_id]["glengarry_score"]
        )


def _stored(runtime: Runtime, cid: int) -> Any:
    from app.connections import stored

    with runtime.sessions() as session:
        connection = session.get(Connection, cid)
        assert connection is not None
        return stored(runtime, connection)


def _connect(glengarry: Glengarry, org: SandboxServer) -> dict[str, Any]:
    config = org.config
    connected = glengarry(
        "connect", "salesforce", "--name", "sf", "--instance-url", org.instance_url,
        "--client-id", config.client_id, "--username", config.username,
        "--jwt-key", str(org.jwt_key_file), "--login-url", org.instance_url,
        "--ca-bundle", str(org.ca_file), env={"GLENGARRY_PUBLIC_URL": PUBLIC},
    )  # fmt: skip
    assert connected.code == 0, connected.stderr
    body: dict[str, Any] = connected.json()
    return body


def test_connect_prints_the_set_up_and_a_rotated_token_retires_the_old_url(
    glengarry: Glengarry, org: SandboxServer
) -> None:
    realtime = _connect(glengarry, org)["realtime"]
    url = realtime["endpoint_url"]
    assert url.startswith(f"{PUBLIC}/webhooks/salesforce/sf/")
    token = url.rpartition("/")[2]
    assert len(token) >= 22  # at least 128 bits, base64url
    assert [m["object"] for m in realtime["outbound_messages"]] == [
        "Lead", "Contact", "Case", "Opportunity", "OpportunityContactRole", "SurveyResponse",
    ]  # fmt: skip
    assert {f["object"] for f in realtime["flows"]} == {
        m["object"] for m in realtime["outbound_messages"]
    }
    assert all("Id" in m["fields"] for m in realtime["outbound_messages"])
    flows = realtime["flows"]
    assert {f["trigger"] for f in flows} == {"A record is created or updated"}
    assert all(org.config.username in f["entry_condition"] for f in flows)

    shown = glengarry("connections", "show", "sf", env={"GLENGARRY_PUBLIC_URL": PUBLIC})
    assert shown.code == 0, shown.stderr
    assert shown.json()["realtime"]["endpoint_url"] == url
    assert shown.json()["kind"] == "salesforce"

    rotated = glengarry("connections", "rotate-token", "sf", env={"GLENGARRY_PUBLIC_URL": PUBLIC})
    assert rotated.code == 0, rotated.stderr
    new_url = rotated.json()["realtime"]["endpoint_url"]
    assert new_url != url
    assert new_url.startswith(f"{PUBLIC}/webhooks/salesforce/sf/")
    # An operator action: audited with who did it, and neither token is in the log.
    with context.runtime().sessions() as session:
        (entry,) = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "connection.rotate_token")
        )
        assert (entry.actor, entry.connection, entry.target) == (cli_actor(), "sf", None)
        logged = f"{entry.details}"
        assert token not in logged
        assert new_url.rpartition("/")[2] not in logged

    sample = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
    body = (sample / "outbound-lead-sample.xml").read_bytes()
    body = body.replace(b"00DR00000001fWVMAY", org.config.org_id.encode())
    client = TestClient(create_app(context.runtime()))
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    old = client.post(url.removeprefix(PUBLIC), content=body, headers=headers)
    new = client.post(new_url.removeprefix(PUBLIC), content=body, headers=headers)
    assert (old.status_code, new.status_code) == (404, 200)


def test_rotate_token_is_refused_for_a_crm_that_signs_its_deliveries(
    glengarry: Glengarry,
) -> None:
    from connectors.hubspot.limits import AppType
    from connectors.hubspot.webhook import SignatureVersion
    from tests.hubspot_connections import HubSpotCredentials, create_hubspot

    runtime = context.runtime()
    with runtime.sessions.begin() as session:
        create_hubspot(
            session, runtime.vault, name="hs", credentials=HubSpotCredentials(token="pat"),
            base_url="http://127.0.0.1:9", app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3, budget_share=0.5,
        )  # fmt: skip
    refused = glengarry("connections", "rotate-token", "hs")
    assert refused.code == 2
    assert "HubSpot connections have no path token" in refused.stderr
    with runtime.sessions() as session:  # nothing was rotated, so nothing is audited
        assert session.scalars(select(AuditEntry)).all() == []


def test_the_package_of_a_connection_carries_its_outbound_messages_and_flows(
    glengarry: Glengarry, org: SandboxServer, tmp_path: Path
) -> None:
    url = _connect(glengarry, org)["realtime"]["endpoint_url"]
    out = tmp_path / "pkg"
    written = glengarry(
        "salesforce", "package", "--out", str(out), "--connection", "sf",
        env={"GLENGARRY_PUBLIC_URL": PUBLIC},
    )  # fmt: skip
    assert written.code == 0, written.stderr
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    source = out / "force-app" / "main" / "default"
    for sobject in ("Lead", "Contact", *RELATED):
        workflow = ET.parse(source / "workflows" / f"{sobject}.workflow-meta.xml").getroot()
        assert workflow.findtext("m:outboundMessages/m:endpointUrl", namespaces=ns) == url
        flow = ET.parse(source / "flows" / f"Glengarry_{sobject}_Changed.flow-meta.xml").getroot()
        assert flow.findtext("m:start/m:object", namespaces=ns) == sobject
        assert org.config.username in (
            flow.findtext("m:start/m:filterFormula", namespaces=ns) or ""
        )
        assert flow.findtext("m:actionCalls/m:actionType", namespaces=ns) == "outboundMessage"
    manifest = (out / "manifest" / "package.xml").read_text()
    assert "Glengarry_Lead_Changed" in manifest
    assert "<members>Case.Glengarry_Case</members>" in manifest
    assert "Glengarry_SurveyResponse_Changed" in manifest
    assert "WorkflowOutboundMessage" in manifest

    plain = tmp_path / "plain"
    assert glengarry("salesforce", "package", "--out", str(plain)).code == 0
    assert not (plain / "force-app" / "main" / "default" / "flows").exists()


RELATED = ("Case", "Opportunity", "OpportunityContactRole", "SurveyResponse")


async def test_a_case_a_deal_won_and_a_survey_answered_reach_the_outcomes_without_a_sync(
    runtime: Runtime, org: SandboxServer
) -> None:
    """Outbound Messages on the related objects only (none on Contact): the Contact is not
    changed, yet its ticket, survey answer and won deal are stored and it is rescored by the
    inbox alone."""
    from app.models import Activity, OutcomeRecord

    runtime.wake = RecordingWaker()
    connected = await connect(runtime, CRM, name="sf", secrets=_secrets(org), options=_options(org))
    cid = connected.connection.id
    await SyncRunner(runtime, "sf").run()
    synced_at = runtime.clock.now()
    with ServerThread(create_app(runtime)) as receiver, _control(org) as control:
        setup = CRM.setup(_stored(runtime, cid), receiver.base_url)
        assert [m["object"] for m in setup["outbound_messages"]][2:] == list(RELATED)
        for sobject in RELATED:
            answer = control.post(
                "/outbound-message", json={"url": setup["endpoint_url"], "sobject": sobject}
            )
            assert answer.status_code == 200, answer.text
        touched = control.post(
            "/simulate",
            json={"contacts": 3, "events_per_contact": 1, "kinds": ["ticket"]},
        )
        assert touched.status_code == 200, touched.text
        cases = set(touched.json()["contact_ids"])
        won = set(
            control.post(
                "/simulate", json={"contacts": 3, "events_per_contact": 1, "kinds": ["deal_won"]}
            ).json()["contact_ids"]
        )
        surveyed = set(
            control.post(
                "/simulate",
                json={"contacts": 3, "events_per_contact": 1, "kinds": ["survey_response"]},
            ).json()["contact_ids"]
        )
        assert control.post("/deliveries/flush", json={"timeout": 30}).json()["queued"] == 0
        deliveries = control.get("/deliveries").json()["deliveries"]
    sent = {d["sobject"] for d in deliveries if d["acknowledged"]}
    assert sent == set(RELATED), deliveries
    assert cases
    assert won
    assert surveyed
    store = org.store
    case_ids = {r.id for r in store.records("Case") if r.get("ContactId") in cases}
    deal_ids = {
        str(r.get("OpportunityId"))
        for r in store.records("OpportunityContactRole")
        if r.get("ContactId") in won and r.get("CreatedDate") >= synced_at - timedelta(minutes=1)
    }
    result = await jobs.process_inbox(runtime, cid)
    assert result.error is None, result.error
    assert result.read >= len(cases | won | surveyed)
    people = cases | won | surveyed
    with runtime.sessions() as session:
        ids = dict(
            session.execute(
                select(Contact.crm_id, Contact.id).where(Contact.crm_id.in_(people))
            ).all()
        )
        assert set(ids) == people
        tickets = set(
            session.scalars(
                select(Activity.crm_id).where(
                    Activity.contact_id.in_([ids[c] for c in cases]), Activity.type == "ticket"
                )
            )
        )
        answers = session.execute(
            select(Activity.contact_id, Activity.properties).where(
                Activity.contact_id.in_([ids[c] for c in surveyed]),
                Activity.type == "survey_response",
                Activity.occurred_at >= synced_at - timedelta(minutes=1),
            )
        ).all()
        deals = set(
            session.scalars(
                select(OutcomeRecord.deal_key).where(
                    OutcomeRecord.contact_id.in_([ids[c] for c in won]),
                    OutcomeRecord.kind == "deal_won",
                )
            )
        )
        computed = dict(
            session.execute(
                select(QualificationRecord.contact_id, QualificationRecord.computed_at).where(
                    QualificationRecord.contact_id.in_(ids.values())
                )
            ).all()
        )
    assert {f"Case:{c}" for c in case_ids} <= tickets
    assert {contact for contact, _ in answers} == {ids[c] for c in surveyed}
    assert all(p["survey"] == "nps" and "score" in p for _, p in answers)
    assert deal_ids
    assert deal_ids <= deals
    # Each of them was scored again by the inbox, not by a sync.
    assert set(computed) == set(ids.values())
    assert all(_aware(at) >= _aware(synced_at) for at in computed.values()), computed


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
