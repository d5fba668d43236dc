"""Salesforce: the connector and its sandbox."""
