"""The connector's backfill through Bulk API 2.0 against the sandbox: the count that decides,
the same contacts (and the same stored rows) as through REST, jobs that fail, are aborted or
lose their results falling back to REST with nothing lost or repeated, and a job that never
ends polled with backoff. What was sent is read from the sandbox's own counts and job log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Contact
from app.sync.store import store_contacts
from connectors.base import ContactBatch, CrmContact
from connectors.errors import ConnectorError
from connectors.salesforce.bulk import Polling
from connectors.salesforce.cursor import FullListing, SyncCursor
from connectors.salesforce.sandbox import SandboxServer
from tests.sync.helpers import add_connection

from .conftest import connector, control, drain, population, start_org

DATA = "/services/data/v62.0"
CREATE = f"POST {DATA}/jobs/query"
CRITERIA = ["jobtitle", "industry", "numemployees", "country", "email", "hs_email_optout"]
LEADS = 23
QUICK = Polling(initial=0.01, factor=2.0, maximum=0.05, timeout=5.0)
REST_ONLY = 10**9
PLANNED = (0.1, 0.2, 0.4, 0.4, 0.4)  # the waits between the looks of the backoff test


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """23 Leads (one converted, one deleted), four Contacts (the converted Lead's among them)."""
    server = start_org(tmp_path_factory.mktemp("bulk"), population(LEADS))
    leads = server.store.records("Lead")
    server.store.convert_lead(leads[0])
    server.store.delete(leads[1])
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def plain_plan(org: SandboxServer) -> Iterator[None]:
    yield
    with control(org) as sandbox:
        sandbox.post("/bulk", json={"steps": 1, "end": "JobComplete", "delete_after_pages": None})


def _ids(org: SandboxServer, sobject: str) -> set[str]:
    return {r.id for r in org.store.records(sobject)}


def _jobs(org: SandboxServer) -> list[dict[str, Any]]:
    with control(org) as sandbox:
        log: list[dict[str, Any]] = sandbox.get("/bulk").json()["log"]
        return log


def _calls(org: SandboxServer) -> dict[str, int]:
    return {route: sum(by.values()) for route, by in org.stats()["calls"].items()}


async def _sync(
    org: SandboxServer, since: str | None = None, *, stop_after: int | None = None, **options: Any
) -> list[ContactBatch]:
    options.setdefault("bulk_polling", QUICK)
    sf = connector(org, properties=CRITERIA, **options)
    try:
        if stop_after is None:
            batches, _ = await drain(sf, since)
            return batches
        got: list[ContactBatch] = []
        pages = sf.contacts(since).__aiter__()
        while len(got) < stop_after:
            got.append(await anext(pages))
        await pages.aclose()  # the run stops: a job still open is aborted and deleted
        return got
    finally:
        await sf.aclose()


def _people(batches: Sequence[ContactBatch]) -> list[CrmContact]:
    return [c for b in batches for c in b.contacts]


def _listed_once(org: SandboxServer, people: Sequence[CrmContact]) -> None:
    """Every live Lead and Contact handed out, each exactly once as itself (a converted Lead's
    Contact also comes, merged, with the Lead's batch)."""
    leads = Counter(c.crm_id for c in people if c.kind == "lead")
    assert set(leads) == _ids(org, "Lead")
    assert set(leads.values()) == {1}
    contacts = Counter(c.crm_id for c in people if c.kind == "contact" and not c.merged_crm_ids)
    assert set(contacts) == _ids(org, "Contact")
    assert set(contacts.values()) == {1}


def _sorted(people: Sequence[CrmContact]) -> list[CrmContact]:
    return sorted(people, key=lambda c: (c.kind, c.crm_id, c.merged_crm_ids))


# -- the switch -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "jobs"),
    [(21, {"Lead"}), (22, set()), (4, {"Lead"}), (3, {"Lead", "Contact"}), (REST_ONLY, set())],
)
async def test_the_count_decides_per_object_between_rest_and_a_bulk_job(
    org: SandboxServer, threshold: int, jobs: set[str]
) -> None:
    # 22 live Leads (the deleted one is not counted, as a full listing does not read it) and
    # 4 Contacts: a job for an object with more records than the threshold, REST otherwise.
    assert (len(_ids(org, "Lead")), len(_ids(org, "Contact"))) == (22, 4)
    with control(org) as sandbox:
        sandbox.post("/stats/reset")
    before = len(_jobs(org))
    batches = await _sync(org, bulk_threshold=threshold)
    created = _jobs(org)[before:]
    assert {job["object"] for job in created} == jobs
    assert all(job["operation"] == "query" and job["state"] == "JobComplete" for job in created)
    assert _calls(org).get(CREATE, 0) == len(jobs)  # no job created but those
    _listed_once(org, _people(batches))


# -- the same contacts, the same rows -------------------------------------------------------


async def test_bulk_and_rest_hand_out_the_same_contacts(org: SandboxServer) -> None:
    rest = _people(await _sync(org, bulk_threshold=REST_ONLY))
    bulk = _people(await _sync(org, bulk_threshold=0, bulk_max_records=4))
    assert _jobs(org)[-1]["pagesServed"] == 1  # the Contacts' job: 4 rows, one page
    assert _jobs(org)[-2]["pagesServed"] == 6  # the Leads': 22 rows, pages of 4
    assert _sorted(bulk) == _sorted(rest)
    assert any(c.merged_crm_ids for c in rest)  # the converted Lead's Contact, followed
    assert {c.properties["lifecyclestage"] for c in rest} == {"lead", "customer", None}


async def test_bulk_and_rest_store_the_same_rows(org: SandboxServer, session: Session) -> None:
    now = datetime.now(UTC)
    stored: dict[str, list[tuple[Any, ...]]] = {}
    for name, threshold in (("rest", REST_ONLY), ("bulk", 0)):
        connection = add_connection(session, name)
        for batch in await _sync(org, bulk_threshold=threshold, bulk_max_records=5):
            store_contacts(session, connection, batch.contacts, now)
        session.flush()
        rows = session.scalars(
            select(Contact).where(Contact.connection_id == connection).order_by(Contact.crm_id)
        ).all()
        stored[name] = [
            (
                r.crm_id,
                r.kind,
                r.email,
                r.properties,
                r.is_customer,
                r.deleted_at is not None,
                r.crm_modified_at,
                r.merged_into_id is not None,
            )
            for r in rows
        ]
    assert len(stored["rest"]) == LEADS - 1 + org.store.count("Contact")
    assert stored["bulk"] == stored["rest"]


# -- falling back ---------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["Failed", "Aborted"])
async def test_a_failed_or_aborted_job_falls_back_to_rest_from_the_last_cursor(
    org: SandboxServer, end: str
) -> None:
    # A first run reads two batches of 5 Leads through Bulk, then stops.
    first = await _sync(org, bulk_threshold=0, bulk_max_records=5, stop_after=2)
    cursor = SyncCursor.loads(first[-1].cursor)
    assert cursor is not None
    assert cursor.full is not None
    assert cursor.full.after_id == max(c.crm_id for c in _people(first) if c.kind == "lead")
    # The next run's job (for the Leads still to read) ends Failed, or is aborted in Setup.
    with control(org) as sandbox:
        sandbox.post("/bulk", json={"steps": 2, "end": end, "after_records": 3})
        sandbox.post("/stats/reset")
    before = len(_jobs(org))
    rest = await _sync(org, first[-1].cursor, bulk_threshold=0, bulk_max_records=5)
    lead_job, contact_job = _jobs(org)[before:]
    assert (lead_job["object"], lead_job["state"]) == ("Lead", end)
    assert (contact_job["object"], contact_job["state"]) == ("Contact", end)
    _listed_once(org, _people([*first, *rest]))
    assert not {c.crm_id for c in _people(first)} & {
        c.crm_id for c in _people(rest) if c.kind == "lead"
    }


async def test_results_that_vanish_part_way_are_read_on_through_rest(org: SandboxServer) -> None:
    with control(org) as sandbox:
        sandbox.post("/bulk", json={"delete_after_pages": 2})  # deleted in Setup meanwhile
    before = len(_jobs(org))
    batches = await _sync(org, bulk_threshold=0, bulk_max_records=5)
    lead_job, contact_job = _jobs(org)[before:]
    assert lead_job["pagesServed"] == 2  # 10 Leads through Bulk, the third page was 404
    assert contact_job["pagesServed"] == 1  # 4 Contacts: one page, read whole
    through_bulk = [sum(c.kind == "lead" for c in b.contacts) for b in batches[:2]]
    assert through_bulk == [5, 5]
    _listed_once(org, _people(batches))


async def test_a_job_that_stays_in_progress_is_polled_with_backoff(org: SandboxServer) -> None:
    with control(org) as sandbox:
        sandbox.post("/bulk", json={"steps": 1_000_000})  # never ends by itself
    before = len(_jobs(org))
    polling = Polling(initial=0.05, factor=2.0, maximum=0.4, timeout=1.5)
    batches = await _sync(org, bulk_threshold=LEADS - 2, bulk_polling=polling)
    (job,) = _jobs(org)[before:]
    assert (job["object"], job["state"]) == ("Lead", "Aborted")  # given up, and aborted
    checks: list[float] = job["statusChecks"]
    gaps = [later - earlier for earlier, later in pairwise(checks)]
    # Six looks in 1.55 s, each at least the schedule's wait after the one before (0.05 s, then
    # 0.1, 0.2, 0.4, 0.4, 0.4 apart), not a look a request.
    assert len(checks) == 6
    assert checks[0] >= 0.045
    assert all(gap >= 0.9 * planned for gap, planned in zip(gaps, PLANNED, strict=True))
    _listed_once(org, _people(batches))  # ... and the Leads came through REST


def test_a_listing_in_id_order_is_kept_in_the_cursor() -> None:
    started = datetime(2026, 5, 1, tzinfo=UTC)
    cursor = SyncCursor(full=FullListing("Lead", started, started, "00Q5e000000000YEAQ"))
    assert SyncCursor.loads(cursor.dumps()) == cursor
    text = cursor.dumps().replace("00Q5e000000000YEAQ", "x' OR Id != '")
    with pytest.raises(ConnectorError, match="after_id that is not a record id"):
        SyncCursor.loads(text)
