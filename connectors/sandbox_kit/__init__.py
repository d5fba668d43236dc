"""What every CRM sandbox is made of, whatever CRM it imitates.

A server thread (uvicorn, optionally HTTPS), call counting per route template and status,
fault injection and latency, holding calls to a route open, the `/_sandbox/dump` record shape,
and loading a generated population. The CRM sandboxes (`connectors.hubspot.sandbox`,
`connectors.salesforce.sandbox`) build on it; it imports none of them, and no connector imports
it (import-linter contracts in pyproject.toml).
"""

from connectors.sandbox_kit.currencies import CURRENCY_OF_COUNTRY
from connectors.sandbox_kit.dump import DumpRecord, dump_body
from connectors.sandbox_kit.faults import Draw, FaultConfig, Faults, pop_actions
from connectors.sandbox_kit.holds import Holds
from connectors.sandbox_kit.population import POPULATION_DAYS, SeedMember, generated_members
from connectors.sandbox_kit.routing import endpoints_of, route_template
from connectors.sandbox_kit.server import SandboxError, ServerThread, TlsFiles, wait_for_interrupt
from connectors.sandbox_kit.stats import CallStats
from connectors.sandbox_kit.turnstile import Turnstile, respond_json

__all__ = [
    "CURRENCY_OF_COUNTRY",
    "POPULATION_DAYS",
    "CallStats",
    "Draw",
    "DumpRecord",
    "FaultConfig",
    "Faults",
    "Holds",
    "SandboxError",
    "SeedMember",
    "ServerThread",
    "TlsFiles",
    "Turnstile",
    "dump_body",
    "endpoints_of",
    "generated_members",
    "pop_actions",
    "respond_json",
    "route_template",
    "wait_for_interrupt",
]
