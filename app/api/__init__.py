"""The HTTP service: health, webhooks, operations."""

from app.api.app import create_app

__all__ = ["create_app"]
