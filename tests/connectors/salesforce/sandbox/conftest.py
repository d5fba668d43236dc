"""Fixtures: a real Salesforce sandbox over HTTPS in a thread, seeded with a small hand-made
population, and clients that reach it as they would reach Salesforce."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from connectors.salesforce.sandbox import API_VERSION, SandboxConfig, SandboxServer
from qualification.records import Activity, Contact

NOW = datetime.now(UTC).replace(microsecond=0)
DATA = f"/services/data/v{API_VERSION}"


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
        "createdate": (NOW - timedelta(days=30)).isoformat(),
        **props,
    }
    return Member(
        Contact(cid, properties),
        [Activity(cid, k, NOW - timedelta(days=d), dict(x)) for k, d, x in activities],
    )


def population(count: int = 30) -> list[Member]:
    """Leads p1..p{count}, plus a customer company (two Contacts) and an opportunity."""
    people = [
        member(
            n,
            [
                ("call", n % 5 + 1, {"hs_call_duration": "60000"}),
                ("email_click", 2, {"campaign": "May news"}),
            ],
            industry="COMPUTER_SOFTWARE" if n % 2 else "RETAIL",
            numemployees="50-100",
            country="Germany",
        )
        for n in range(1, count + 1)
    ]
    people += [
        member(101, [("meeting", 3, {})], company="Acme", lifecyclestage="customer",
               industry="BANKING", numemployees="1000+", country="France"),
        member(102, company="Acme", lifecyclestage="customer", industry="BANKING",
               numemployees="1000+", country="France"),  # the same company facts: one Account
        member(103, company="Beta", lifecyclestage="opportunity"),
    ]  # fmt: skip
    return people


class ToSandbox(HTTPAdapter):
    """Sends every *.salesforce.com request (the token endpoints) to the sandbox, and trusts
    only the sandbox's CA (whatever REQUESTS_CA_BUNDLE says)."""

    def __init__(self, org: SandboxServer) -> None:
        super().__init__()
        self.netloc = f"127.0.0.1:{org.port}"
        self.ca = str(org.ca_file)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.hostname and parts.hostname.endswith(".salesforce.com"):
            request.url = urlunsplit(parts._replace(netloc=self.netloc))
        kwargs["verify"] = self.ca
        return super().send(request, **kwargs)


def session_for(org: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.mount("https://", ToSandbox(org))
    return session


def jwt_client(org: SandboxServer, **kwargs: Any) -> Salesforce:
    return Salesforce(
        username=org.config.username,
        consumer_key=org.config.client_id,
        privatekey_file=str(org.jwt_key_file),
        session=session_for(org),
        version=API_VERSION,
        **kwargs,
    )


def credentials_client(org: SandboxServer) -> Salesforce:
    return Salesforce(
        consumer_key=org.config.client_id,
        consumer_secret=org.config.client_secret,
        domain="glengarry-sandbox.my",
        session=session_for(org),
        version=API_VERSION,
    )


def api(org: SandboxServer) -> httpx.Client:
    """A plain client with a fresh session (client credentials)."""
    token = httpx.post(
        f"{org.instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org.config.client_id, org.config.client_secret),
        verify=trust(org),
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{org.instance_url}{DATA}",
        headers={"Authorization": f"Bearer {token}"},
        verify=trust(org),
        timeout=20,
    )


def control(org: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=f"{org.instance_url}/_sandbox", verify=trust(org), timeout=20)


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(cert_dir=tmp_path / "org"), members=population()) as server:
        yield server


@pytest.fixture
def http(org: SandboxServer) -> Iterator[httpx.Client]:
    with api(org) as client:
        yield client


@pytest.fixture
def sandbox(org: SandboxServer) -> Iterator[httpx.Client]:
    with control(org) as client:
        yield client


def trust(org: SandboxServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(org.ca_file))
