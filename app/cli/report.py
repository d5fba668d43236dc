"""`glengarry report CONNECTION`: the effectiveness report from the stored history, as JSON on
stdout (and a short table on stderr when it is a terminal)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli import context
from app.effectiveness import parse_horizon, report
from app.errors import InputError
from qualification.times import parse_instant

stderr = Console(stderr=True)


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def report_command(
    connection: str = typer.Argument(..., help="Connection name or id."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Start of the window (ISO date or time); the cohort is judged by its status then. "
        "Default: --as-of minus --horizon.",
    ),
    horizon: str = typer.Option(
        "90d", "--horizon", help="How long a conversion may take to count (90d, 12w)."
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="End of the window: the report as it would have been then (default: now).",
    ),
) -> None:
    """Is qualification working? Lift, conversion by status, close rates, forecast against
    actual, flows, speed to lead, customers at risk and happiness by the status before the
    sale; every rate with its n, groups under 30 marked small."""
    runtime = context.runtime()
    until = _instant(as_of, "--as-of") or runtime.clock.now()
    with runtime.sessions() as session:
        body = report(
            session,
            connection,
            until=until,
            horizon=parse_horizon(horizon),
            since=_instant(since, "--since"),
        )
    sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    if stderr.is_terminal:
        stderr.print(summary(body))


def _rate(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value)
    shown = "-" if value.get("rate") is None else f"{value['rate']:.1%}"
    small = " (small)" if value.get("small") else ""
    return f"{shown} of {value.get('n', 0):,}{small}"


def summary(body: dict[str, Any]) -> Table:
    """The headline figures, for a person at a terminal (the JSON has them all)."""
    table = Table(title=f"Effectiveness of {body['connection']}", show_header=False)
    lift = body["lift"]
    if isinstance(lift, dict):
        table.add_row("lift", "-" if lift["value"] is None else f"{lift['value']:.2f}x")
        table.add_row("sales_ready converted", _rate(lift["sales_ready"]))
        table.add_row("all converted", _rate(lift["all"]))
    else:
        table.add_row("lift", str(lift))
    speed = body["speed_to_lead"]
    table.add_row("reached within a day", _rate(speed["within_a_day"]))
    table.add_row("left sales_ready unworked", _rate(body["left_unworked"]))
    table.add_row("customers at risk", _rate(body["customers"]["at_risk_share"]))
    happiness = body["happiness_by_presale_status"]
    if isinstance(happiness, str):
        table.add_row("happiness", happiness)
    else:
        for status, voice in happiness.items():
            nps = voice["nps"]
            figure = "-" if nps["score"] is None else f"{nps['score']:+.0f}"
            table.add_row(f"NPS sold as {status}", f"{figure} of {nps['n']}")
    return table
