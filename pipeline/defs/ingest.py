"""Ingest: one asset per input folder. Each reads every file of its folder
under the data dir and returns the tidy rows, the quarantined rows and the
files read (see ``pipeline.ingest``)."""

from __future__ import annotations

import dagster as dg

from pipeline import ingest
from pipeline.ingest.cells import dates_allowed_up_to
from pipeline.defs.resources import RefreshSettings
from pipeline.report.markdown import markdown_table

GROUP = "ingest"


def _result(ingested: ingest.Ingested) -> dg.Output:
    t = ingested.table
    return dg.Output(ingested, metadata={
        "rows": dg.MetadataValue.int(len(t)),
        "quarantined": dg.MetadataValue.int(len(ingested.quarantine)),
        "files": dg.MetadataValue.md(markdown_table(ingested.files[["file", "rows", "sha256"]])),
        "preview": dg.MetadataValue.md(markdown_table(t.head(10))),
    })


@dg.asset(group_name=GROUP, kinds={"pandas", "csv"},
          description="Local authority to youth justice service lookup (services/).")
def services(settings: RefreshSettings) -> dg.Output:
    return _result(ingest.read_services(settings.data_path()))


def _source_asset(name: str, reader, description: str):
    @dg.asset(name=name, group_name=GROUP, kinds={"pandas", "csv"}, description=description)
    def _asset(settings: RefreshSettings, services: ingest.Ingested) -> dg.Output:
        # rows dated after the refresh are quarantined, unless the run is
        # asked to rank as of a later date (a simulation)
        with dates_allowed_up_to(settings.as_of_date()):
            return _result(reader(settings.data_path(), services.table))
    return _asset


population = _source_asset(
    "population", ingest.read_population,
    "ONS mid-year populations aged 10-17 per local authority (population/), carried to 2024 codes.")
first_time_entrants = _source_asset(
    "first_time_entrants", ingest.read_first_time_entrants,
    "First-time entrants to the youth justice system per service and period (first_time_entrants/).")
reoffending = _source_asset(
    "reoffending", ingest.read_reoffending,
    "Proven reoffending cohorts per service: cohort size, reoffenders, reoffences (reoffending/).")
custody = _source_asset(
    "custody", ingest.read_custody,
    "Custodial sentences per service and period, incl. the YJB Outcome_Table layout (custody/).")
inspections = _source_asset(
    "inspections", ingest.read_inspections,
    "Past HMI Probation inspections with their overall rating on either scale (inspections/).")
