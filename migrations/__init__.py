"""Alembic migrations for Glengarry's storage."""
