"""The effectiveness report on a connection synced from the sandbox: the CLI and the API answer
the same body, and what happens after T (a rep's call, a lifecycle stage of customer) never
changes the report as of T, nor what live calibration proposes from T.

Salesforce's converted Lead is not planted here: the Salesforce connector reads no outcomes yet
(the report says "no outcome data" for such a connection, tested below)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.api import create_app
from app.clock import ManualClock
from app.effectiveness import report
from app.live_calibration import members_at
from app.models import Connection, Contact, OutcomeRecord, QualificationRecord, Transition
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import SyncRunner
from connectors.hubspot.sandbox.server import SandboxServer
from qualification.calibration import calibrate
from qualification.criteria import default_criteria
from tests.cli import Glengarry
from tests.hubspot_connections import HubSpotCredentials, connect_hubspot

TOKEN = HubSpotCredentials(token="sandbox-token")
HORIZON = timedelta(days=90)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _report(runtime: Runtime, since: datetime, until: datetime) -> dict[str, Any]:
    with runtime.sessions() as session:
        return report(session, "acme", until=until, horizon=HORIZON, since=since)


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


async def test_nothing_planted_after_t_changes_the_report_as_of_t(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    backfilled = datetime.now(UTC)
    runtime.clock = ManualClock(backfilled)
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    await SyncRunner(runtime, "acme").run()
    since, t = backfilled + timedelta(hours=1), backfilled + timedelta(days=1)
    before = _report(runtime, since, t)
    assert before["lift"]["all"]["n"] > 0

    # After T: a rep calls a sales-ready contact, and a lead becomes a customer in the CRM.
    with runtime.sessions() as session:
        statuses = dict(
            session.execute(
                select(Contact.crm_id, QualificationRecord.status).join(
                    QualificationRecord, QualificationRecord.contact_id == Contact.id
                )
            ).all()
        )
    ready = next(crm_id for crm_id, status in statuses.items() if status == "sales_ready")
    lead = next(crm_id for crm_id, status in statuses.items() if status == "nurture")
    planted = t + timedelta(hours=12)
    sandbox.store.create_engagement(
        "calls", {"hs_timestamp": _ms(planted), "hs_call_title": "first call"}, ready
    )
    sandbox.store.update(
        "contacts",
        lead,
        {"lifecyclestage": "customer", "hs_lifecyclestage_customer_date": _iso(planted)},
        source="CRM_UI",
    )
    runtime.clock = ManualClock(t + timedelta(days=1))
    await SyncRunner(runtime, "acme", full=True).run()
    with runtime.sessions() as session:
        became = session.scalar(
            select(QualificationRecord.status)
            .join(Contact, Contact.id == QualificationRecord.contact_id)
            .where(Contact.crm_id == lead)
        )
    assert became == "customer_active"  # the plants arrived ...

    assert _report(runtime, since, t) == before  # ... and the report as of T is the same
    later = _report(runtime, since, t + timedelta(days=1))
    assert later["lift"]["all"]["converted"] == before["lift"]["all"]["converted"] + 1
    assert later["flows"]["matrix"]["nurture"]["customer_active"] >= 1


async def test_the_cli_and_the_api_answer_the_same_report(
    runtime: Runtime, sandbox: SandboxServer, glengarry: Glengarry, tmp_path: Path
) -> None:
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    await SyncRunner(runtime, "acme").run()
    until = _iso(datetime.now(UTC) + timedelta(days=2))
    since = _iso(datetime.now(UTC) - timedelta(days=1))
    printed = glengarry("report", "acme", "--since", since, "--as-of", until, "--horizon", "12w")
    assert printed.code == 0, printed.stderr
    body = printed.json()
    assert body["window"]["horizon_days"] == 84.0
    assert isinstance(body["happiness_by_presale_status"], dict)

    settings = load_settings(data_dir=tmp_path / "api", api_token="t0ken")
    api = Runtime(settings, runtime.engine, runtime.sessions, runtime.vault)
    client = TestClient(create_app(api))
    answer = client.get(
        "/connections/acme/report",
        params={"since": since, "as_of": until, "horizon": "12w"},
        headers={"Authorization": "Bearer t0ken"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == json.loads(json.dumps(body))
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/connections/{connection}/report"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReportView"
    }
    assert client.get("/connections/acme/report", headers={}).status_code == 401
    unknown = client.get("/connections/nope/report", headers={"Authorization": "Bearer t0ken"})
    assert unknown.status_code == 404
    bad = client.get(
        "/connections/acme/report",
        params={"horizon": "soon"},
        headers={"Authorization": "Bearer t0ken"},
    )
    assert bad.status_code == 422
    assert glengarry("report", "acme", "--horizon", "0d").code == 2

    # A connection that says it may not read survey answers, or reads no outcomes at all.
    with runtime.sessions.begin() as session:
        session.execute(
            update(Connection).values(
                unavailable={
                    "feedback_submissions": "scope crm.objects.feedback_submissions.read missing",
                    "outcomes": "the salesforce connector does not read outcomes yet",
                }
            )
        )
    body = glengarry("report", "acme").json()
    assert body["happiness_by_presale_status"] == (
        "no survey data: scope crm.objects.feedback_submissions.read missing"
    )
    assert body["lift"] == "no outcome data: the salesforce connector does not read outcomes yet"


def members_at_once(runtime: Runtime, t: datetime) -> list[Any]:
    with runtime.sessions() as session:
        return members_at(session, "acme", t)


async def test_live_calibration_learns_nothing_from_what_was_planted_after_t(
    runtime: Runtime, sandbox: SandboxServer, glengarry: Glengarry, tmp_path: Path
) -> None:
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    await SyncRunner(runtime, "acme").run()
    t = datetime.now(UTC) - timedelta(days=30)

    def members() -> tuple[list[Any], list[str]]:
        """(the signals calibration reads at T, the contacts converting after T)"""
        with runtime.sessions() as session:
            found = members_at(session, "acme", t)
        signals = [(contact, list(activities)) for contact, activities, _ in found]
        return signals, sorted(o.contact_id for _, _, o in found if o.converted_at)

    signals, converting = members()
    assert calibrate(members_at_once(runtime, t), default_criteria(), t).proposed_yaml
    # After T, every contact that had not converted by T gets a rep's call and becomes a
    # customer: were they read as of T, they would tell converters apart perfectly.
    with runtime.sessions() as session:
        converted = set(
            session.scalars(
                select(Contact.crm_id)
                .join(OutcomeRecord, OutcomeRecord.contact_id == Contact.id)
                .where(OutcomeRecord.occurred_at <= t)
            )
        )
    planted = datetime.now(UTC) - timedelta(days=1)
    for contact in sandbox.store.all("contacts"):
        if contact.id in converted:
            continue
        sandbox.store.create_engagement(
            "calls", {"hs_timestamp": _ms(planted), "hs_call_title": "late"}, contact.id
        )
        sandbox.store.update(
            "contacts",
            contact.id,
            {"lifecyclestage": "customer", "hs_lifecyclestage_customer_date": _iso(planted)},
            source="CRM_UI",
        )
    await SyncRunner(runtime, "acme", full=True).run()
    after, converting_after = members()
    assert len(converting_after) > len(converting)  # the plants arrived, as conversions ...
    assert after == signals  # ... and no signal calibration reads as of T changed

    # The command: on the connection, or on files, never both.
    out = tmp_path / "proposed.yaml"
    done = glengarry("calibrate", "--connection", "acme", "--horizon", "30d", "--out", str(out))
    assert done.code == 0, done.stderr
    assert out.read_text().startswith("#")
    both = glengarry(
        "calibrate", "--connection", "acme", "--at", "2026-01-01", "--out", str(tmp_path / "x")
    )
    assert both.code == 2
    assert "--connection excludes --at" in both.stderr
    neither = glengarry("calibrate", "--out", str(tmp_path / "y"))
    assert neither.code == 2
    assert "give --connection, or the files" in neither.stderr


async def test_live_calibration_reads_the_properties_a_contact_had_at_t(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    await SyncRunner(runtime, "acme").run()
    # The backfill's status changes are dated a week back, so that T falls after them.
    with runtime.sessions.begin() as session:
        for row in session.scalars(select(Transition)):
            row.at -= timedelta(days=7)
    t = datetime.now(UTC) - timedelta(days=1)
    before = {c.id: c.properties for c, _, _ in members_at_once(runtime, t)}
    with runtime.sessions() as session:
        ids = dict(session.execute(select(Contact.crm_id, Contact.id)).all())
    changed = sorted(ids)[:20]
    for crm_id in changed:  # after T, in the CRM: a new job title
        sandbox.store.update("contacts", crm_id, {"jobtitle": "Chief Planted Officer"})
    await SyncRunner(runtime, "acme", full=True).run()
    with runtime.sessions() as session:
        stored = session.scalars(
            select(Contact.properties).where(Contact.id == ids[changed[0]])
        ).one()
    assert stored["jobtitle"] == "Chief Planted Officer"  # the plant arrived ...
    at_t = {c.id: c.properties for c, _, _ in members_at_once(runtime, t)}
    assert at_t == before  # ... and calibration as of T still reads the title of then
    now = {c.id: c.properties for c, _, _ in members_at_once(runtime, datetime.now(UTC))}
    assert {now[str(ids[crm_id])]["jobtitle"] for crm_id in changed} == {"Chief Planted Officer"}
