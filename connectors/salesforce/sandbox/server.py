"""`SandboxServer`: a Salesforce org on https://127.0.0.1:PORT, served by uvicorn in a thread.

    with SandboxServer(SandboxConfig(contacts=200, seed=7, cert_dir=Path("sf"))) as org:
        org.instance_url, org.ca_file, org.jwt_key_file, org.credentials

Once it answers, DIR (`cert_dir`, or a temporary folder) holds `ca.pem` (the CA to trust),
`jwt-key.pem` (the key JWT assertions are signed with; the connected app holds its
certificate) and `credentials.json` (`instance_url`, `organization_id`, `client_id`,
`client_secret`, `username`), written last.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from connectors.salesforce.sandbox.app import create_app
from connectors.salesforce.sandbox.config import SandboxConfig
from connectors.salesforce.sandbox.oauth import ConnectedApp
from connectors.salesforce.sandbox.runtime import Runtime
from connectors.salesforce.sandbox.seed import seed, seed_org
from connectors.salesforce.sandbox.store import Store
from connectors.salesforce.sandbox.tls import make_jwt_keys, write_tls
from connectors.sandbox_kit import SandboxError, SeedMember, ServerThread, generated_members

CREDENTIALS = "credentials.json"
JWT_KEY = "jwt-key.pem"
CA = "ca.pem"


def _write_atomically(path: Path, content: bytes, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    temporary.chmod(mode)
    os.replace(temporary, path)


class SandboxServer:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        store: Store | None = None,
        members: Iterable[SeedMember] | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.config = config or SandboxConfig()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if self.config.cert_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="glengarry-salesforce-")
            self.directory = Path(self._temporary.name)
        else:
            self.directory = Path(self.config.cert_dir)
        try:
            self.tls = write_tls(self.directory)
        except OSError as exc:
            raise SandboxError(f"cannot write the certificates to {self.directory}: {exc}") from exc
        self.jwt_keys = make_jwt_keys()
        self.store = store or Store(settings=self.config.org_settings)
        self.user = seed_org(self.store, self.config.username, self.config.org_id)
        self.ids: dict[str, str] = {}  # population id -> Lead or Contact id
        if members is not None:
            self.ids = seed(self.store, members)
        elif self.config.contacts > 0:
            self.ids = seed(self.store, generated_members(self.config.contacts, self.config.seed))
        self.connected_app = ConnectedApp(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            certificate_pem=self.jwt_keys.certificate_pem,
            run_as=self.user.id,
            authorised={self.config.username: self.user.id},
        )
        self.app = create_app(self.config, self.store, self.connected_app)
        self.runtime: Runtime = self.app.state.sandbox
        self._thread = ServerThread(
            self.app,
            label="the Salesforce sandbox",
            host=self.config.host,
            port=self.config.port,
            tls=self.tls,
            startup_timeout=startup_timeout,
        )

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def instance_url(self) -> str:
        return self._thread.base_url

    base_url = instance_url

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    @property
    def jwt_key_file(self) -> Path:
        return self.directory / JWT_KEY

    @property
    def credentials(self) -> dict[str, Any]:
        return {
            "instance_url": self.instance_url,
            "organization_id": self.config.org_id,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "username": self.config.username,
        }

    def start(self) -> SandboxServer:
        self._thread.start()
        self.runtime.tokens.instance_url = self.instance_url
        _write_atomically(self.jwt_key_file, self.jwt_keys.private_key_pem, 0o600)
        _write_atomically(
            self.directory / CREDENTIALS, json.dumps(self.credentials, indent=2).encode(), 0o600
        )
        return self

    def stop(self) -> None:
        self._thread.stop()
        self.runtime.outbox.stop()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats_json()

    def flush_outbound(self, timeout: float = 10.0) -> bool:
        """Wait until every outbound notification is acknowledged or dropped."""
        return self.runtime.outbox.flush(timeout)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
