"""Fixtures: a Salesforce sandbox over HTTPS in a thread, seeded with a small hand-made
population, and the connector reaching it as it would reach an org (JWT bearer or client
credentials, trusting only the sandbox's CA)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import ContactBatch, CrmContact
from connectors.http import RetryPolicy
from connectors.salesforce import (
    ClientCredentials,
    JwtBearer,
    SalesforceConnector,
    SalesforceLogin,
    SalesforceOptions,
)
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.records import Activity, Contact

NOW = datetime.now(UTC).replace(microsecond=0)
FAST = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.05)


@dataclass
class Member:
    contact: Contact
    activities: list[Activity] = field(default_factory=list)


def member(
    number: int, activities: Sequence[tuple[str, int, dict[str, object]]] = (), **props: str
) -> Member:
    cid = f"p{number}"
    properties: dict[str, str | None] = {
        "email": f"person{number}@example{number % 7}.com",
        "firstname": f"First{number}",
        "lastname": f"Last{number}",
        "company": f"Company {number}",
        "jobtitle": "VP Marketing" if number % 3 == 0 else "Analyst",
        "createdate": (NOW - timedelta(days=30)).isoformat(),
        **props,
    }
    return Member(
        Contact(cid, properties),
        [Activity(cid, k, NOW - timedelta(days=d), dict(x)) for k, d, x in activities],
    )


def population(leads: int = 12) -> list[Member]:
    """Leads p1..p{leads} with a call and a campaign click each; a customer company (two
    Contacts), a prospect company with an open opportunity (one Contact)."""
    people = [
        member(
            n,
            [("call", n % 5 + 1, {"hs_call_duration": "60000"}),
             ("email_click", 2, {"campaign": "May news"})],
            industry="COMPUTER_SOFTWARE" if n % 2 else "RETAIL",
            numemployees="50-100",
            country="Germany",
        )
        for n in range(1, leads + 1)
    ]  # fmt: skip
    people += [
        member(101, [("meeting", 3, {})], company="Acme", lifecyclestage="customer",
               industry="BANKING", numemployees="1000+", country="France"),
        member(102, company="Acme", lifecyclestage="customer", industry="BANKING",
               numemployees="1000+", country="France"),  # the same company facts: one Account
        member(103, [("form_submission", 4, {"form": "Demo request"})], company="Beta",
               lifecyclestage="opportunity", industry="FINANCIAL_SERVICES", country="Canada"),
    ]  # fmt: skip
    return people


def start_org(folder: Path, members: Sequence[Member], **config: Any) -> SandboxServer:
    server = SandboxServer(SandboxConfig(cert_dir=folder, **config), members=members)
    return server.start()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_org(tmp_path / "org", population())
    yield server
    server.stop()


def login(org: SandboxServer, *, jwt: bool = True, **grant: Any) -> SalesforceLogin:
    config = org.config
    chosen: JwtBearer | ClientCredentials
    if jwt:
        chosen = JwtBearer(
            config.client_id,
            grant.pop("username", config.username),
            grant.pop("private_key", org.jwt_key_file.read_text()),
            login_url=org.instance_url,
            **grant,
        )
    else:
        chosen = ClientCredentials(
            config.client_id, grant.pop("client_secret", config.client_secret), **grant
        )
    return SalesforceLogin(
        chosen,
        instance_url=org.instance_url,
        now=lambda: datetime.now(UTC),
        ca_bundle=str(org.ca_file),
        retry=FAST,
    )


def connector(
    org: SandboxServer,
    *,
    jwt: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> SalesforceConnector:
    options.setdefault("retry", FAST)
    options.setdefault("overlap_seconds", 0)
    return SalesforceConnector(
        SalesforceOptions(instance_url=org.instance_url, ca_bundle=str(org.ca_file), **options),
        login(org, jwt=jwt),
        account="sandbox-org",
        transport=transport,
    )


def control(org: SandboxServer) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    return httpx.Client(base_url=f"{org.instance_url}/_sandbox", verify=trust)


async def drain(
    sf: SalesforceConnector, since: str | None
) -> tuple[list[ContactBatch], dict[str, CrmContact]]:
    """Every batch of one sync, and the contacts by id (the latest of each)."""
    batches = [batch async for batch in sf.contacts(since)]
    people = {c.crm_id: c for batch in batches for c in batch.contacts}
    return batches, people


def last_cursor(batches: Sequence[ContactBatch]) -> str:
    cursors = [b.cursor for b in batches if b.cursor]
    assert cursors
    return cursors[-1]
