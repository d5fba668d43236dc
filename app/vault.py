"""CRM credentials at rest: Fernet-encrypted, with key rotation through MultiFernet.

The key comes from GLENGARRY_SECRET_KEY (comma-separated, newest first, so that a rotation can run
while both keys are configured) or, when unset, from `secret.key` in the data directory, generated
on first use with mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.errors import SecretKeyError
from app.logging import get_logger, register_secret
from app.settings import Settings

KEY_FILE_NAME = "secret.key"
log = get_logger(__name__)


@dataclass(frozen=True)
class KeySource:
    keys: tuple[bytes, ...]
    path: Path | None  # None when the keys come from the environment


def _parse_keys(raw: str, origin: str) -> tuple[bytes, ...]:
    keys = tuple(
        part.strip().encode() for part in raw.replace("\n", ",").split(",") if part.strip()
    )
    if not keys:
        raise SecretKeyError(f"{origin} holds no key")
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"{origin} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with `glengarry keys generate`"
            ) from None
        register_secret(key.decode())
    return keys


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"\n".join(keys) + b"\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load_key_source(settings: Settings) -> KeySource:
    if settings.secret_key is not None:
        return KeySource(
            _parse_keys(settings.secret_key.get_secret_value(), "GLENGARRY_SECRET_KEY"), None
        )
    path = settings.data_dir / KEY_FILE_NAME
    if path.exists():
        return KeySource(_parse_keys(path.read_text(), str(path)), path)
    key = Fernet.generate_key()
    write_key_file(path, (key,))
    register_secret(key.decode())
    log.warning(
        "generated a new secret key",
        path=str(path.resolve()),
        advice="back this file up (a password manager or secret store): without it the stored "
        "CRM credentials cannot be read; or set GLENGARRY_SECRET_KEY",
    )
    return KeySource((key,), path)


class Vault:
    """Encrypts and decrypts credential dicts; the newest key encrypts, any key decrypts."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        return cls(load_key_source(settings).keys)

    def encrypt(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def decrypt(self, token: bytes, *, what: str = "stored credentials") -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                f"the secret key does not decrypt the {what}: is GLENGARRY_SECRET_KEY "
                "(or the data directory's secret.key) the one they were stored with?"
            ) from None
        credentials: dict[str, Any] = json.loads(plain)
        for value in credentials.values():
            if isinstance(value, str):
                register_secret(value)
        return credentials

    def rotate(self, token: bytes, *, what: str = "stored credentials") -> bytes:
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SecretKeyError(f"no configured key decrypts the {what}") from None
