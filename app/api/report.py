"""`GET /connections/{name}/report`: the effectiveness report, the body `glengarry report`
prints (app/effectiveness.py computes it), behind the operations API's authentication."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from app.api.auth import Reader
from app.api.deps import RuntimeDep
from app.api.errors import ERROR_RESPONSES
from app.api.operations import find_for
from app.effectiveness import ReportError, parse_horizon, report
from qualification.times import parse_instant

router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)


class RateView(BaseModel):
    """A rate with its n; `small` under 30. The count is named for what it counts
    (converted, won, reached, unworked, churned, ...)."""

    model_config = ConfigDict(extra="allow")
    n: int
    rate: float | None
    small: bool


class WindowView(BaseModel):
    since: str
    until: str
    horizon_days: float
    outcomes_until: str
    small_under: int


class LiftView(BaseModel):
    value: float | None
    sales_ready: RateView
    all: RateView
    roc_auc: float | None
    ranked_by: str
    small: bool


class ForecastWeekView(BaseModel):
    week_start: str
    n: int
    expected: float
    actual: int
    complete: bool
    small: bool


class DecileView(RateView):
    decile: int
    predicted: float


class ForecastView(BaseModel):
    calibrated: bool
    note: str | None
    weeks: list[ForecastWeekView]
    calibration: list[DecileView]


class FlowsView(BaseModel):
    n: int
    matrix: dict[str, dict[str, int]]


class StatusMixPoint(BaseModel):
    at: str
    n: int
    counts: dict[str, int]


class DaysView(BaseModel):
    n: int
    median_days: float | None
    p25_days: float | None
    p75_days: float | None
    small: bool


class TimeToConversionView(BaseModel):
    from_sales_ready: DaysView
    converted_without_sales_ready: int


class LeftUnworkedView(RateView):
    unworked_to: dict[str, int]


class SpeedToLeadView(BaseModel):
    within_a_day: RateView
    within_a_week: RateView
    conversion_reached: RateView
    conversion_waiting: RateView


class CustomersView(BaseModel):
    at_risk_share: RateView
    at_risk_churned: RateView
    at_risk_recovered: RateView
    active_churned: RateView


class NpsView(BaseModel):
    n: int
    score: float | None
    promoters: int
    detractors: int
    small: bool


class CsatView(BaseModel):
    n: int
    mean: float | None
    satisfied: int
    small: bool


class VoiceView(BaseModel):
    nps: NpsView
    csat: CsatView


class ReportView(BaseModel):
    """A text in place of a section ("no survey data: ...") says why it cannot be computed."""

    connection: str
    window: WindowView
    lift: LiftView | str
    conversion_by_status: dict[str, RateView] | str
    close_rate: dict[str, RateView] | str
    won_amount: dict[str, dict[str, float]] | str
    forecast: ForecastView
    flows: FlowsView
    status_mix: list[StatusMixPoint]
    time_to_conversion: TimeToConversionView
    left_unworked: LeftUnworkedView
    speed_to_lead: SpeedToLeadView
    customers: CustomersView
    happiness_by_presale_status: dict[str, VoiceView] | str


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


@router.get("/connections/{connection}/report")
def effectiveness(
    connection: str,
    runtime: RuntimeDep,
    principal: Reader,
    since: Annotated[str | None, Query(max_length=40)] = None,
    horizon: Annotated[str, Query(max_length=10)] = "90d",
    as_of: Annotated[str | None, Query(max_length=40)] = None,
) -> ReportView:
    """Is qualification working? The body `glengarry report` prints, from the stored history."""
    until = _instant(as_of, "as_of") or runtime.clock.now()
    start = _instant(since, "since")
    found = find_for(runtime, principal, connection)  # 404 too for a key bound elsewhere
    with runtime.sessions() as session:
        try:
            body = report(
                session, found.name, until=until, horizon=parse_horizon(horizon), since=start
            )
        except ReportError as exc:
            raise HTTPException(422, str(exc)) from None
    return ReportView.model_validate(body)
