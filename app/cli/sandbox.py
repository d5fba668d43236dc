"""`glengarry sandbox hubspot`: a local HubSpot to develop, test and demo against."""

from __future__ import annotations

import threading
from pathlib import Path

import typer

from app.errors import ConfigurationError
from connectors.hubspot.sandbox import PROFILES, SandboxConfig, SandboxError, SandboxServer

sandbox_cli = typer.Typer(
    help="Local CRM sandboxes that behave like the real APIs.", no_args_is_help=True
)


@sandbox_cli.command("hubspot")
def hubspot(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    contacts: int = typer.Option(200, "--contacts", help="Contacts to generate."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated population."),
    token: str = typer.Option("sandbox-token", "--token", help="The private app token."),
    webhook_url: str | None = typer.Option(
        None, "--webhook-url", help="Where to POST webhook events (signed with --client-secret)."
    ),
    client_secret: str = typer.Option(
        "sandbox-client-secret", "--client-secret", help="The app's client secret."
    ),
    latency_ms: int = typer.Option(0, "--latency-ms", help="Latency added to every API call."),
    rate_limits: str = typer.Option(
        "pro", "--rate-limits", help=f"Rate-limit profile: {', '.join(PROFILES)}."
    ),
) -> None:
    """Serve a HubSpot sandbox; prints its base URL once it answers, runs until Ctrl-C."""
    if rate_limits not in PROFILES:
        raise ConfigurationError(
            f"unknown --rate-limits {rate_limits!r}: choose one of {', '.join(PROFILES)}"
        )
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"--port must be between 0 and 65535, not {port}")
    if contacts < 0 or latency_ms < 0:
        raise ConfigurationError("--contacts and --latency-ms must not be negative")
    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"--webhook-url must be an http(s) URL, not {webhook_url!r}")
    config = SandboxConfig(
        port=port,
        token=token,
        contacts=contacts,
        seed=seed,
        webhook_url=webhook_url,
        client_secret=client_secret,
        latency_ms=latency_ms,
        rate_limits=rate_limits,
    )
    try:
        server = SandboxServer(config).start()
    except SandboxError as exc:
        raise ConfigurationError(str(exc)) from None
    typer.echo(server.base_url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@sandbox_cli.command("salesforce")
def salesforce(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    contacts: int = typer.Option(200, "--contacts", help="People to generate."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated population."),
    cert_dir: Path = typer.Option(
        ..., "--cert-dir", help="Where ca.pem, jwt-key.pem and credentials.json are written."
    ),
    latency_ms: int = typer.Option(0, "--latency-ms", help="Latency added to every API call."),
    daily_api_limit: int = typer.Option(
        15_000, "--daily-api-limit", help="API calls allowed per rolling 24 hours."
    ),
    session_ttl_seconds: int = typer.Option(
        7_200, "--session-ttl-seconds", help="How long an OAuth session lasts."
    ),
    outbound_url: str | None = typer.Option(
        None, "--outbound-url", help="Send Lead and Contact Outbound Messages here."
    ),
) -> None:
    """Serve a Salesforce sandbox over HTTPS; prints its instance URL once ready."""
    # Imported here: the Salesforce sandbox loads TLS and JWT libraries other commands skip.
    from connectors.salesforce.sandbox.cli import serve

    try:
        serve(
            port=port,
            contacts=contacts,
            seed=seed,
            cert_dir=cert_dir,
            latency_ms=latency_ms,
            daily_api_limit=daily_api_limit,
            session_ttl_seconds=session_ttl_seconds,
            echo=typer.echo,
            outbound_url=outbound_url,
        )
    except (ValueError, SandboxError) as exc:
        raise ConfigurationError(f"sandbox salesforce: {exc}") from None
