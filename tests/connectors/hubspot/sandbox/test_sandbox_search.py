"""Search: filter groups, operators, sorts, paging, the 10,000 cap, and a lagging index."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.hubspot.mapping import to_contact
from connectors.hubspot.paging import SearchSweep
from connectors.hubspot.sandbox import SandboxConfig, SandboxServer, Store

from .conftest import TOKEN, client, population

SEARCH = "/crm/v3/objects/contacts/search"


def _ids(api: httpx.Client, body: dict[str, Any]) -> list[str]:
    response = api.post(SEARCH, json={"limit": 200, **body})
    assert response.status_code == 200, response.text
    return [result["id"] for result in response.json()["results"]]


def _one(name: str, operator: str, **more: Any) -> dict[str, Any]:
    return {"filterGroups": [{"filters": [{"propertyName": name, "operator": operator, **more}]}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_one("industry", "EQ", value="retail"), [str(n) for n in range(1, 26) if n % 3 == 1]),
        (_one("annualrevenue", "GT", value="22000"), ["23", "24", "25"]),
        (_one("annualrevenue", "LTE", value="2000"), ["1", "2"]),
        (_one("annualrevenue", "BETWEEN", value="5000", highValue="7000"), ["5", "6", "7"]),
        (_one("hs_object_id", "IN", values=["3", "4", "99"]), ["3", "4"]),
        (_one("hs_analytics_last_url", "HAS_PROPERTY"), ["5", "10", "15", "20", "25"]),
        (
            _one("email", "CONTAINS_TOKEN", value="person1*"),
            ["1", *[str(n) for n in range(10, 20)]],
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_object_id", "operator": "LT", "value": "3"}]},
                    {
                        "filters": [
                            {"propertyName": "hs_object_id", "operator": "GTE", "value": "24"},
                            {"propertyName": "numemployees", "operator": "NEQ", "value": "1000+"},
                        ]
                    },
                ]
            },
            ["1", "2", "25"],
        ),
    ],
)
def test_filters(api: httpx.Client, body: dict[str, Any], expected: list[str]) -> None:
    assert _ids(api, body) == expected


def test_not_has_property_and_query(api: httpx.Client) -> None:
    assert len(_ids(api, _one("hs_analytics_last_url", "NOT_HAS_PROPERTY"))) == 20
    assert _ids(api, {"query": "last17"}) == ["17"]


def test_datetime_filters_take_epoch_ms_or_iso(api: httpx.Client, sandbox: SandboxServer) -> None:
    obj = sandbox.store.get("contacts", "12")
    assert obj is not None
    stamp = obj.properties["lastmodifieddate"]
    ms = str(int(obj.updated_at.timestamp() * 1000))
    assert "12" in _ids(api, _one("lastmodifieddate", "EQ", value=ms))
    assert "12" in _ids(api, _one("lastmodifieddate", "GTE", value=stamp))
    assert "12" not in _ids(api, _one("lastmodifieddate", "GT", value=stamp))


def test_sorts_and_default_properties(api: httpx.Client) -> None:
    body = api.post(
        SEARCH,
        json={"sorts": [{"propertyName": "annualrevenue", "direction": "DESCENDING"}], "limit": 3},
    ).json()
    assert [r["id"] for r in body["results"]] == ["25", "24", "23"]
    assert set(body["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    # The specs' schema declares sorts as strings: accepted too ("-name" descends).
    assert _ids(api, {"sorts": ["-hs_object_id"], "limit": 2}) == ["25", "24"]


def test_paging_with_total(api: httpx.Client) -> None:
    first = api.post(SEARCH, json={"limit": 10, "sorts": ["hs_object_id"]}).json()
    assert first["total"] == 25
    assert first["paging"]["next"]["after"] == "10"
    last = api.post(SEARCH, json={"limit": 10, "after": "20", "sorts": ["hs_object_id"]}).json()
    assert [r["id"] for r in last["results"]] == ["21", "22", "23", "24", "25"]
    assert "paging" not in last


@pytest.mark.parametrize(
    ("after", "limit", "status"),
    [("9800", 200, 200), ("9801", 200, 400), ("10000", 1, 400), ("0", 201, 400)],
)
def test_the_10000_cap_and_the_200_limit(
    api: httpx.Client, after: str, limit: int, status: int
) -> None:
    response = api.post(SEARCH, json={"after": after, "limit": limit})
    assert response.status_code == status
    if status == 400:
        assert response.json()["category"] == "VALIDATION_ERROR"


def test_invalid_searches_are_400(api: httpx.Client) -> None:
    assert api.post(SEARCH, json=_one("nosuch", "EQ", value="x")).status_code == 400
    assert api.post(SEARCH, json=_one("email", "LIKE", value="x")).status_code == 400
    six_groups = {"filterGroups": [_one("email", "HAS_PROPERTY")["filterGroups"][0]] * 6}
    assert api.post(SEARCH, json=six_groups).status_code == 400


def test_the_connectors_search_sweep_reads_everything(api: httpx.Client) -> None:
    sweep = SearchSweep(since_ms=0, until_ms=2**42, properties=["email"])
    seen: list[str] = []
    while not sweep.done:
        body = api.post(SEARCH, json=sweep.request()).json()
        results = body["results"]
        seen += [r["id"] for r in results]
        modified = [int(to_contact(r).modified_at.timestamp() * 1000) for r in results]
        after = (body.get("paging") or {}).get("next", {}).get("after")
        sweep.advance(modified, [int(r["id"]) for r in results], after)
    assert sorted(set(seen), key=int) == [str(n) for n in range(1, 26)]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_search_sees_a_snapshot_lag_seconds_old() -> None:
    clock = FakeMonotonic()
    store = Store(search_lag_seconds=30, monotonic=clock)
    config = SandboxConfig(token=TOKEN, search_lag_seconds=30, rate_limits="off")
    with SandboxServer(config, store=store, members=population(3)) as server, client(server) as api:
        assert _ids(api, {}) == []  # seeded just now: not indexed yet
        clock.now += 31
        assert _ids(api, {}) == ["1", "2", "3"]
        api.patch("/crm/v3/objects/contacts/2", json={"properties": {"jobtitle": "CEO"}})
        api.delete("/crm/v3/objects/contacts/3")
        assert _ids(api, _one("jobtitle", "EQ", value="CEO")) == []
        assert _ids(api, {}) == ["1", "2", "3"]
        # The object endpoints are never stale.
        assert api.get("/crm/v3/objects/contacts/3").status_code == 404
        clock.now += 31
        assert _ids(api, _one("jobtitle", "EQ", value="CEO")) == ["2"]
        assert _ids(api, {}) == ["1", "2"]
