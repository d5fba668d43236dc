"""HubSpot connections for tests, in the words the tests were written in, on the generic API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.connections import (
    ConnectionUpdate,
    UpdateResult,
    connect,
    create_connection,
    update_connection,
)
from app.models import Connection
from app.runtime import Runtime
from app.vault import Vault
from connectors.base import FieldStatus
from connectors.hubspot.crm import CRM, HUBSPOT_API, HubSpotCredentials
from connectors.hubspot.limits import AppType
from connectors.hubspot.webhook import SignatureVersion

__all__ = [
    "HUBSPOT_API",
    "ConnectionUpdate",
    "HubSpotCredentials",
    "connect_hubspot",
    "create_hubspot",
    "update_hubspot",
]


def _options(base_url: str, app_type: AppType, signature: SignatureVersion) -> dict[str, str]:
    return {
        "base_url": base_url.rstrip("/"),
        "app_type": app_type.value,
        "webhook_signature": signature.value,
    }


def create_hubspot(
    session: Session,
    vault: Vault,
    *,
    name: str,
    credentials: HubSpotCredentials,
    base_url: str,
    app_type: AppType,
    signature: SignatureVersion,
    budget_share: float,
) -> Connection:
    return create_connection(
        session,
        vault,
        CRM,
        name=name,
        secrets=credentials.to_dict(),
        options=_options(base_url, app_type, signature),
        budget_share=budget_share,
    )


async def connect_hubspot(
    runtime: Runtime,
    *,
    name: str,
    credentials: HubSpotCredentials,
    base_url: str = HUBSPOT_API,
    app_type: AppType = AppType.PRIVATE_PRO,
    signature: SignatureVersion = SignatureVersion.V3,
    budget_share: float | None = None,
) -> tuple[Connection, list[FieldStatus]]:
    connected = await connect(
        runtime,
        CRM,
        name=name,
        secrets=credentials.to_dict(),
        options=_options(base_url, app_type, signature),
        budget_share=budget_share,
    )
    return connected.connection, connected.fields


async def update_hubspot(runtime: Runtime, ref: str, update: ConnectionUpdate) -> UpdateResult:
    return await update_connection(runtime, ref, update)
