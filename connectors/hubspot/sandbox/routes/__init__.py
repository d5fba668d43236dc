"""The sandbox's HTTP routes, one module per HubSpot API (and one for the sandbox's own)."""
