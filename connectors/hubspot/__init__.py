"""HubSpot: the connector, its webhook source, and the sandbox that imitates HubSpot's API."""

from connectors.hubspot.client import HubSpotConnector, HubSpotOptions

__all__ = ["HubSpotConnector", "HubSpotOptions"]
