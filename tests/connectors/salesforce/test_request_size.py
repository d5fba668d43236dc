"""No request passes 16 KB (URI and headers together, Salesforce's limit): id lists are split
across statements, and a field list too long for one is read partly by id, in a body."""

from __future__ import annotations

import json
import math
import ssl
from collections.abc import Iterator

import httpx
import pytest

from connectors.salesforce.rest import MAX_REQUEST_BYTES
from connectors.salesforce.sandbox import SandboxServer

from .conftest import connector, drain, population, start_org

CRITERIA = ["jobtitle", "industry", "numemployees", "country", "email", "hs_email_optout"]


class Recording(httpx.AsyncBaseTransport):
    """The real transport, noting each request's size (request line target and headers)."""

    def __init__(self, org: SandboxServer) -> None:
        trust = ssl.create_default_context(cafile=str(org.ca_file))
        self.inner = httpx.AsyncHTTPTransport(verify=trust)
        self.sizes: list[tuple[int, str]] = []
        self.composites: list[list[str]] = []  # each POST composite's subrequest urls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = sum(len(k) + len(v) + 4 for k, v in request.headers.raw)
        size = len(request.method) + len(request.url.raw_path) + 11 + headers  # "GET  HTTP/1.1\r\n"
        self.sizes.append((size, request.url.path))
        if request.method == "POST" and request.url.path.endswith("/composite"):
            # Each subrequest, sized as the GET it stands for would be on its own.
            urls = [sub["url"] for sub in json.loads(request.content)["compositeRequest"]]
            self.composites.append(urls)
            self.sizes += [(len(f"GET {url} HTTP/1.1\r\n") + headers, url) for url in urls]
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start_org(tmp_path_factory.mktemp("crowd"), population(1_500))
    yield server
    server.stop()


async def test_activity_reads_for_many_people_are_split_under_the_limit(
    crowd: SandboxServer,
) -> None:
    recording = Recording(crowd)
    sf = connector(crowd, transport=recording)
    try:
        _, people = await drain(sf, None)
        recording.composites.clear()
        activities = await sf.activities(list(people.values()))
    finally:
        await sf.aclose()
    assert len(people) == 1_503
    assert max(size for size, _ in recording.sizes) <= MAX_REQUEST_BYTES
    # The activity statements went through POST composite, five a call at most.
    statements = [url for urls in recording.composites for url in urls]
    assert max(len(urls) for urls in recording.composites) == 5
    # Each read packs its own: the activity objects together, the Contacts' Cases, the survey
    # answers (they are read side by side).
    families = [
        ("FROM+Task", "FROM+Event", "FROM+CampaignMember"),
        ("FROM+Case",),
        ("FROM+Survey",),
    ]
    per_family = [sum(any(f in u for f in family) for u in statements) for family in families]
    assert sum(per_family) == len(statements)
    assert len(recording.composites) == sum(math.ceil(n / 5) for n in per_family)
    task_reads = [u for u in statements if "FROM+Task" in u and len(u) > 8_000]
    assert len(task_reads) >= 3  # 1,503 ids of 27 encoded bytes: at least three statements
    calls = {a.contact_crm_id for a in activities if a.type == "call"}
    clicks = {a.contact_crm_id for a in activities if a.type == "email_click"}
    leads = {c.crm_id for c in people.values() if c.kind == "lead"}
    assert calls == clicks == leads  # every lead's call and click found, none lost in a split


async def test_a_field_list_too_long_for_one_statement_is_read_by_id(crowd: SandboxServer) -> None:
    # Criteria that also name Salesforce fields of their own, and a limit that leaves 350 bytes
    # for the URI: the statement keeps what tells deletion, merge and conversion (and the
    # Account's fields), the rest is read by id.
    criteria = [*CRITERIA, "Phone", "LeadSource", "Rating", "Website", "AnnualRevenue"]
    whole = connector(crowd, properties=criteria)
    recording = Recording(crowd)
    small = 1_024 + 350
    split = connector(crowd, properties=criteria, transport=recording, max_request_bytes=small)
    try:
        _, expected = await drain(whole, None)
        _, got = await drain(split, None)
        plan = await split._plan("Lead")
        contact_plan = await split._plan("Contact")
    finally:
        await whole.aclose()
        await split.aclose()
    assert plan.by_id  # the split happened
    assert contact_plan.by_id
    assert "Account.Industry" in contact_plan.statement
    assert "Id" in plan.statement
    assert "IsConverted" in plan.statement
    assert max(size for size, _ in recording.sizes) <= small
    assert got == expected
    assert any(path.endswith("/composite/sobjects/Lead") for _, path in recording.sizes)
