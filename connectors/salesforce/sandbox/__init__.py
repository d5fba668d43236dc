"""A local Salesforce org: the test double of the Salesforce connector, and the demo's CRM.

An HTTPS FastAPI app serving what Glengarry uses of Salesforce's REST API at one pinned
version (OAuth JWT bearer and client credentials, SOQL query and queryAll with paging,
describe with field-level security, sObject rows and Collections, replication, the Tooling
API's CustomField, the permission objects, limits) with Salesforce's bodies and errors, sends
Outbound Messages (SOAP, retried until acknowledged), plus `/_sandbox/...` routes for tests and
the demo. Built on `connectors.sandbox_kit`; its SOQL
engine is `connectors.salesforce.sandbox.soql`. See README.md beside this file.
"""

from connectors.salesforce.sandbox.app import create_app
from connectors.salesforce.sandbox.catalog import API_VERSION
from connectors.salesforce.sandbox.config import SandboxConfig
from connectors.salesforce.sandbox.faults import FaultConfig
from connectors.salesforce.sandbox.server import SandboxServer
from connectors.salesforce.sandbox.store import Record, Store
from connectors.sandbox_kit import SandboxError

__all__ = [
    "API_VERSION",
    "FaultConfig",
    "Record",
    "SandboxConfig",
    "SandboxError",
    "SandboxServer",
    "Store",
    "create_app",
]
