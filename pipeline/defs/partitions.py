"""Monthly partitions of the refresh: a month's run ranks as of its first day."""

import datetime as dt

import dagster as dg

FIRST_MONTH = "2012-09-01"  # risk-proportionate youth justice inspection began in September 2012


@dg.monthly_partitioned_config(start_date=FIRST_MONTH, timezone="Europe/London", end_offset=1)
def monthly_as_of(start: dt.datetime, _end: dt.datetime) -> dict:
    """The run config of a month: ``as_of`` = the month's first day (the launchpad can change it)."""
    return {"resources": {"settings": {"config": {"as_of": start.date().isoformat()}}}}
