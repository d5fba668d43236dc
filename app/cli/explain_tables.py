"""`glengarry explain` on a terminal: the answer of `app.explain` as tables, one for the
status and what it rests on, one per list (fit signals, engagement now, transitions)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _points(value: Any) -> str:
    return f"{value:+g}" if isinstance(value, int | float) else _text(value)


def explain_tables(answer: dict[str, Any]) -> list[RenderableType]:
    contact, why = answer["contact"], answer["qualification"]
    summary = Table("field", "value", show_header=False, title=f"contact {contact['crm_id']}")
    for name in ("crm_id", "connection", "kind", "id", "deleted_at"):
        summary.add_row(name, _text(contact[name]))
    if why is None:
        summary.add_row("status", "not scored yet")
        return [summary]
    now = why["engagement_now"]
    written = why["written"]
    rows = {
        "status": why["status"],
        "status_since": why["status_since"],
        "score": why["score"],
        "fit": why["fit"],
        "engagement": why["engagement"],
        "engagement_now": f"{now['points']} at {now['at']}",
        "reasons": why["reasons_text"],
        "disqualifier": why["disqualifier"],
        "override": why["override"],
        "thresholds": why["thresholds"],
        "next_change_at": why["next_change_at"],
        "conversion_probability": why["conversion_probability"],
        "criteria_version": f"{why['criteria_version']}"
        + ("" if why["criteria_active"] else " (not the active one)"),
        "computed_at": why["computed_at"],
        "written_at": written["at"],
        "written_values": written["values"],
    }
    for name, value in rows.items():
        summary.add_row(name, _text(value))
    tables: list[RenderableType] = [summary]
    fit = Table("signal", "label", "points", title="fit signals")
    for reason in why["fit_reasons"]:
        fit.add_row(reason["signal"], reason["label"], _points(reason["points"]))
    engagement = Table("signal", "label", "points", "last_at", title="engagement now")
    for signal in now["signals"]:
        engagement.add_row(
            signal["signal"], signal["label"], _points(signal["points"]), _text(signal["last_at"])
        )
    history = Table("at", "from", "to", "reason", "criteria_version", title="transitions")
    for t in why["transitions"]:
        history.add_row(
            _text(t["at"]), _text(t["from"]), t["to"], _text(t["reason"]), t["criteria_version"]
        )
    tables += [fit, engagement, history]
    return tables
