"""Salesforce: the connector (Leads and Contacts, their activities, Glengarry's fields and
permission sets, write-back), and the sandbox that imitates an org (`sandbox/`, which the
connector never imports)."""

from connectors.salesforce.auth import ClientCredentials, Identity, JwtBearer, SalesforceLogin
from connectors.salesforce.client import SalesforceConnector, SalesforceOptions
from connectors.salesforce.credentials import SalesforceCredentials, login_for
from connectors.salesforce.describe import Schema
from connectors.salesforce.fields import API_NAMES
from connectors.salesforce.install import InstallReport
from connectors.salesforce.rest import API_VERSION

__all__ = [
    "API_NAMES",
    "API_VERSION",
    "ClientCredentials",
    "Identity",
    "InstallReport",
    "JwtBearer",
    "SalesforceConnector",
    "SalesforceCredentials",
    "SalesforceLogin",
    "SalesforceOptions",
    "Schema",
    "login_for",
]
