"""Outcomes kept current by the syncs and the webhooks, idempotently; what a connection may not
read is kept for the report."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Connection, Contact, OutcomeRecord
from app.runtime import Runtime
from app.settings import load_settings
from app.sync.run import SyncRunner
from app.vault import Vault
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import SandboxServer
from tests.cli import Glengarry
from tests.hubspot_connections import HubSpotCredentials, connect_hubspot
from tests.pipeline.conftest import population
from tests.pipeline.test_continuous import _backfilled, _deliver_and_process, live

__all__ = ["live"]  # the fixture, shared with the continuous tests

TOKEN = HubSpotCredentials(token="sandbox-token")
NO_SURVEYS = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "tickets",
    "crm.objects.deals.read",
)


def _outcomes(runtime: Runtime) -> list[tuple[str, str, str, float | None, str | None]]:
    with runtime.sessions() as session:
        return sorted(
            (crm_id, kind, key, amount, currency)
            for crm_id, kind, key, amount, currency in session.execute(
                select(
                    Contact.crm_id,
                    OutcomeRecord.kind,
                    OutcomeRecord.deal_key,
                    OutcomeRecord.amount,
                    OutcomeRecord.currency,
                ).join(Contact, Contact.id == OutcomeRecord.contact_id)
            )
        )


@pytest.fixture
def sandbox_without_surveys() -> Iterator[SandboxServer]:
    config = SandboxConfig(rate_limits="off", scopes=NO_SURVEYS)
    with SandboxServer(config, members=population()) as server:
        yield server


async def test_a_backfill_stores_outcomes_once_and_a_resync_adds_no_row(
    runtime: Runtime, sandbox: SandboxServer
) -> None:
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    report = await SyncRunner(runtime, "acme").run()
    first = _outcomes(runtime)
    kinds = {kind for _, kind, _, _, _ in first}
    assert {"became_customer", "deal_won"} <= kinds, kinds
    assert report.outcomes == len(first)
    won = [row for row in first if row[1] == "deal_won"]
    assert all(key and amount is not None and currency for _, _, key, amount, currency in won)
    # Every won deal in the sandbox associated with a stored contact is there.
    in_crm = {
        deal.id
        for deal in sandbox.store.all("deals")
        if deal.properties.get("dealstage") == "closedwon"
    }
    assert {key for _, _, key, _, _ in won} == in_crm
    await SyncRunner(runtime, "acme", full=True).run()
    assert _outcomes(runtime) == first
    with runtime.sessions() as session:
        assert session.scalars(select(Connection.unavailable)).one() == {}


async def test_a_connection_without_the_survey_scope_says_so_and_keeps_its_outcomes(
    runtime: Runtime, sandbox_without_surveys: SandboxServer
) -> None:
    sandbox = sandbox_without_surveys
    await connect_hubspot(runtime, name="acme", credentials=TOKEN, base_url=sandbox.base_url)
    await SyncRunner(runtime, "acme").run()
    with runtime.sessions() as session:
        unavailable = session.scalars(select(Connection.unavailable)).one()
        assert list(unavailable) == ["feedback_submissions"]
        assert "crm.objects.feedback_submissions.read" in unavailable["feedback_submissions"]
        assert session.scalar(select(func.count()).select_from(OutcomeRecord))


def test_connect_says_what_the_token_may_not_read_and_a_sync_of_nobody_keeps_it(
    runtime: Runtime, sandbox_without_surveys: SandboxServer, glengarry: Glengarry, tmp_path: Path
) -> None:
    sandbox = sandbox_without_surveys
    connected = glengarry(
        "connect", "hubspot", "--name", "acme", "--token", "sandbox-token",
        "--base-url", sandbox.base_url,
    )  # fmt: skip
    assert connected.code == 0, connected.stderr
    said = connected.json()["unavailable"]
    assert list(said) == ["feedback_submissions"]
    assert "crm.objects.feedback_submissions.read" in said["feedback_submissions"]
    assert "acme cannot read feedback_submissions: scope missing" in connected.stderr
    with runtime.sessions() as session:
        assert session.scalars(select(Connection.unavailable)).one() == said
    # A whole sync that reads nobody (every contact gone) still knows, and says so.
    for contact in sandbox.store.all("contacts"):
        sandbox.store.archive("contacts", contact.id)
    settings = load_settings(data_dir=tmp_path / "data")  # the command's, with its secret key
    cli = Runtime(settings, runtime.engine, runtime.sessions, Vault.from_settings(settings))
    report = asyncio.run(SyncRunner(cli, "acme").run())  # the command ran its own loop too
    assert (report.state, report.pulled) == ("succeeded", 0)
    with runtime.sessions() as session:
        assert session.scalars(select(Connection.unavailable)).one() == said


async def test_a_contact_becoming_a_customer_reaches_the_outcomes_through_its_webhook(
    live: tuple[Runtime, SandboxServer],
) -> None:
    runtime, sandbox = live
    cid = await _backfilled(runtime, sandbox)
    await _deliver_and_process(runtime, sandbox, cid)  # settle the echoes
    before = _outcomes(runtime)
    lead = next(
        c
        for c in sandbox.store.all("contacts")
        if c.properties.get("lifecyclestage") in ("lead", "subscriber", "marketingqualifiedlead")
    )
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    sandbox.store.update(
        "contacts",
        lead.id,
        {"lifecyclestage": "customer", "hs_lifecyclestage_customer_date": at},
        source="CRM_UI",
    )
    await _deliver_and_process(runtime, sandbox, cid)
    after = _outcomes(runtime)
    assert set(after) - set(before) == {(lead.id, "became_customer", "", None, None)}
    # The same event processed again (a redelivery) adds nothing.
    await _deliver_and_process(runtime, sandbox, cid)
    assert _outcomes(runtime) == after
