"""Publish: every output table written to a staging copy of the DuckDB
warehouse and swapped in atomically (``pipeline.publish``)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline import ingest
from pipeline.defs.resources import RefreshSettings
from pipeline.model import guards, panel
from pipeline.publish import tables as t
from pipeline.publish.warehouse import HISTORY_TABLE, publish, read_tables, refresh_lock
from pipeline.rank.targets import summary
from pipeline.report.markdown import markdown_table
from pipeline.settings import synthetic_note

GROUP = "publish"


@dg.asset(group_name=GROUP, kinds={"duckdb"}, description=(
    "The DuckDB warehouse analysts query: services, indicator_values, inspections, "
    "inspection_targets, ranking_history, quarantine, source_files and more, published atomically."))
def warehouse(context, settings: RefreshSettings, services: ingest.Ingested,
              population: ingest.Ingested,
              first_time_entrants: ingest.Ingested, reoffending: ingest.Ingested,
              custody: ingest.Ingested, inspections: ingest.Ingested,
              indicator_values: pd.DataFrame, indicator_dispersion: pd.DataFrame,
              indicator_evidence: pd.DataFrame, inspection_targets: pd.DataFrame,
              backtest_scores: pd.DataFrame, backtest_metrics: pd.DataFrame) -> dg.MaterializeResult:
    as_of, data_dir = settings.as_of_date(), settings.data_path()
    sources = {"services": services, "population": population,
               "first_time_entrants": first_time_entrants, "reoffending": reoffending,
               "custody": custody, "inspections": inspections}
    quarantine, files = t.collect(sources)
    out = {
        "services": panel.services_table(services.table, population.table),
        "indicator_values": indicator_values,
        "inspections": t.inspections_table(inspections.table, as_of),
        "inspection_targets": inspection_targets,
        "quarantine": quarantine,
        "source_files": files,
        "indicator_dispersion": indicator_dispersion,
        "indicator_evidence": indicator_evidence,
        "backtest_scores": backtest_scores,
        "backtest_metrics": backtest_metrics,
        "run_metadata": t.run_metadata(as_of, data_dir, synthetic_note(data_dir), settings.rules()),
    }
    out = {name: t.ordered(name, df) for name, df in out.items()}
    path = settings.warehouse_path()
    with refresh_lock(path):  # the guards compare with what is published now
        # one read of the published file: the guards' tables and the history to extend
        before = read_tables(path, ["indicator_dispersion", "services", "inspection_targets", "inspections",
                                    "source_files", HISTORY_TABLE])
        guards.check_refresh(out, before, settings.guard_limits(),
                             cutoff=panel.indicator_cutoff(as_of, settings.rules().lag_months), as_of=as_of)
        counts = publish(path, out, t.view_statements(), history=before[HISTORY_TABLE])
    # the run's log says what was published, as the CLI's output does
    made_up = f" {synthetic_note(data_dir)}".rstrip()
    latest = before[HISTORY_TABLE]["as_of"].max() if before[HISTORY_TABLE] is not None else None
    if latest is not None and pd.Timestamp(latest).date() > as_of:
        context.log.info(f"Backfill as of {as_of}: its list was added to ranking_history of {path}; the "
                         f"published list stays as of {pd.Timestamp(latest).date()}.{made_up}")
    else:
        context.log.info(f"Published {path} as of {as_of}: {summary(inspection_targets)}.{made_up}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "tables": dg.MetadataValue.md(markdown_table(pd.Series(counts, name="rows").rename_axis("table")
                                                     .reset_index())),
        "quarantined_rows": len(quarantine),
    })
