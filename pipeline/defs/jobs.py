"""The monthly refresh job and its schedule.

The job is partitioned by month through its config (``partitions.monthly_as_of``):
each month's run ranks as of the month's first day, so past months can be
backfilled, from the launchpad's partition picker (the job's playground page;
Dagster 1.13's Partitions tab counts only assets' partitions). The assets
themselves are not partitioned: each run is one whole refresh as of one date, its checks see
that run's values, and a run without a partition (the CLI, a sensor, the
launchpad) ranks as of the configured date or today. A backfilled month adds
its list to ``ranking_history`` without replacing the latest list, unless
that is dated after today (``pipeline.publish.warehouse.is_backfill``).
"""

from __future__ import annotations

import dagster as dg

from pipeline.defs.partitions import monthly_as_of

monthly_refresh = dg.define_asset_job(
    "monthly_refresh", selection=dg.AssetSelection.all(), config=monthly_as_of,
    description="Ingest, score, rank, back-test and publish the warehouse.")

# ticks at 06:00 on the 2nd and asks for the current month's partition (as of the 1st)
monthly_refresh_schedule = dg.build_schedule_from_partitioned_job(
    monthly_refresh, name="monthly_refresh_schedule", day_of_month=2, hour_of_day=6,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="On the 2nd of each month at 06:00 (Europe/London), rank as of the 1st.")
