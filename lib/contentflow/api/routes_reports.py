"""Daily reports (written by the `report` job, contentflow.jobs.report): the latest one, or one day's."""

from __future__ import annotations

import re
from datetime import date

from fastapi import APIRouter, Depends, Path

from contentflow.api.deps import get_services
from contentflow.api.errors import ApiError, ErrorResponse
from contentflow.jobs.report import DailyReport
from contentflow.services import Services

router = APIRouter(tags=["reports"])
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ERRORS = {400: {"model": ErrorResponse, "description": "Not a date"},
           404: {"model": ErrorResponse, "description": "No report"}}


@router.get("/reports/latest", response_model=DailyReport, responses={404: _ERRORS[404]},
            summary="The report of the most recent day reported")
def latest_report(s: Services = Depends(get_services)) -> DailyReport:
    report = s.reports.latest()
    if report is None:
        raise ApiError(404, "not_found", "no report has been made yet")
    return report


@router.get("/reports/{day}", response_model=DailyReport, responses=_ERRORS, summary="The report of one UTC day")
def day_report(day: str = Path(description="A UTC day, YYYY-MM-DD", examples=["2026-11-30"]),
               s: Services = Depends(get_services)) -> DailyReport:
    try:
        wanted = date.fromisoformat(day) if _DAY.fullmatch(day) else None
    except ValueError:  # e.g. 2026-02-30
        wanted = None
    if wanted is None:
        raise ApiError(400, "invalid_request", "day: expected a date as YYYY-MM-DD")
    report = s.reports.get(wanted)
    if report is None:
        raise ApiError(404, "not_found", f"no report for {wanted.isoformat()}")
    return report
