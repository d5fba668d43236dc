"""Offline commands: check criteria, score, evaluate and calibrate files, generate a population.

Nothing here touches a CRM or the database. Inputs are JSON Lines or CSV files (see
app.records_io); results go to stdout, tables and notes to stderr, so the output pipes cleanly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli import context
from app.crms import REGISTRY
from app.effectiveness import parse_horizon
from app.errors import InputError
from app.live_calibration import members_at
from app.records_io import (
    FileFormat,
    ReadReport,
    read_activities,
    read_contacts,
    read_outcomes,
    writer,
)
from qualification.calibration import Member
from qualification.calibration import calibrate as run_calibration
from qualification.capacity import CapacityUse, simulate_weeks
from qualification.criteria import Criteria, CriteriaError, default_criteria, parse_criteria
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from qualification.engine import Qualification, qualify
from qualification.evaluation import EvaluationReport, evaluate
from qualification.population import generate_population
from qualification.records import Activity, Contact, Outcome
from qualification.times import parse_instant

criteria_cli = typer.Typer(
    help="Qualification criteria: validate a file, print the default, activate a version.",
    no_args_is_help=True,
)

DEFAULT = "default"
_CRITERIA_HELP = "A criteria YAML file, or `default` for the built-in criteria."
_AT_HELP = "The instant to score at, ISO 8601 with its offset (Z for UTC); a date is midnight UTC."


# --- Criteria -----------------------------------------------------------------------------------


def _parse(spec: str) -> Criteria:
    """Load criteria by name or path; a bad file raises CriteriaError, a missing one InputError."""
    if spec == DEFAULT:
        return default_criteria()
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read criteria file {path}: {reason}") from None
    return parse_criteria(text, source=str(path))


def load_criteria(spec: str) -> Criteria:
    try:
        return _parse(spec)
    except CriteriaError as exc:
        raise InputError(str(exc)) from None


def _summary(criteria: Criteria) -> list[str]:
    rules = sum(len(etype.rules) for etype in criteria.engagement.values())
    thr, health = criteria.thresholds, criteria.customer_health
    customers = (
        f"customer engagement {thr.customer_engagement}"
        if health is None
        else f"customer health {health.at_risk_below}"
    )
    lines = [
        f"criteria {criteria.name!r}, version {criteria.version}",
        f"fit rules: {len(criteria.fit)}; engagement types: {len(criteria.engagement)} "
        f"({rules} rules); disqualifiers: {len(criteria.disqualifiers)}",
        f"thresholds: fit {thr.fit}, engagement {thr.engagement}, {customers}, "
        f"hysteresis {thr.hysteresis}",
    ]
    if health is not None:
        lines.append(
            f"customer health: base {health.base}, at risk below {health.at_risk_below}, "
            f"from {', '.join(health.activities) or 'nothing'}"
        )
    if criteria.inactivity is not None:
        lines.append(
            f"inactivity: {criteria.inactivity.points} points after "
            f"{criteria.inactivity.after_days:g} days"
        )
    if criteria.calibration is not None:
        lines.append(
            f"calibration: intercept {criteria.calibration.intercept:.3f}, "
            f"{len(criteria.calibration.coefficients)} coefficients"
        )
    lines.append("contact properties read: " + ", ".join(sorted(criteria.contact_properties)))
    # What an admin subscribes the CRM's change notifications to, for each CRM.
    properties = sorted(criteria.contact_properties)
    lines += [crm.subscription_hint(properties) for crm in REGISTRY]
    return lines


@criteria_cli.command("check")
def check(
    criteria: str = typer.Argument(..., metavar="FILE|default", help=_CRITERIA_HELP),
) -> None:
    """Validate a criteria file: its version and a summary, or one line per problem (exit 2)."""
    try:
        loaded = _parse(criteria)
    except CriteriaError as exc:
        for problem in exc.problems:
            typer.echo(f"{exc.source}: {problem}", err=True)
        raise typer.Exit(2) from None
    for line in _summary(loaded):
        typer.echo(line)


@criteria_cli.command("show")
def show(
    name: str = typer.Argument(DEFAULT, metavar="default", help="The built-in criteria."),
) -> None:
    """Print the built-in criteria YAML, a commented starting point for your own file."""
    if name != DEFAULT:
        raise InputError(f"only the built-in criteria can be shown (`default`), not {name!r}")
    typer.echo(DEFAULT_CRITERIA_YAML.strip("\n"))


# --- Inputs -------------------------------------------------------------------------------------


def _instant(text: str | None, option: str = "--at") -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Inputs:
    contacts: list[Contact]
    activities: dict[str, list[Activity]]
    outcomes: dict[str, Outcome]

    def members(self) -> Iterator[tuple[Contact, list[Activity], Outcome]]:
        for contact in self.contacts:
            yield (
                contact,
                self.activities.get(contact.id, []),
                self.outcomes.get(contact.id) or Outcome(contact.id, None),
            )


def _warn(path: Path, report: ReadReport) -> None:
    for line in report.warnings(path):
        typer.echo(f"warning: {line}", err=True)


def _load(contacts: Path, activities: Path | None, outcomes: Path | None = None) -> _Inputs:
    people: list[Contact] = []
    seen: set[str] = set()
    report = ReadReport()
    for contact in read_contacts(contacts, report):
        if contact.id in seen:
            raise InputError(f"{contacts}: contact id {contact.id!r} appears more than once")
        seen.add(contact.id)
        people.append(contact)
    _warn(contacts, report)
    by_contact: dict[str, list[Activity]] = {}
    orphans = 0
    if activities:
        report = ReadReport()
        for activity in read_activities(activities, report):
            if activity.contact_id in seen:
                by_contact.setdefault(activity.contact_id, []).append(activity)
            else:
                orphans += 1
        _warn(activities, report)
    if orphans:
        typer.echo(f"note: ignored {orphans} activities of contacts not in {contacts}", err=True)
    for history in by_contact.values():
        history.sort(key=lambda activity: activity.occurred_at)
    results: dict[str, Outcome] = {}
    if outcomes:
        report = ReadReport()
        results = {outcome.contact_id: outcome for outcome in read_outcomes(outcomes, report)}
        _warn(outcomes, report)
    return _Inputs(people, by_contact, results)


def _qualify_all(inputs: _Inputs, criteria: Criteria, at: datetime) -> Iterator[Qualification]:
    for contact in inputs.contacts:
        yield qualify(contact, inputs.activities.get(contact.id, []), criteria, at)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


# --- Commands -----------------------------------------------------------------------------------

ContactsOption = typer.Option(..., "--contacts", help="Contacts file (.jsonl or .csv).")
ActivitiesOption = typer.Option(None, "--activities", help="Activities file (.jsonl or .csv).")
OutcomesOption = typer.Option(..., "--outcomes", help="Outcomes file (.jsonl or .csv).")
CriteriaOption = typer.Option(DEFAULT, "--criteria", metavar="FILE|default", help=_CRITERIA_HELP)


def score(
    contacts: Path = ContactsOption,
    activities: Path | None = ActivitiesOption,
    criteria: str = CriteriaOption,
    at: str | None = typer.Option(None, "--at", help=_AT_HELP + " [default: now]"),
) -> None:
    """Qualify every contact: one JSON qualification per line on stdout."""
    loaded = load_criteria(criteria)
    instant = _instant(at)
    inputs = _load(contacts, activities)
    try:
        for qualification in _qualify_all(inputs, loaded, instant):
            _print_json(qualification.to_public_dict())
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has had enough: stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None


def evaluate_command(
    contacts: Path = ContactsOption,
    activities: Path | None = ActivitiesOption,
    outcomes: Path = OutcomesOption,
    criteria: str = CriteriaOption,
    at: str = typer.Option(..., "--at", help=_AT_HELP),
    weeks: int = typer.Option(
        4,
        "--weeks",
        min=0,
        help="Weeks before --at scored weekly to show the capacity used (0: none).",
    ),
) -> None:
    """Score at --at, compare with conversions after it: JSON on stdout, a table on stderr.

    With --weeks, the weeks before --at are scored weekly as the schedule would (with the
    criteria's capacity bar recomputed each week) to count the leads becoming sales-ready;
    with a capacity, the statuses at --at are those under the bar sized then."""
    loaded = load_criteria(criteria)
    instant = _instant(at)
    inputs = _load(contacts, activities, outcomes)
    use = None
    if weeks:
        members = [(c, inputs.activities.get(c.id, [])) for c in inputs.contacts]
        use = simulate_weeks(members, loaded, instant, weeks)
    scored: Iterable[Qualification] = (
        use.qualifications
        if use is not None and loaded.capacity is not None
        else _qualify_all(inputs, loaded, instant)
    )
    report = evaluate(scored, inputs.outcomes.values(), instant)
    extra = {} if use is None else {"capacity_used": use.to_dict()}
    _print_json(
        {"criteria_version": loaded.version, "at": _iso(instant), **report.to_dict(), **extra}
    )
    console = Console(stderr=True)
    console.print(_report_table(report, loaded))
    console.print(
        f"sales_ready share {_figure(report.sales_ready_share, True)}, "
        f"lift {_figure(report.lift)}, ROC AUC {_figure(report.roc_auc)} "
        f"(by {report.ranked_by}), Brier {_figure(report.brier)}"
    )
    if use is not None:
        console.print(_capacity_table(use))
    if report.customers:
        console.print(_churn_table(report))
        console.print(
            f"customer_at_risk share {_figure(report.at_risk_share, True)} of customers, "
            f"churn lift {_figure(report.at_risk_lift)} "
            f"(churn rate {_figure(report.churn_rate, True)})"
        )


def calibrate_command(
    contacts: Path | None = typer.Option(
        None, "--contacts", help="Contacts file (.jsonl or .csv); or --connection."
    ),
    activities: Path | None = ActivitiesOption,
    outcomes: Path | None = typer.Option(
        None, "--outcomes", help="Outcomes file (.jsonl or .csv); or --connection."
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the proposed criteria YAML."),
    criteria: str = CriteriaOption,
    at: str | None = typer.Option(None, "--at", help=_AT_HELP + " (with the files)"),
    connection: str | None = typer.Option(
        None,
        "--connection",
        help="Fit on a connection's stored history instead of files: contacts as they were "
        "--horizon ago, conversions since.",
    ),
    horizon: str = typer.Option(
        "90d", "--horizon", help="With --connection: how far back it is judged from (90d, 12w)."
    ),
    holdout: float = typer.Option(
        0.3, "--holdout", min=0.05, max=0.9, help="Share of the newest contacts held out."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Fit points to outcomes; print holdout metrics and write a proposal (never applied)."""
    files = {"--contacts": contacts, "--activities": activities, "--outcomes": outcomes, "--at": at}
    if connection is not None and any(value is not None for value in files.values()):
        given = ", ".join(name for name, value in files.items() if value is not None)
        raise InputError(f"--connection excludes {given}: calibrate on files or on a connection")
    if connection is None and (contacts is None or outcomes is None or at is None):
        missing = [n for n in ("--contacts", "--outcomes", "--at") if files[n] is None]
        raise InputError(f"give --connection, or the files: {', '.join(missing)} missing")
    if criteria != DEFAULT and out.resolve() == Path(criteria).resolve():
        raise InputError(f"--out {out} is the criteria file in use; write the proposal elsewhere")
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it")
    loaded = load_criteria(criteria)
    if connection is not None:
        instant, members = _stored(connection, horizon)
    elif contacts is not None and outcomes is not None:
        instant = _instant(at)
        members = list(_load(contacts, activities, outcomes).members())
    else:  # refused above
        raise InputError("give --connection, or the files")
    try:
        result = run_calibration(members, loaded, instant, holdout)
    except ValueError as exc:
        raise InputError(f"cannot calibrate: {exc}") from None
    try:
        out.write_text(result.proposed_yaml, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    _print_json(
        {
            "criteria_version": loaded.version,
            "proposed_version": result.proposed.version,
            "proposed_file": str(out),
            "at": _iso(instant),
            "given": result.given,
            "calibrated": result.calibrated,
            "reweighted": result.reweighted,
            "unconstrained_auc": None
            if result.unconstrained_auc is None
            else round(result.unconstrained_auc, 4),
            "candidates": result.candidates,
            "rules": [rule.to_dict() for rule in result.rules],
            "half_lives": dict(result.half_lives),
        }
    )
    typer.echo(
        f"holdout ROC AUC: given {_figure(result.given.get('roc_auc'))}, given rules reweighted "
        f"{_figure(result.reweighted.get('roc_auc'))}, proposed "
        f"{_figure(result.calibrated.get('roc_auc'))} ({len(result.rules)} rules of "
        f"{result.candidates} candidates), unconstrained {_figure(result.unconstrained_auc)}",
        err=True,
    )
    typer.echo(f"wrote the proposal to {out}: review it before using it", err=True)


def _stored(connection: str, horizon: str) -> tuple[datetime, list[Member]]:
    """A connection's contacts as they were `horizon` ago (app/live_calibration.py)."""
    runtime = context.runtime()
    instant = runtime.clock.now() - parse_horizon(horizon)
    with runtime.sessions() as session:
        return instant, members_at(session, connection, instant)


def population(
    contacts: int = typer.Option(..., "--contacts", min=0, help="How many contacts."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same population."),
    start: str = typer.Option(..., "--start", help="First instant of activity, ISO 8601."),
    end: str = typer.Option(..., "--end", help="Last instant of activity, ISO 8601."),
    out_dir: Path = typer.Option(..., "--out-dir", help="Directory for the three files."),
    file_format: FileFormat = typer.Option(FileFormat.JSONL, "--format", help="File format."),
) -> None:
    """Generate a synthetic population: contacts, activities and outcomes files."""
    begins, ends = _instant(start, "--start"), _instant(end, "--end")
    if begins >= ends:
        raise InputError("--start must be before --end")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    names = ("contacts", "activities", "outcomes")
    paths = {name: out_dir / f"{name}.{file_format.value}" for name in names}
    converted = 0
    with (
        writer(paths["contacts"], Contact) as people,
        writer(paths["activities"], Activity) as history,
        writer(paths["outcomes"], Outcome) as results,
    ):
        for member in generate_population(contacts, seed, begins, ends):
            people.write(member.contact)
            for activity in member.activities:
                history.write(activity)
            results.write(member.outcome)
            converted += member.outcome.converted_at is not None
    _print_json(
        {
            "contacts": people.count,
            "activities": history.count,
            "converted": converted,
            "files": {name: str(path) for name, path in paths.items()},
        }
    )


# --- Presentation -------------------------------------------------------------------------------


def _iso(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _figure(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def _report_table(report: EvaluationReport, criteria: Criteria) -> Table:
    table = Table(title=f"{criteria.name} ({criteria.version})", title_justify="left")
    for column in ("status", "contacts", "converted", "rate"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for status, rate in report.conversion_by_status.items():
        table.add_row(status, str(rate.n), str(rate.converted), _figure(rate.rate, percent=True))
    table.add_section()
    table.add_row("all", str(report.n), str(report.converted), _figure(report.base_rate, True))
    return table


def _churn_table(report: EvaluationReport) -> Table:
    table = Table(title="churn by status", title_justify="left")
    for column in ("status", "contacts", "churned", "rate"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for status, rate in report.churn_by_status.items():
        table.add_row(status, str(rate.n), str(rate.churned), _figure(rate.rate, percent=True))
    table.add_section()
    table.add_row(
        "customers", str(report.customers), str(report.churned), _figure(report.churn_rate, True)
    )
    return table


def _capacity_table(use: CapacityUse) -> Table:
    by = "-" if use.bar is None else use.bar.by
    title = (
        "new sales-ready leads a week (no capacity stated)"
        if use.capacity is None
        else f"capacity used a week (capacity {use.capacity}, bar by {by})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("week ending", "became ready", "sales_ready", "bar"):
        table.add_column(column, justify="left" if column == "week ending" else "right")
    for week in use.weeks:
        bar = "-" if week.bar is None else f"{week.bar:.3g}"
        table.add_row(_iso(week.ending)[:10], str(week.entered), str(week.ready), bar)
    return table
