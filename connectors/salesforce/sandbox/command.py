"""`glengarry sandbox salesforce`: its options, for the app's command line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connectors.crm import CliOption, SandboxCommand
from connectors.sandbox_kit import SandboxError


def serve(values: Mapping[str, Any], echo: Callable[[str], None]) -> None:
    # Imported here: the Salesforce sandbox loads TLS and JWT libraries other commands skip.
    from connectors.salesforce.sandbox.cli import serve as serve_org

    try:
        serve_org(**values, echo=echo)
    except SandboxError as exc:
        raise ValueError(str(exc)) from None


COMMAND = SandboxCommand(
    help="Serve a Salesforce sandbox over HTTPS; prints its instance URL once ready.",
    options=(
        CliOption("port", "--port", "Port on 127.0.0.1 (0: any free port).", type=int, default=0),
        CliOption("contacts", "--contacts", "People to generate.", type=int, default=200),
        CliOption("seed", "--seed", "Seed of the generated population.", type=int, default=1),
        CliOption(
            "cert_dir",
            "--cert-dir",
            "Where ca.pem, jwt-key.pem and credentials.json are written.",
            type=Path,
            required=True,
        ),
        CliOption(
            "latency_ms", "--latency-ms", "Latency added to every API call.", type=int, default=0
        ),
        CliOption(
            "daily_api_limit",
            "--daily-api-limit",
            "API calls allowed per rolling 24 hours.",
            type=int,
            default=15_000,
        ),
        CliOption(
            "session_ttl_seconds",
            "--session-ttl-seconds",
            "How long an OAuth session lasts.",
            type=int,
            default=7_200,
        ),
        CliOption(
            "outbound_url", "--outbound-url", "Send Lead and Contact Outbound Messages here."
        ),
        CliOption(
            "multi_currency",
            "--multi-currency",
            "Turn multi-currency on: each Opportunity in its country's currency.",
            type=bool,
            default=False,
        ),
        CliOption("currency", "--currency", "The org's corporate currency.", default="USD"),
        CliOption(
            "no_feedback_management",
            "--no-feedback-management",
            "An org without the Feedback Management licence: no survey objects.",
            type=bool,
            default=False,
        ),
    ),
    serve=serve,
)
