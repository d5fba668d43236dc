"""CRM credentials at rest: Fernet-encrypted, with key rotation through MultiFernet.

The key comes from GLENGARRY_SECRET_KEY (comma-separated, newest first, so that a rotation can run
while both keys are configured) or, when unset, from `secret.key` in the data directory, generated
on first use with mode 0600.

A running process follows a rotation made by another (`glengarry keys rotate` beside `serve`):
the key file is read again whenever it changed, and whenever a token does not decrypt with the
keys held. Keys from the environment cannot change under a running process: after a rotation
that gave other processes a new one, this process's `/readyz` says so until it is restarted.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def read_key_source(settings: Settings) -> KeySource | None:
    """The configured keys, or None when there are none yet (no key file, no variable)."""
    if settings.secret_key is not None:
        return KeySource(
            _parse_keys(settings.secret_key.get_secret_value(), "GLENGARRY_SECRET_KEY"), None
        )
    path = settings.data_dir / KEY_FILE_NAME
    if path.exists():
        return KeySource(_parse_keys(path.read_text(), str(path)), path)
    return None


def load_key_source(settings: Settings) -> KeySource:
    """The configured keys; on a first run, a key generated into the data directory."""
    found = read_key_source(settings)
    if found is not None:
        return found
    path = settings.data_dir / KEY_FILE_NAME
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


FileStamp = tuple[int, int, int]  # (inode, size, modification time in ns)


def _stamp(path: Path | None) -> FileStamp | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class Vault:
    """Encrypts and decrypts credential dicts; the newest key encrypts, any key decrypts.

    With `reread` (from `from_settings`), the keys are read again when the key file changed or
    a token does not decrypt with the keys held: another process may have rotated them."""

    def __init__(
        self,
        keys: tuple[bytes, ...],
        *,
        reread: Callable[[], KeySource | None] | None = None,
        path: Path | None = None,
    ) -> None:
        self._reread = reread
        self._path = path
        self._lock = threading.Lock()
        self._keys = keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._stamp = _stamp(path)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        source = load_key_source(settings)
        return cls(source.keys, reread=lambda: read_key_source(settings), path=source.path)

    def _current(self) -> MultiFernet:
        if self._path is not None and _stamp(self._path) != self._stamp:
            self._reload()
        return self._fernet

    def _reload(self) -> bool:
        """Read the keys again; True when they changed."""
        if self._reread is None:
            return False
        with self._lock:
            stamp = _stamp(self._path)
            try:
                source = self._reread()
            except SecretKeyError as exc:  # a key file being edited by hand: keep what works
                log.warning(
                    "could not read the secret keys again; keeping those held", error=str(exc)
                )
                return False
            self._stamp = stamp
            if source is None or source.keys == self._keys:
                return False
            self._keys = source.keys
            self._fernet = MultiFernet([Fernet(k) for k in source.keys])
        log.info("secret keys read again: they were rotated", keys=len(source.keys))
        return True

    def derived(self, label: str) -> bytes:
        """A secret of its own for `label` (the console's session signing, say), derived from
        the newest key with HKDF: nothing new to keep, and it changes when the keys rotate."""
        self._current()
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode())
        return hkdf.derive(self._keys[0])

    def encrypt(self, credentials: dict[str, Any]) -> bytes:
        return self._current().encrypt(json.dumps(credentials, sort_keys=True).encode())

    def decrypt(self, token: bytes, *, what: str = "stored credentials") -> dict[str, Any]:
        try:
            plain = self._current().decrypt(token)
        except InvalidToken:
            plain = self._decrypt_after_reload(token, what)
        credentials: dict[str, Any] = json.loads(plain)
        for value in credentials.values():
            if isinstance(value, str):
                register_secret(value)
        return credentials

    def _decrypt_after_reload(self, token: bytes, what: str) -> bytes:
        if self._reload():
            try:
                return self._fernet.decrypt(token)
            except InvalidToken:
                pass
        raise SecretKeyError(
            f"the secret key does not decrypt the {what}: is GLENGARRY_SECRET_KEY "
            "(or the data directory's secret.key) the one they were stored with?"
        ) from None

    def readable(self, token: bytes) -> bool:
        """Whether the keys held (read again if need be) decrypt `token`."""
        try:
            self._current().decrypt(token)
        except InvalidToken:
            try:
                self._decrypt_after_reload(token, "token")
            except SecretKeyError:
                return False
        return True

    def rotate(self, token: bytes, *, what: str = "stored credentials") -> bytes:
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SecretKeyError(f"no configured key decrypts the {what}") from None
