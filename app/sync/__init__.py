"""Sync orchestration: pull from the CRM, store, score, write back."""
