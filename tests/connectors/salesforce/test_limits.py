"""The error policy as data and the usage header, on hand-built answers (respx): what each of
Salesforce's error bodies makes the shared client do, and the budget kept from
`Sforce-Limit-Info`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import BudgetExhausted, CrmRequestError, CrmUnavailable, DailyLimitReached
from connectors.http import Action, ApiClient, RateLimiter, RetryPolicy
from connectors.salesforce.limits import ApiUsage, OrgUsage, classify, parse_limit_info
from connectors.salesforce.rest import SalesforceRest

BASE = "https://acme.my.salesforce.test"
LIMITS = f"{BASE}/services/data/v62.0/limits"


class Token:
    def __init__(self) -> None:
        self.refreshes = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer session-{self.refreshes}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        self.refreshes += 1
        return True


async def _no_sleep(_: float) -> None:
    return None


def rest(usage: OrgUsage | None = None, auth: Token | None = None) -> SalesforceRest:
    usage = usage or OrgUsage(0.5)
    api = ApiClient(
        BASE,
        auth or Token(),
        account="org",
        limiter=RateLimiter({}),
        retry=RetryPolicy(max_attempts=3, backoff_initial=0.01),
        classify=classify,
        pace=usage.observe,
        sleep=_no_sleep,
    )
    return SalesforceRest(api, usage)


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=[{"message": message, "errorCode": code}], headers=headers)


def ok(body: Any = None, usage: str = "api-usage=10/15000") -> httpx.Response:
    return httpx.Response(200, json=body or {}, headers={"Sforce-Limit-Info": usage})


@pytest.mark.parametrize(
    ("answer", "action"),
    [
        (error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), Action.STOP_DAILY),
        (error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
         Action.RETRY),
        (error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"), Action.RETRY),
        (error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable"), Action.RETRY),
        (error(401, "INVALID_SESSION_ID", "Session expired or invalid"), Action.REFRESH_AUTH),
        (error(400, "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'"), Action.FAIL),
        (error(400, "MALFORMED_QUERY", "unexpected token"), Action.FAIL),
        (httpx.Response(502, text="<html>bad gateway</html>"), Action.RETRY),
        (ok(), Action.OK),
    ],
)  # fmt: skip
def test_each_error_body_has_its_action(answer: httpx.Response, action: Action) -> None:
    assert classify(answer).action is action


def test_the_reason_names_salesforce_s_code_and_message() -> None:
    decision = classify(error(400, "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'"))
    assert decision.reason == "HTTP 400 INVALID_FIELD: No such column 'Foo' on entity 'Lead'"


@respx.mock
async def test_the_daily_total_stops_the_run_cleanly() -> None:
    route = respx.get(LIMITS).mock(
        return_value=error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    )
    with pytest.raises(DailyLimitReached, match="TotalRequests"):
        await rest().call("GET", "/services/data/v62.0/limits")
    assert route.call_count == 1  # no retry: the day is spent


@respx.mock
async def test_concurrent_long_requests_and_locked_rows_are_backed_off_and_retried() -> None:
    route = respx.get(LIMITS).mock(
        side_effect=[
            error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
            error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"),
            ok({"DailyApiRequests": {}}),
        ]
    )
    answer = await rest().call("GET", "/services/data/v62.0/limits")
    assert answer.json() == {"DailyApiRequests": {}}
    assert route.call_count == 3


@respx.mock
async def test_server_unavailable_past_the_attempts_is_unavailable() -> None:
    respx.get(LIMITS).mock(return_value=error(503, "SERVER_UNAVAILABLE", "down"))
    with pytest.raises(CrmUnavailable, match="3 attempts"):
        await rest().call("GET", "/services/data/v62.0/limits")


@respx.mock
async def test_a_refused_query_is_a_request_error_with_salesforce_s_body() -> None:
    respx.get(LIMITS).mock(return_value=error(400, "INVALID_FIELD", "No such column"))
    with pytest.raises(CrmRequestError) as refused:
        await rest().call("GET", "/services/data/v62.0/limits")
    assert refused.value.status == 400
    assert refused.value.body == [{"message": "No such column", "errorCode": "INVALID_FIELD"}]


@respx.mock
async def test_an_invalid_session_is_refreshed_once_then_the_request_repeated() -> None:
    auth = Token()
    route = respx.get(LIMITS).mock(
        side_effect=[error(401, "INVALID_SESSION_ID", "Session expired or invalid"), ok()]
    )
    await rest(auth=auth).call("GET", "/services/data/v62.0/limits")
    assert auth.refreshes == 1
    sent = [call.request.headers["Authorization"] for call in route.calls]
    assert sent == ["Bearer session-0", "Bearer session-1"]


@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=1234/15000", ApiUsage(1234, 15000)),
        ("api-usage=18/5000, per-app-api-usage=17/250(appName=sample-app)", ApiUsage(18, 5000)),
        ("per-app-api-usage=17/250(appName=sample-app), api-usage=3/100", ApiUsage(3, 100)),
        ("api-usage=1/0", None),
        ("nonsense", None),
        ("", None),
        (None, None),
    ],
)
def test_the_limit_info_header_is_read(header: str | None, usage: ApiUsage | None) -> None:
    assert parse_limit_info(header) == usage


@respx.mock
async def test_usage_at_the_share_stops_before_the_next_request_is_sent() -> None:
    usage = OrgUsage(0.5)
    route = respx.get(LIMITS).mock(
        side_effect=[ok(usage="api-usage=7498/15000"), ok(usage="api-usage=7500/15000")]
    )
    client = rest(usage)
    await client.call("GET", "/services/data/v62.0/limits")
    assert usage.ceiling == 7500
    await client.call("GET", "/services/data/v62.0/limits")  # 7,498 < 7,500: sent
    with pytest.raises(BudgetExhausted, match="7500 of its 15000"):
        await client.call("GET", "/services/data/v62.0/limits")
    assert route.call_count == 2  # the third was never sent


def test_a_share_outside_zero_to_one_is_refused() -> None:
    for share in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="budget_share"):
            OrgUsage(share)
