"""A Salesforce sandbox org seeded from the population generator, connected the way `glengarry
connect salesforce` connects it (JWT bearer), for pipeline tests that drive `SyncRunner`."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.connections import connect
from app.models import Contact, OutboxEntry
from app.runtime import Runtime
from connectors.salesforce.crm import CRM
from connectors.salesforce.sandbox import SandboxConfig, SandboxServer
from qualification.population import generate_population


def start_org(folder: Any, people: int, **config: Any) -> SandboxServer:
    end = datetime.now(UTC)
    members = generate_population(people, 5, end - timedelta(days=90), end)
    return SandboxServer(SandboxConfig(cert_dir=folder, **config), members=members).start()


async def connect_org(
    runtime: Runtime, org: SandboxServer, name: str = "sf", budget_share: float | None = None
) -> int:
    config = org.config
    values = {
        "instance_url": org.instance_url,
        "login_url": org.instance_url,
        "ca_bundle": str(org.ca_file),
        "client_id": config.client_id,
        "username": config.username,
        "jwt_key": str(org.jwt_key_file),
    }
    chosen = CRM.settings(values, new=True)
    connected = await connect(
        runtime,
        CRM,
        name=name,
        secrets=chosen.secrets,
        options=chosen.options,
        budget_share=budget_share,
    )
    return connected.connection.id


def with_settings(runtime: Runtime, **settings: Any) -> Runtime:
    """The same database and vault, other settings (a process started with other variables)."""
    return replace(runtime, settings=runtime.settings.model_copy(update=settings), limiters={})


@contextmanager
def control(org: SandboxServer) -> Iterator[httpx.Client]:
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    with httpx.Client(base_url=f"{org.instance_url}/_sandbox", verify=trust) as client:
        yield client


@contextmanager
def data_api(org: SandboxServer) -> Iterator[httpx.Client]:
    """The org's data API as another integration would call it (its calls count org-wide)."""
    config = org.config
    trust = ssl.create_default_context(cafile=str(org.ca_file))
    with httpx.Client(base_url=org.instance_url, verify=trust) as client:
        token = client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            },
        ).json()["access_token"]
        client.base_url = httpx.URL(f"{org.instance_url}/services/data/v62.0")
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def dump(org: SandboxServer) -> dict[str, dict[str, Any]]:
    with control(org) as sandbox:
        records = sandbox.get("/dump").json()["records"]
    return {r["id"]: {"type": r["type"], **r["fields"]} for r in records}


def stored(runtime: Runtime, crm_ids: Sequence[str] | None = None) -> dict[str, Contact]:
    with runtime.sessions() as session:
        query = select(Contact)
        if crm_ids is not None:
            query = query.where(Contact.crm_id.in_(crm_ids))
        rows = session.scalars(query).all()
        for row in rows:
            session.expunge(row)
        return {row.crm_id: row for row in rows}


def outbox_of(runtime: Runtime, contact_id: int) -> list[OutboxEntry]:
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.contact_id == contact_id))
        found = list(rows)
        for row in found:
            session.expunge(row)
        return found


def glengarry_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k.startswith("Glengarry_") and v is not None}
