"""The files a Salesforce sandbox hands out: a CA (`trustme`) and the server certificate it
signs for 127.0.0.1 and localhost, since Salesforce clients always speak HTTPS; and the
connected app's JWT key pair: `jwt-key.pem`, the private key a client signs assertions with,
whose self-signed certificate the connected app holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.sandbox_kit import TlsFiles


@dataclass(frozen=True, slots=True)
class JwtKeys:
    private_key_pem: bytes
    certificate_pem: bytes


def write_tls(directory: Path) -> TlsFiles:
    """A fresh CA in DIR/ca.pem and a server certificate and key it signed."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="Glengarry Salesforce sandbox")
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(
        cert_chain=directory / "server-cert.pem",
        private_key=directory / "server-key.pem",
        ca=directory / "ca.pem",
    )
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.private_key))
    files.private_key.chmod(0o600)
    files.cert_chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return files


def make_jwt_keys(common_name: str = "glengarry-sandbox-connected-app") -> JwtKeys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return JwtKeys(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
    )
