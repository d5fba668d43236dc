"""The CRMs Glengarry serves: one entry per CRM package, the only list of them in the app.

Everything the app does with a CRM (routes, commands, connectors, webhook verifiers, rate
limits) it finds here by a connection's `kind`. Adding a CRM means adding a package that
describes itself (`connectors.crm.Crm`) and one line below.
"""

from __future__ import annotations

import importlib

from app.errors import InputError
from connectors.crm import Crm, SandboxCommand
from connectors.hubspot.crm import CRM as HUBSPOT
from connectors.salesforce.crm import CRM as SALESFORCE

REGISTRY: tuple[Crm, ...] = (HUBSPOT, SALESFORCE)
_BY_KIND = {crm.kind: crm for crm in REGISTRY}


class UnknownCrm(InputError):
    pass


def kinds() -> tuple[str, ...]:
    return tuple(_BY_KIND)


def crm_for(kind: str) -> Crm:
    crm = _BY_KIND.get(kind)
    if crm is None:
        raise UnknownCrm(f"no CRM {kind!r} (known: {', '.join(_BY_KIND)})")
    return crm


def sandbox_command(crm: Crm) -> SandboxCommand:
    """A CRM's sandbox command, imported only when asked for (no connector imports a sandbox)."""
    command: SandboxCommand = importlib.import_module(crm.sandbox_module).COMMAND
    return command
