"""What a Salesforce connection stores as secrets, validated at the edge, and the login it makes.

Either the JWT bearer flow (`client_id`, `username`, `private_key`: the PEM of the key whose
certificate the connected app holds) or the client credentials flow (`client_id`,
`client_secret`); never a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.http import RetryPolicy, Sleep
from connectors.oauth import TOKEN_RETRY
from connectors.salesforce.auth import ClientCredentials, Grant, JwtBearer, SalesforceLogin


class SalesforceCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    client_id: str = Field(min_length=1)  # the connected app's consumer key
    client_secret: str | None = None  # client credentials flow
    username: str | None = None  # JWT bearer flow: the integration user
    private_key: str | None = None  # JWT bearer flow: PEM text

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceCredentials:
        jwt = (self.username, self.private_key)
        if self.client_secret and any(jwt):
            raise ValueError("give either a client secret or a username and JWT key, not both")
        if not self.client_secret and not all(jwt):
            raise ValueError(
                "give a client secret (client credentials) or both a username and a JWT key "
                "(JWT bearer)"
            )
        if self.private_key and "PRIVATE KEY" not in self.private_key:
            raise ValueError("the JWT key must be a PEM private key")
        return self

    def grant(self, *, sandbox_org: bool = False, login_url: str | None = None) -> Grant:
        if self.client_secret:
            return ClientCredentials(self.client_id, self.client_secret, login_url)
        assert self.username is not None
        assert self.private_key is not None
        return JwtBearer(self.client_id, self.username, self.private_key, sandbox_org, login_url)


def login_for(
    credentials: SalesforceCredentials,
    *,
    instance_url: str,
    now: Callable[[], datetime],
    sandbox_org: bool = False,
    login_url: str | None = None,
    ca_bundle: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy = TOKEN_RETRY,
    timeout: float = 30.0,
    sleep: Sleep = asyncio.sleep,
) -> SalesforceLogin:
    return SalesforceLogin(
        credentials.grant(sandbox_org=sandbox_org, login_url=login_url),
        instance_url=instance_url,
        now=now,
        ca_bundle=ca_bundle,
        transport=transport,
        retry=retry,
        timeout=timeout,
        sleep=sleep,
    )
