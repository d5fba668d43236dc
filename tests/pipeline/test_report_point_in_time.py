"""The effectiveness report on a connection synced from the sandbox: the CLI and the API answer
the same body, and what happens after T (a rep's call, a lifecycle stage of customer) never
changes the report as of T.

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
from app.models import Connection, Contact, QualificationRecord
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import SyncRunner
from connectors.hubspot.sandbox.server import SandboxServer
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
