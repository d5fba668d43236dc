"""`glengarry keys rotate` while `serve` runs: the running process follows the rotation (key
file), or says on /readyz why it cannot (keys from the environment)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app import connections
from app.api import create_app
from app.db import session_factory
from app.key_rotation import rotate_keys
from app.models import Connection
from app.runtime import Runtime
from app.settings import load_settings
from app.vault import Vault, load_key_source
from connectors.hubspot.limits import AppType
from connectors.hubspot.signature import sign_v3
from connectors.hubspot.webhook import SignatureVersion
from tests.hubspot_connections import HubSpotCredentials, create_hubspot
from tests.wakers import RecordingWaker

SECRET = "rotation-app-secret"
PORTAL = "4711"


def _serve(engine: Engine, tmp_path: Path, **settings: object) -> Runtime:
    """The runtime of a `serve` started before the rotation, with a connection stored."""
    loaded = load_settings(data_dir=tmp_path, **settings)
    rt = Runtime(loaded, engine, session_factory(engine), Vault.from_settings(loaded))
    rt.wake = RecordingWaker()
    with rt.sessions.begin() as session:
        connection = create_hubspot(
            session,
            rt.vault,
            name="acme",
            credentials=HubSpotCredentials(token="pat-before", app_client_secret=SECRET),
            base_url="http://127.0.0.1:9",
            app_type=AppType.PRIVATE_PRO,
            signature=SignatureVersion.V3,
            budget_share=0.5,
        )
        connection.account_id = PORTAL
    return rt


def _signed_delivery(client: TestClient) -> int:
    body = json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionId": 3,
                "portalId": int(PORTAL),
                "appId": 9,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "contact.creation",
                "attemptNumber": 0,
                "objectId": 101,
            }
        ]
    ).encode()
    ts = int(datetime.now(UTC).timestamp() * 1000)
    path = "/webhooks/hubspot/acme"
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", f"http://testserver{path}", body, ts),
        "X-HubSpot-Request-Timestamp": str(ts),
    }
    return client.post(path, content=body, headers=headers).status_code


def test_a_running_process_follows_a_rotation_of_the_key_file(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _serve(fresh_engine, tmp_path)
    # `glengarry keys rotate` in another process: a settings object and vault of its own.
    message = rotate_keys(load_settings(data_dir=tmp_path), session_factory(fresh_engine))
    assert "re-encrypted 1 connection" in message
    new_keys = load_key_source(load_settings(data_dir=tmp_path)).keys
    with rt.sessions() as session:
        connection = session.scalars(select(Connection)).one()
    assert connections.vault_credentials(rt.vault, connection)["token"] == "pat-before"
    # What the running process encrypts from now on (a refreshed OAuth token, say) is under
    # the new key: the retired one is gone from the key file.
    assert Vault(new_keys).decrypt(rt.vault.encrypt({"refresh_token": "r2"})) == {
        "refresh_token": "r2"
    }


def test_webhooks_keep_being_verified_after_a_rotation(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    rt = _serve(fresh_engine, tmp_path)
    client = TestClient(create_app(rt))
    assert _signed_delivery(client) == 200
    rotate_keys(load_settings(data_dir=tmp_path), session_factory(fresh_engine))
    assert _signed_delivery(client) == 200
    assert client.get("/readyz").json()["checks"]["credentials"] == "ok"


def test_readyz_says_why_when_the_process_was_not_given_the_new_key(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    old = Fernet.generate_key().decode()
    rt = _serve(fresh_engine, tmp_path, secret_key=old)
    client = TestClient(create_app(rt))
    assert client.get("/readyz").status_code == 200
    # The operator rotates from a shell where GLENGARRY_SECRET_KEY=NEW,OLD, then drops OLD;
    # this `serve` still runs with OLD alone.
    new = Fernet.generate_key().decode()
    rotate_keys(load_settings(secret_key=f"{new},{old}"), session_factory(fresh_engine))
    ready = client.get("/readyz")
    assert ready.status_code == 503
    detail = ready.json()["checks"]["credentials"]
    assert detail.startswith("the secret key does not decrypt the credentials of acme")
    assert "GLENGARRY_SECRET_KEY" in detail
