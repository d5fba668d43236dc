"""A local HubSpot: the test double of the HubSpot connector, and the demo's CRM.

A FastAPI app that serves what Glengarry uses of HubSpot's API (CRM objects v3, search,
associations v4, properties, OAuth, account info) with HubSpot's bodies, errors, rate limits
and signed webhooks, plus `/_sandbox/...` routes to count calls, inject faults, simulate new
activity, restore archived contacts, hold a route open and dump Glengarry's values. Built on
the neutral `connectors.sandbox_kit`. See README.md beside this file.
"""

from connectors.hubspot.sandbox.app import create_app
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.faults import FaultConfig
from connectors.hubspot.sandbox.ratelimit import PROFILES, RateLimitProfile
from connectors.hubspot.sandbox.seed import apply_activity, seed
from connectors.hubspot.sandbox.server import SandboxError, SandboxServer
from connectors.hubspot.sandbox.store import Change, ChangeKind, CrmObject, Store
from connectors.sandbox_kit import SeedMember

__all__ = [
    "PROFILES",
    "Change",
    "ChangeKind",
    "CrmObject",
    "FaultConfig",
    "RateLimitProfile",
    "SandboxConfig",
    "SandboxError",
    "SandboxServer",
    "SeedMember",
    "Store",
    "apply_activity",
    "create_app",
    "seed",
]
