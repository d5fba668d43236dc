"""Glengarry: continuous, explainable lead qualification inside the CRM."""

__version__ = "0.1.0"
