"""Scheduled jobs run by the `jobs` function (Cloud Scheduler in production, the local scheduler
locally; the schedules are in the pipeline spec): `retention`, `report` and `reconcile`.

The request body names the job; its other fields are the job's options, validated here (bounded,
unknown fields refused), so a schedule's body in the spec and a hand-fired request are checked alike.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Under the function's 300 s timeout, with room for the last batch and the summary.
MAX_TIME_BUDGET_S = 280.0


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionJob(_Options):
    job: Literal["retention"]
    batch_size: int = Field(default=100, ge=1, le=500)
    max_documents: int = Field(default=2000, ge=1, le=50_000)  # per run; the next run goes on
    time_budget_s: float = Field(default=240.0, gt=0, le=MAX_TIME_BUDGET_S)


class ReportJob(_Options):
    job: Literal["report"]
    # A UTC day (YYYY-MM-DD), "today" or "yesterday" (the default: the schedule runs after midnight).
    date: date | Literal["today", "yesterday"] = "yesterday"
    max_documents: int = Field(default=5000, ge=1, le=50_000)  # finished documents scanned

    def day(self, now: datetime) -> date:
        today = now.astimezone(timezone.utc).date()
        if self.date == "today":
            return today
        if self.date == "yesterday":
            return today - timedelta(days=1)
        return self.date


class ReconcileJob(_Options):
    job: Literal["reconcile"]
    # Younger objects are left alone: their upload event may still be on its way.
    min_age_s: int = Field(default=600, ge=0, le=7 * 86400)
    page_size: int = Field(default=500, ge=1, le=1000)
    max_objects: int = Field(default=5000, ge=1, le=100_000)  # listed per run; the next run resumes
    time_budget_s: float = Field(default=240.0, gt=0, le=MAX_TIME_BUDGET_S)


JobRequest = TypeAdapter(Annotated[Union[RetentionJob, ReportJob, ReconcileJob], Field(discriminator="job")])


def run_job(services, request: RetentionJob | ReportJob | ReconcileJob) -> dict:
    """Runs the requested job with its options; answers its JSON summary."""
    if isinstance(request, RetentionJob):
        return services.retention.run(batch_size=request.batch_size, max_documents=request.max_documents,
                                      time_budget_s=request.time_budget_s)
    if isinstance(request, ReportJob):
        return services.reports.run(request.day(services.reports.clock()), max_documents=request.max_documents)
    return services.reconcile.run(min_age_s=request.min_age_s, page_size=request.page_size,
                                  max_objects=request.max_objects, time_budget_s=request.time_budget_s)
