"""What `glengarry sandbox salesforce` runs: the options checked, the org started, its
instance URL printed once `credentials.json` is written, then served until interrupted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connectors.salesforce.sandbox.config import SandboxConfig
from connectors.salesforce.sandbox.server import SandboxServer
from connectors.sandbox_kit import wait_for_interrupt


def serve(
    *,
    port: int,
    contacts: int,
    seed: int,
    cert_dir: Path,
    latency_ms: int,
    daily_api_limit: int,
    session_ttl_seconds: int,
    echo: Callable[[str], None],
    outbound_url: str | None = None,
    multi_currency: bool = False,
    currency: str = "USD",
    no_feedback_management: bool = False,
) -> None:
    """Serve until Ctrl-C. ValueError names a bad option; SandboxError: it could not start."""
    if not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        raise ValueError(f"--currency must be an ISO 4217 code like USD, not {currency!r}")
    config = SandboxConfig(
        port=port,
        contacts=contacts,
        seed=seed,
        cert_dir=cert_dir,
        latency_ms=latency_ms,
        daily_api_limit=daily_api_limit,
        session_ttl_seconds=session_ttl_seconds,
        outbound_url=outbound_url,
        multi_currency=multi_currency,
        currency=currency,
        feedback_management=not no_feedback_management,
    )
    server = SandboxServer(config).start()
    echo(server.instance_url)
    try:
        wait_for_interrupt()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
