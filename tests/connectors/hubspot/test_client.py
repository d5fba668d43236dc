"""The HubSpot connector against hand-built responses (respx): paging, the search cap, limits,
batch write semantics and token refresh. The pipeline's tests use the sandbox instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from connectors.base import FieldState, FieldWrite, WriteFailure
from connectors.errors import CrmResponseError, DailyLimitReached
from connectors.http import RateLimiter, RetryPolicy
from connectors.hubspot.auth import OAuthRefresh, OAuthTokens, PrivateAppToken
from connectors.hubspot.client import HubSpotConnector, HubSpotOptions
from connectors.hubspot.cursor import SyncCursor
from connectors.hubspot.paging import SEARCH_CAP

BASE = "https://api.hubapi.test"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Sleeps:
    """Sleeps advance a fake clock (the limiter's) instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1_000_000.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def connector(sleeps: Sleeps | None = None, **options: Any) -> HubSpotConnector:
    sleeps = sleeps or Sleeps()
    return HubSpotConnector(
        HubSpotOptions(base_url=BASE, retry=RetryPolicy(max_attempts=4), **options),
        PrivateAppToken("pat-secret"),
        account="portal-1",
        now=lambda: NOW,
        limiter=RateLimiter({}, sleep=sleeps, clock=sleeps.clock),
        sleep=sleeps,
    )


def contact(i: int, modified: datetime = NOW) -> dict[str, Any]:
    return {
        "id": str(i),
        "properties": {"email": f"p{i}@acme.test", "lastmodifieddate": modified.isoformat()},
        "archived": False,
    }


@respx.mock
async def test_a_full_sync_pages_the_list_endpoint_and_ends_with_an_incremental_cursor() -> None:
    pages = [
        {"results": [contact(1), contact(2)], "paging": {"next": {"after": "2"}}},
        {"results": [contact(3)]},
    ]
    route = respx.get(f"{BASE}/crm/v3/objects/contacts").mock(
        side_effect=[httpx.Response(200, json=p) for p in pages]
    )
    hub = connector()
    batches = [b async for b in hub.contacts(None)]
    assert [[c.crm_id for c in b.contacts] for b in batches] == [["1", "2"], ["3"]]
    assert route.calls[1].request.url.params["after"] == "2"
    assert "lastmodifieddate" in route.calls[0].request.url.params["properties"].split(",")
    first, last = (SyncCursor.loads(b.cursor) for b in batches)
    assert first == SyncCursor(full_after="2", full_started_ms=int(NOW.timestamp() * 1000))
    assert last == SyncCursor(since_ms=int(NOW.timestamp() * 1000))


@respx.mock
async def test_a_full_sync_resumes_after_the_stored_token() -> None:
    route = respx.get(f"{BASE}/crm/v3/objects/contacts").mock(
        return_value=httpx.Response(200, json={"results": [contact(9)]})
    )
    cursor = SyncCursor(full_after="500", full_started_ms=123).dumps()
    batches = [b async for b in connector().contacts(cursor)]
    assert route.calls[0].request.url.params["after"] == "500"
    assert SyncCursor.loads(batches[-1].cursor) == SyncCursor(since_ms=123)


@respx.mock
async def test_long_property_lists_go_by_post_never_a_long_get_query() -> None:
    listing = respx.get(f"{BASE}/crm/v3/objects/contacts").mock(
        return_value=httpx.Response(200, json={"results": [{"id": "1"}, {"id": "2"}]})
    )
    read = respx.post(f"{BASE}/crm/v3/objects/contacts/batch/read").mock(
        return_value=httpx.Response(
            200, json={"status": "COMPLETE", "results": [contact(1), contact(2)]}
        )
    )
    many = [f"custom_property_number_{i}" for i in range(200)]
    batches = [b async for b in connector(properties=many).contacts(None)]
    assert listing.calls[0].request.url.params["properties"] == "hs_object_id"
    assert len(str(listing.calls[0].request.url)) < 2_000
    sent = json.loads(read.calls[0].request.content)
    assert "custom_property_number_199" in sent["properties"]
    assert [c.crm_id for c in batches[0].contacts] == ["1", "2"]


@respx.mock
async def test_an_incremental_sweep_moves_its_window_past_the_search_cap() -> None:
    base = NOW - timedelta(hours=1)
    requests: list[dict[str, Any]] = []

    newest = base + timedelta(seconds=30)

    def search(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        if len(requests) == 1:  # the page at offset 9,800: the last one the cap allows
            results = [contact(k + 1, base + timedelta(seconds=k % 31)) for k in range(200)]
            return httpx.Response(
                200,
                json={
                    "total": 20_000,
                    "results": results,
                    "paging": {"next": {"after": str(SEARCH_CAP)}},
                },
            )
        return httpx.Response(200, json={"total": 1, "results": [contact(99_999, NOW)]})

    respx.post(f"{BASE}/crm/v3/objects/contacts/search").mock(side_effect=search)
    cursor = SyncCursor(since_ms=int(base.timestamp() * 1000)).dumps()
    hub = connector(search_overlap_seconds=60)
    batches = [b async for b in hub.contacts(cursor)]
    first_filters = requests[0]["filterGroups"][0]["filters"]
    assert first_filters[0]["operator"] == "GTE"
    assert int(first_filters[0]["value"]) == int(base.timestamp() * 1000) - 60_000
    second_filters = requests[1]["filterGroups"][0]["filters"]
    # The next window starts at the newest instant seen, not at after=10,000 (HubSpot's 400).
    assert int(second_filters[0]["value"]) == int(newest.timestamp() * 1000)
    assert "after" not in requests[1]
    assert SyncCursor.loads(batches[0].cursor) == SyncCursor(
        since_ms=int(newest.timestamp() * 1000) + 60_000
    )
    assert SyncCursor.loads(batches[-1].cursor) == SyncCursor(since_ms=int(NOW.timestamp() * 1000))


@respx.mock
async def test_a_ten_secondly_429_is_waited_out_and_a_daily_429_stops_cleanly() -> None:
    ten = {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "limit"}
    respx.get(f"{BASE}/account-info/v3/details").mock(
        side_effect=[
            httpx.Response(429, json=ten, headers={"Retry-After": "3"}),
            httpx.Response(200, json={"portalId": 42}),
        ]
    )
    sleeps = Sleeps()
    assert await connector(sleeps).account_id() == "42"
    assert sleeps.calls
    assert sleeps.calls[0] >= 3

    respx.get(f"{BASE}/account-info/v3/details").mock(
        return_value=httpx.Response(429, json={"status": "error", "policyName": "DAILY"})
    )
    with pytest.raises(DailyLimitReached):
        await connector().account_id()


def _writes(n: int) -> list[FieldWrite]:
    return [FieldWrite(str(i), {"glengarry_score": str(i)}) for i in range(1, n + 1)]


@respx.mock
async def test_a_207_keeps_the_good_records_and_names_the_refused_ones() -> None:
    route = respx.post(f"{BASE}/crm/v3/objects/contacts/batch/update").mock(
        return_value=httpx.Response(
            207,
            json={
                "status": "COMPLETE",
                "results": [],
                "errors": [
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "Property values were not valid",
                        "context": {"objectWriteTraceId": ["2"]},
                    }
                ],
            },
        )
    )
    outcome = await connector().write_fields(_writes(3))
    assert outcome.written == ["1", "3"]
    assert outcome.failed == {
        "2": WriteFailure("Property values were not valid", "VALIDATION_ERROR", permanent=True)
    }
    sent = json.loads(route.calls[0].request.content)
    assert [i["objectWriteTraceId"] for i in sent["inputs"]] == ["1", "2", "3"]


@respx.mock
async def test_a_record_refused_for_hubspot_s_own_trouble_is_not_permanent() -> None:
    respx.post(f"{BASE}/crm/v3/objects/contacts/batch/update").mock(
        return_value=httpx.Response(
            207,
            json={
                "status": "COMPLETE",
                "results": [],
                "errors": [
                    {
                        "status": "error",
                        "category": "RATE_LIMITS",
                        "message": "secondly limit",
                        "context": {"objectWriteTraceId": ["1"]},
                    },
                    {
                        "status": "error",
                        "category": "PROPERTY_DOESNT_EXIST",
                        "message": "Property glengarry_score does not exist",
                        "context": {"objectWriteTraceId": ["2"]},
                    },
                ],
            },
        )
    )
    outcome = await connector().write_fields(_writes(2))
    assert outcome.written == []
    assert outcome.failed["1"] == WriteFailure("secondly limit", "RATE_LIMITS", permanent=False)
    assert outcome.failed["2"].code == "PROPERTY_DOESNT_EXIST"
    assert outcome.failed["2"].permanent


@respx.mock
async def test_a_whole_batch_400_is_halved_until_the_bad_record_is_isolated() -> None:
    def update(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        if "3" in ids:
            return httpx.Response(400, json={"status": "error", "message": "bad value for 3"})
        return httpx.Response(200, json={"status": "COMPLETE", "results": []})

    route = respx.post(f"{BASE}/crm/v3/objects/contacts/batch/update").mock(side_effect=update)
    outcome = await connector().write_fields(_writes(4))
    assert sorted(outcome.written) == ["1", "2", "4"]
    assert set(outcome.failed) == {"3"}
    assert "bad value for 3" in outcome.failed["3"].message
    assert outcome.failed["3"].permanent
    assert route.call_count <= 5


@respx.mock
async def test_writes_go_in_batches_of_one_hundred() -> None:
    route = respx.post(f"{BASE}/crm/v3/objects/contacts/batch/update").mock(
        return_value=httpx.Response(200, json={"status": "COMPLETE", "results": []})
    )
    outcome = await connector().write_fields(_writes(250))
    assert len(outcome.written) == 250
    assert [len(json.loads(c.request.content)["inputs"]) for c in route.calls] == [100, 100, 50]


@respx.mock
async def test_an_expired_oauth_token_is_refreshed_on_401_and_the_request_replayed() -> None:
    tokens = OAuthTokens("cid", "csecret", "refresh-1", "old", NOW + timedelta(hours=1))
    refreshed: list[str] = []
    auth = OAuthRefresh(
        tokens,
        base_url=BASE,
        now=lambda: NOW,
        on_refresh=lambda access, refresh, _at: refreshed.append(access),
    )
    token = respx.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(
            200, json={"access_token": "new", "refresh_token": "refresh-2", "expires_in": 1800}
        )
    )

    def details(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer old":
            return httpx.Response(
                401, json={"status": "error", "category": "EXPIRED_AUTHENTICATION"}
            )
        return httpx.Response(200, json={"portalId": 7})

    respx.get(f"{BASE}/account-info/v3/details").mock(side_effect=details)
    hub = HubSpotConnector(
        HubSpotOptions(base_url=BASE), auth, account="p", limiter=RateLimiter({}), now=lambda: NOW
    )
    assert await hub.account_id() == "7"
    assert refreshed == ["new"]
    assert tokens.refresh_token == "refresh-2"
    assert "refresh-1" in token.calls[0].request.content.decode()


@respx.mock
async def test_activities_come_from_batch_reads_never_a_call_per_contact() -> None:
    def associations(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        kind = request.url.path.split("/")[5]
        rows = [
            {"from": {"id": i}, "to": [{"toObjectId": int(i) * 10, "associationTypes": []}]}
            for i in ids
            if kind == "meetings"
        ]
        return httpx.Response(200, json={"status": "COMPLETE", "results": rows})

    def engagements(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        results = [
            {"id": i, "properties": {"hs_timestamp": "2026-10-30T10:00:00Z"}, "archived": False}
            for i in ids
        ]
        return httpx.Response(200, json={"status": "COMPLETE", "results": results})

    assoc = respx.post(url__regex=rf"{BASE}/crm/v4/associations/contacts/\w+/batch/read").mock(
        side_effect=associations
    )
    reads = respx.post(url__regex=rf"{BASE}/crm/v3/objects/\w+/batch/read").mock(
        side_effect=engagements
    )
    hub = connector()
    from connectors.hubspot.mapping import to_contact

    people = [to_contact(contact(i)) for i in range(1, 1_201)]
    people[0] = to_contact(
        {
            "id": "1",
            "properties": {
                "hs_analytics_last_visit_timestamp": "2026-10-31T09:00:00Z",
                "hs_analytics_last_url": "https://acme.test/pricing",
            },
        }
    )
    found = await hub.activities(people)
    meetings = [a for a in found if a.type == "meeting"]
    assert len(meetings) == 1_200
    assert next(a for a in found if a.type == "page_view").properties["url"].endswith("/pricing")
    # 5 engagement types, survey answers and tickets x 2 association reads (1,000 ids each)
    # + 12 meeting reads of 100.
    assert assoc.call_count == 14
    assert reads.call_count == 12


@respx.mock
async def test_field_install_keeps_right_types_creates_missing_and_reports_conflicts() -> None:
    respx.post(f"{BASE}/crm/v3/properties/contacts/groups").mock(
        return_value=httpx.Response(409, json={"status": "error", "category": "CONFLICT"})
    )
    respx.get(f"{BASE}/crm/v3/properties/contacts").mock(
        return_value=httpx.Response(
            200,
            json={
                "results": [
                    {"name": "glengarry_score", "type": "number", "fieldType": "number"},
                    {"name": "glengarry_fit", "type": "string", "fieldType": "text"},
                    {  # the right type, but not the options Glengarry writes
                        "name": "glengarry_status",
                        "type": "enumeration",
                        "fieldType": "select",
                        "options": [{"label": "Hot", "value": "hot"}],
                    },
                    {  # extra options do no harm
                        "name": "glengarry_override",
                        "type": "enumeration",
                        "fieldType": "select",
                        "options": [{"value": "nurture"}, {"value": "hot"}],
                    },
                ]
            },
        )
    )
    create = respx.post(f"{BASE}/crm/v3/properties/contacts").mock(
        return_value=httpx.Response(201, json={})
    )
    statuses = await connector().install_fields(["nurture"])
    report = {f.name: f.state for f in statuses}
    assert report["glengarry_score"] is FieldState.KEPT
    assert report["glengarry_override"] is FieldState.KEPT
    assert report["glengarry_fit"] is FieldState.CONFLICT
    assert report["glengarry_status"] is FieldState.CONFLICT
    assert report["glengarry_reasons"] is FieldState.CREATED
    details = {f.name: f.detail for f in statuses}
    assert details["glengarry_fit"] == "exists as a string property (Glengarry needs number)"
    assert details["glengarry_status"].endswith("without the options Glengarry uses: nurture")
    created = {
        json.loads(c.request.content)["name"]: json.loads(c.request.content) for c in create.calls
    }
    assert set(created).isdisjoint({"glengarry_fit", "glengarry_score", "glengarry_status"})
    assert len(created) == 6  # the conversion probability too
    # The do-not-contact checkbox the default criteria read is installed with the rest.
    checkbox = created["glengarry_do_not_contact"]
    assert (checkbox["type"], checkbox["fieldType"]) == ("bool", "booleancheckbox")
    assert {o["value"] for o in checkbox["options"]} == {"true", "false"}


@respx.mock
async def test_a_malformed_answer_is_an_error_naming_the_endpoint() -> None:
    respx.get(f"{BASE}/account-info/v3/details").mock(
        return_value=httpx.Response(200, json={"portal": 1})
    )
    with pytest.raises(CrmResponseError, match=r"account-info.*portalId"):
        await connector().account_id()


def test_app_types_set_the_client_side_limits() -> None:
    from connectors.hubspot.limits import AppType, buckets_for

    # 15% under HubSpot's 190 and 100 per 10 s and 4 searches per second, by default.
    pro = buckets_for(AppType.PRIVATE_PRO, 0.5)
    assert [limit.rate for limit in pro["general"]] == ["161/10 seconds", "325000/day"]
    assert pro["search"][0].rate == "3/second"
    starter = buckets_for(AppType.PRIVATE_STARTER, 1.0)
    assert [limit.rate for limit in starter["general"]] == ["85/10 seconds", "250000/day"]
    exact = buckets_for(AppType.PRIVATE_PRO, 0.5, headroom=0.0)
    assert exact["general"][0].rate == "190/10 seconds"
    # Only for a sandbox started with --rate-limits off: nothing held back.
    assert buckets_for(AppType.UNLIMITED, 0.5) == {}


@pytest.mark.parametrize(
    ("remaining", "wait"),
    [
        ("150", 0.0),  # plenty left: not spaced
        ("11", 0.0),
        ("10", 10 / 11),  # nearly spent (5% of 190): the 10 s shared among the calls left
        ("4", 2.0),
        ("0", 10.0),  # spent: only calls ageing out of the 10 s window free room
    ],
)
def test_the_rate_limit_headers_pace_the_calls(remaining: str, wait: float) -> None:
    from connectors.hubspot.limits import pace

    headers = {
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": remaining,
    }
    assert pace(httpx.Response(200, headers=headers)) == pytest.approx(wait)


def test_responses_without_rate_limit_headers_set_no_pace() -> None:
    from connectors.hubspot.limits import pace

    assert pace(httpx.Response(200)) is None  # search answers carry none, as HubSpot documents
    assert pace(httpx.Response(200, headers={"X-HubSpot-RateLimit-Remaining": "x"})) is None


@respx.mock
async def test_survey_answers_refused_for_a_portal_without_service_hub_are_said_once() -> None:
    """A 403 that is not MISSING_SCOPES (the product is not licensed) is said with its message;
    the tickets and every engagement are still read, and no second call is made."""
    refused = respx.post(f"{BASE}/crm/v4/associations/contacts/feedback_submissions/batch/read")
    refused.mock(
        return_value=httpx.Response(
            403,
            json={
                "status": "error",
                "category": "FORBIDDEN",
                "message": "This portal does not have access to feedback submissions",
            },
        )
    )
    others = respx.post(url__regex=rf"{BASE}/crm/v4/associations/contacts/\w+/batch/read").mock(
        return_value=httpx.Response(200, json={"status": "COMPLETE", "results": []})
    )
    hub = connector()
    from connectors.hubspot.mapping import to_contact

    people = [to_contact(contact(i)) for i in range(1, 4)]
    await hub.activities(people)
    await hub.activities(people)
    assert refused.call_count == 1
    assert others.call_count == 2 * 6  # 5 engagement types and tickets, twice
    assert "not licensed" in hub.unavailable["feedback_submissions"]
    assert "does not have access" in hub.unavailable["feedback_submissions"]
