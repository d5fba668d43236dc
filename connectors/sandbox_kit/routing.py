"""Route templates: what calls are counted and held by ("GET /crm/v3/objects/{objectType}")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi.routing import APIRoute

UNMATCHED = "(unmatched)"


def route_template(routes: Sequence[APIRoute], method: str, path: str) -> str:
    """The matching route's path template; a path served for other methods keeps its template."""
    allowed_elsewhere: str | None = None
    for route in routes:
        if route.path_regex.match(path):
            if route.methods and method in route.methods:
                return str(route.path)
            allowed_elsewhere = allowed_elsewhere or route.path
    return allowed_elsewhere or UNMATCHED


def endpoints_of(routes: Iterable[APIRoute]) -> list[str]:
    """Every "METHOD /template" the routes serve."""
    return sorted({f"{method} {route.path}" for route in routes for method in route.methods or ()})
