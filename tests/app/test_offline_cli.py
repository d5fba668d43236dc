"""Offline commands: files in, results on stdout, one clear line for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import cli
from app.errors import InputError
from app.records_io import ReadReport, read_activities, read_contacts, read_outcomes, writer
from qualification.default_criteria import DEFAULT_CRITERIA_YAML
from qualification.population import generate_population
from qualification.records import Activity, Contact, Outcome

START = "2026-03-01T00:00:00Z"
END = "2026-06-01T00:00:00Z"
GLENGARRY = [sys.executable, "-m", "app.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point, so user-facing errors go through main()."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLENGARRY_")}
    return subprocess.run(
        [*GLENGARRY, *args],
        cwd=cwd,
        env={**clean, "GLENGARRY_DATA_DIR": str(cwd / "data")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def population(tmp_path: Path, file_format: str, n: int = 60) -> Path:
    out = tmp_path / file_format
    code, stdout, stderr = invoke(
        "population", "--contacts", str(n), "--seed", "4", "--start", START, "--end", END,
        "--out-dir", str(out), "--format", file_format,
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["contacts"] == n
    assert summary["files"]["contacts"].endswith(f"contacts.{file_format}")
    return out


def files(directory: Path, file_format: str) -> list[str]:
    return [
        "--contacts", str(directory / f"contacts.{file_format}"),
        "--activities", str(directory / f"activities.{file_format}"),
    ]  # fmt: skip


def present(contact: Contact) -> Contact:
    """CSV cannot tell a missing property from an empty one: compare without the empties."""
    return Contact(contact.id, {k: v for k, v in contact.properties.items() if v is not None})


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_population_files_read_back_as_generated(tmp_path: Path, file_format: str) -> None:
    out = population(tmp_path, file_format)
    members = list(
        generate_population(60, 4, datetime.fromisoformat(START), datetime.fromisoformat(END))
    )
    contacts = list(read_contacts(out / f"contacts.{file_format}"))
    assert [present(c) for c in contacts] == [present(m.contact) for m in members]
    activities = list(read_activities(out / f"activities.{file_format}"))
    assert activities == [a for m in members for a in m.activities]
    assert list(read_outcomes(out / f"outcomes.{file_format}")) == [m.outcome for m in members]


def test_score_gives_one_qualification_per_contact_the_same_from_jsonl_and_csv(
    tmp_path: Path,
) -> None:
    outputs = {}
    for file_format in ("jsonl", "csv"):
        out = population(tmp_path, file_format)
        code, stdout, stderr = invoke("score", *files(out, file_format), "--at", END)
        assert code == 0, stderr
        assert stderr == ""
        outputs[file_format] = stdout
    assert outputs["jsonl"] == outputs["csv"]
    lines = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert [q["contact_id"] for q in lines] == [f"c{i:07d}" for i in range(60)]
    first = lines[0]
    assert {"status", "score", "fit", "engagement", "reasons", "reasons_text"} <= set(first)
    assert "profile" not in first
    assert "engagement_state" not in first
    assert {status for q in lines for status in [q["status"]]} >= {"nurture", "sales_ready"}


def test_evaluate_prints_one_report_on_stdout_and_a_table_on_stderr(tmp_path: Path) -> None:
    out = population(tmp_path, "jsonl", n=200)
    code, stdout, stderr = invoke(
        "evaluate", *files(out, "jsonl"), "--outcomes", str(out / "outcomes.jsonl"), "--at", END
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["n"] == 200
    assert report["ranked_by"] == "score"
    assert "sales_ready" in report["conversion_by_status"]
    assert "sales_ready" in stderr
    assert "lift" in stderr
    # customers are judged on churn, read from the outcomes' churned_at
    assert (report["customers"], report["churned"]) == (14, 9)  # the 15th is disqualified
    churn = report["churn_by_status"]
    assert set(churn) >= {"customer_active", "customer_at_risk"}
    assert sum(rate["churned"] for rate in churn.values()) >= 9
    assert "churn by status" in stderr
    assert "churn lift" in stderr


def test_evaluate_shows_the_capacity_used_per_week(tmp_path: Path) -> None:
    out = population(tmp_path, "jsonl", n=300)
    capped = tmp_path / "capped.yaml"
    capped.write_text(DEFAULT_CRITERIA_YAML + "capacity: {new_conversations_per_week: 3}\n")
    args = [*files(out, "jsonl"), "--outcomes", str(out / "outcomes.jsonl"), "--at", END]
    code, stdout, stderr = invoke("evaluate", *args, "--criteria", str(capped))
    assert code == 0, stderr
    used = json.loads(stdout)["capacity_used"]
    assert used["capacity_per_week"] == 3
    assert used["ranked_by"] == "score"
    assert [week["week_ending"][:10] for week in used["weeks"]] == [
        "2026-05-11", "2026-05-18", "2026-05-25", "2026-06-01"
    ]  # fmt: skip
    assert all(week["bar"] is not None for week in used["weeks"])
    assert "capacity used a week (capacity 3, bar by score)" in stderr
    code, stdout, stderr = invoke("evaluate", *args)
    plain = json.loads(stdout)["capacity_used"]
    assert plain["capacity_per_week"] is None
    assert all(week["bar"] is None for week in plain["weeks"])
    # fewer new sales-ready leads a week under the capacity than without it
    assert sum(w["entered"] for w in used["weeks"][1:]) < sum(
        w["entered"] for w in plain["weeks"][1:]
    )
    assert "new sales-ready leads a week (no capacity stated)" in stderr
    code, stdout, _ = invoke("evaluate", *args, "--weeks", "0")
    assert "capacity_used" not in json.loads(stdout)


def test_calibrate_writes_a_proposal_and_never_overwrites_silently(tmp_path: Path) -> None:
    out = population(tmp_path, "jsonl", n=400)
    proposal = tmp_path / "proposed.yaml"
    args = [
        "calibrate", *files(out, "jsonl"), "--outcomes", str(out / "outcomes.jsonl"),
        "--at", END, "--out", str(proposal),
    ]  # fmt: skip
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["proposed_file"] == str(proposal)
    assert result["calibrated"]["ranked_by"] == "probability"
    assert result["reweighted"]["ranked_by"] == "probability"
    assert 0 < len(result["rules"]) <= 40
    assert {"kind", "signal", "label", "matched", "converted", "weight"} == set(result["rules"][0])
    assert result["candidates"] > len(result["rules"])
    assert "unconstrained" in stderr
    assert proposal.read_text().startswith("# PROPOSED criteria")
    code, stdout, _ = invoke("criteria", "check", str(proposal))
    assert code == 0
    assert result["proposed_version"] in stdout

    again = run([*args[:-1], str(proposal)], tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == f"glengarry: {proposal} exists; pass --force to overwrite it"
    over_itself = run([*args, "--criteria", str(proposal), "--force"], tmp_path)
    assert over_itself.returncode == 2
    assert "is the criteria file in use" in over_itself.stderr


def test_criteria_check_and_show_default() -> None:
    code, stdout, _ = invoke("criteria", "check", "default")
    assert code == 0
    assert stdout.startswith("criteria 'B2B SaaS default', version ")
    subscribe = "HubSpot webhooks: subscribe contact.propertyChange to "
    line = next(line for line in stdout.splitlines() if line.startswith(subscribe))
    watched = set(line.removeprefix(subscribe).split(", "))
    # What the criteria read, the rep's override, and the activity properties the connector
    # turns into page views, email opens and clicks, and form submissions.
    assert {"jobtitle", "glengarry_override", "glengarry_do_not_contact"} <= watched
    assert {
        "hs_analytics_last_visit_timestamp",
        "hs_email_last_open_date",
        "hs_email_last_click_date",
        "recent_conversion_date",
        "first_conversion_date",
    } <= watched
    # Never the fields Glengarry writes: their events are echoes of its own writes.
    assert not watched & {"glengarry_status", "glengarry_score", "glengarry_reasons"}
    code, stdout, _ = invoke("criteria", "show", "default")
    assert code == 0
    assert stdout == DEFAULT_CRITERIA_YAML.strip("\n") + "\n"


def test_a_bad_criteria_file_gets_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEFAULT_CRITERIA_YAML.replace("fit: 50  ", "fit: high").replace(
            "  - label: manager title\n", "  - label: manager title\n    colour: red\n"
        )
    )
    result = run(["criteria", "check", str(bad)], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{bad}: ") for line in lines)
    assert any("fit[3].colour: unknown key" in line for line in lines)
    assert any("thresholds.fit:" in line for line in lines)
    assert result.stdout == ""


def test_a_missing_criteria_file_is_named(tmp_path: Path) -> None:
    out = population(tmp_path, "jsonl", n=5)
    result = run(["score", *files(out, "jsonl"), "--criteria", "nope.yaml"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "glengarry: cannot read criteria file nope.yaml: No such file or directory"
    )
    assert result.stdout == ""


def test_a_malformed_jsonl_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text(
        '{"id": "c1", "properties": {"email": "a@b.com"}}\n'
        "\n"
        '{"id": "c2", "properties": {"email": "x@y.com"}\n'
    )
    result = run(["score", "--contacts", str(contacts)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"glengarry: {contacts}:3: invalid JSON")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_malformed_csv_row_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,properties.email\nc1,a@b.com\n")
    activities = tmp_path / "activities.csv"
    activities.write_text(
        "contact_id,type,occurred_at,properties.url\n"
        "c1,page_view,2026-05-01T10:00:00Z,https://x.example/pricing\n"
        "c1,page_view,2026-05-02T10:00:00,https://x.example/docs\n"
    )
    result = run(["score", "--contacts", str(contacts), "--activities", str(activities)], tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith(f"glengarry: {activities}:3: occurred_at: ")
    assert "timezone" in line


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("c.jsonl", '{"id": "c1", "properties": ["a"]}\n', "c.jsonl:1: properties: Input"),
        ("c.jsonl", '["c1"]\n', "c.jsonl:1: expected a JSON object, got list"),
        ("c.jsonl", '{"properties": {}}\n', "c.jsonl:1: id: Field required"),
        ("c.csv", "id,properties.email\nc1,a@b.com,extra\n", "c.csv:2: 3 fields, the header has 2"),
        ("c.csv", "id,id\nc1,c2\n", "c.csv:1: duplicate column names"),
        ("c.txt", "", "c.txt: unsupported file type '.txt'; use .jsonl or .csv"),
    ],
)
def test_reading_problems_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        list(read_contacts(path))
    assert str(caught.value).startswith(str(tmp_path / problem.split(":")[0]))
    assert problem.split(":", 1)[1] in str(caught.value)
    assert caught.value.exit_code == 2


def test_an_export_with_ids_and_keys_we_do_not_read_is_scored_with_one_warning_per_file(
    tmp_path: Path,
) -> None:
    """What a CRM export looks like: ids on every record, timestamps and flags we never read."""
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text(
        '{"id": "c1", "archived": false, "createdAt": "2026-01-01T00:00:00Z",'
        ' "properties": {"jobtitle": "VP Sales"}}\n'
        '{"id": "c2", "archived": false, "properties": {}}\n'
    )
    activities = tmp_path / "activities.jsonl"
    meeting = (
        '{"id": 901, "contact_id": "c1", "type": "meeting", "occurred_at": "2026-06-01T00:00:00Z",'
        ' "source": "CRM_UI", "properties": {}}\n'
    )
    activities.write_text(
        meeting
        + meeting  # the same record exported twice
        + meeting.replace('"c1"', '"c2"')  # one meeting with two attendees: two activities
        + '{"id": "902", "contact_id": "c1", "type": "call", "occurred_at": "2026-06-01T00:00:00Z",'
        ' "properties": {}}\n'
        '{"contact_id": "c1", "type": "email_open", "occurred_at": "2026-06-01T00:00:00Z"}\n'
        '{"contact_id": "c1", "type": "email_open", "occurred_at": "2026-06-01T00:00:00Z"}\n'
    )
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("contact_id,converted_at,amount\nc1,,1200\nc2,,\n")
    code, stdout, stderr = invoke(
        "evaluate", "--contacts", str(contacts), "--activities", str(activities),
        "--outcomes", str(outcomes), "--at", END,
    )  # fmt: skip
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {contacts}: ignored 3 values of keys this format does not read: "
        "archived (2), createdAt (1)",
        f"warning: {activities}: ignored 3 values of keys this format does not read: source (3)",
        f"warning: {activities}: dropped 1 repeated activities (same contact, type and id)",
        f"warning: {outcomes}: ignored 1 values of keys this format does not read: amount (1)",
    ]
    code, stdout, _ = invoke(
        "score", "--contacts", str(contacts), "--activities", str(activities), "--at", END
    )
    assert code == 0
    scored = {q["contact_id"]: q for q in map(json.loads, stdout.splitlines())}
    # one meeting (30 points), not two; the call; both id-less opens (nothing says they repeat)
    assert scored["c1"]["engagement"] == 30 + 12 + 2
    assert scored["c2"]["engagement"] == 30


def test_csv_columns_we_do_not_read_are_ignored_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "activities.csv"
    path.write_text(
        "id,contact_id,type,occurred_at,owner,properties.url\n"
        "a1,c1,page_view,2026-05-01T10:00:00Z,ann,https://x.example/pricing\n"
        "a1,c1,page_view,2026-05-01T10:00:00Z,ann,https://x.example/pricing\n"
        "a2,c1,page_view,2026-05-02T10:00:00Z,,https://x.example/docs\n"
    )
    report = ReadReport()
    read = list(read_activities(path, report))
    assert [a.properties["url"] for a in read] == [
        "https://x.example/pricing",
        "https://x.example/docs",
    ]
    assert report.unknown_keys == {"owner": 2}  # the empty cell of the last row is no value
    assert report.duplicates == 1


def test_csv_keeps_nested_properties_and_json_values_round_trip(tmp_path: Path) -> None:
    at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    records = [
        Activity("c1", "page_view", at, {"url": "https://x.example/pricing"}),
        Activity("c1", "form_submission", at, {"form": "demo-request", "page": "/demo"}),
    ]
    for suffix in ("jsonl", "csv"):
        path = tmp_path / f"activities.{suffix}"
        with writer(path, Activity) as out:
            for record in records:
                out.write(record)
        assert out.count == 2
        assert list(read_activities(path)) == records
    header = (tmp_path / "activities.csv").read_text().splitlines()[0]
    assert header == "contact_id,type,occurred_at,properties.url,properties.form,properties.page"


def test_outcomes_and_numbers_from_json_become_crm_strings(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text(
        '{"id": "c1", "properties": {"numemployees": 250, "hs_email_optout": true}}\n'
    )
    assert list(read_contacts(contacts)) == [
        Contact("c1", {"numemployees": "250", "hs_email_optout": "true"})
    ]
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("contact_id,converted_at\nc1,2026-07-01T00:00:00+02:00\nc2,\n")
    assert list(read_outcomes(outcomes)) == [
        Outcome("c1", datetime(2026, 6, 30, 22, tzinfo=UTC)),
        Outcome("c2", None),
    ]
    path = tmp_path / "out.csv"
    with writer(path, Outcome) as out:
        out.write(Outcome("c1", datetime(2026, 6, 30, 22, tzinfo=UTC)))
        out.write(Outcome("c2", None))
    assert path.read_text() == ("contact_id,converted_at\nc1,2026-06-30T22:00:00.000Z\nc2,\n")
