"""The monthly refresh job and its schedule."""

from __future__ import annotations

import dagster as dg

monthly_refresh = dg.define_asset_job(
    "monthly_refresh", selection=dg.AssetSelection.all(),
    description="Ingest, score, rank and publish the warehouse.")


@dg.schedule(job=monthly_refresh, cron_schedule="0 6 2 * *", execution_timezone="Europe/London",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def monthly_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """On the 2nd of each month, rank as of that day."""
    as_of = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=f"monthly-{as_of}",
        run_config={"resources": {"settings": {"config": {"as_of": as_of}}}},
        tags={"as_of": as_of},
    )
