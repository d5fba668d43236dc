"""What `glengarry sandbox hubspot` runs: the options checked, the sandbox started, its base URL
printed once it answers, then served until interrupted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.crm import CliOption, SandboxCommand
from connectors.hubspot.sandbox import PROFILES, SandboxConfig, SandboxError, SandboxServer
from connectors.sandbox_kit import wait_for_interrupt


def serve(values: Mapping[str, Any], echo: Callable[[str], None]) -> None:
    """ValueError names a bad option, or says why the sandbox could not start."""
    port, contacts, latency_ms = values["port"], values["contacts"], values["latency_ms"]
    webhook_url = values.get("webhook_url")
    if values["rate_limits"] not in PROFILES:
        raise ValueError(
            f"unknown --rate-limits {values['rate_limits']!r}: choose one of {', '.join(PROFILES)}"
        )
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, not {port}")
    if contacts < 0 or latency_ms < 0:
        raise ValueError("--contacts and --latency-ms must not be negative")
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise ValueError(f"--webhook-url must be an http(s) URL, not {webhook_url!r}")
    config = SandboxConfig(
        port=port,
        token=values["token"],
        contacts=contacts,
        seed=values["seed"],
        webhook_url=webhook_url,
        client_secret=values["client_secret"],
        latency_ms=latency_ms,
        rate_limits=values["rate_limits"],
    )
    try:
        server = SandboxServer(config).start()
    except SandboxError as exc:
        raise ValueError(str(exc)) from None
    echo(server.base_url)
    try:
        wait_for_interrupt()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


COMMAND = SandboxCommand(
    help="Serve a HubSpot sandbox; prints its base URL once it answers, runs until Ctrl-C.",
    options=(
        CliOption("port", "--port", "Port on 127.0.0.1 (0: any free port).", type=int, default=0),
        CliOption("contacts", "--contacts", "Contacts to generate.", type=int, default=200),
        CliOption("seed", "--seed", "Seed of the generated population.", type=int, default=1),
        CliOption("token", "--token", "The private app token.", default="sandbox-token"),
        CliOption(
            "webhook_url",
            "--webhook-url",
            "Where to POST webhook events (signed with --client-secret).",
        ),
        CliOption(
            "client_secret",
            "--client-secret",
            "The app's client secret.",
            default="sandbox-client-secret",
        ),
        CliOption(
            "latency_ms", "--latency-ms", "Latency added to every API call.", type=int, default=0
        ),
        CliOption(
            "rate_limits",
            "--rate-limits",
            f"Rate-limit profile: {', '.join(PROFILES)}.",
            default="pro",
        ),
    ),
    serve=serve,
)
