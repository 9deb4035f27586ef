"""Publish: every output table written to a staging copy of the DuckDB
warehouse and swapped in atomically (``pipeline.publish``)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline import ingest
from pipeline.defs.lineage import require_this_refresh
from pipeline.defs.resources import RefreshSettings
from pipeline.model import guards, panel
from pipeline.publish import tables as t
from pipeline.publish.warehouse import (HISTORY_TABLE, after_today_warning, listed_as_of, publish,
                                        read_tables, readers_only, refresh_lock)
from pipeline.rank.targets import summary
from pipeline.report.exports import check_writable, exports_folder
from pipeline.report.markdown import markdown_table
from pipeline.report.quality import publication_problems
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
    require_this_refresh(context)
    as_of, data_dir = settings.as_of_date(), settings.data_path()
    sources = {"services": services, "population": population,
               "first_time_entrants": first_time_entrants, "reoffending": reoffending,
               "custody": custody, "inspections": inspections}
    quarantine, files = t.collect(sources)
    note = synthetic_note(data_dir)  # which figures are the demo's: the table and the log say it alike
    out = {
        "services": panel.services_table(services.table, population.table, as_of),
        "indicator_values": indicator_values,
        "inspections": t.inspections_table(inspections.table, as_of),
        "inspection_targets": inspection_targets,
        "quarantine": quarantine,
        "source_files": files,
        "indicator_dispersion": indicator_dispersion,
        "indicator_evidence": indicator_evidence,
        "backtest_scores": backtest_scores,
        "backtest_metrics": backtest_metrics,
        "run_metadata": t.run_metadata(as_of, data_dir, note, settings.rules(), settings.guard_limits()),
    }
    out = {name: t.ordered(name, df) for name, df in out.items()}
    path = settings.warehouse_path()
    check_writable(exports_folder(path))  # the exports step comes after the swap: fail before it
    # the guards compare with what is published now; no session may write it until it is replaced
    with refresh_lock(path), readers_only(path):
        # one read of the published file: the guards' tables and the history to extend
        before = read_tables(path, ["indicator_dispersion", "services", "inspection_targets", "inspections",
                                    "source_files", "run_metadata", HISTORY_TABLE])
        guards.check_refresh(out, before, settings.guard_limits(),
                             cutoff=panel.indicator_cutoff(as_of, settings.rules().lag_months), as_of=as_of,
                             recent_months=settings.rules().exclusion_months)
        previous = listed_as_of(before["inspection_targets"])
        counts = publish(path, out, t.view_statements(), history=before[HISTORY_TABLE], published=previous,
                         verify=publication_problems)
    backfill = "inspection_targets" not in counts  # a backfill writes ranking_history alone
    # the run's log says what was published, as the CLI's output does
    made_up = f" {note}".rstrip()
    if backfill:
        context.log.info(f"Backfill as of {as_of}: its list was added to ranking_history of {path}; the "
                         f"published list stays as of {previous}.{made_up}")
    else:
        context.log.info(f"Published {path} as of {as_of}: {summary(inspection_targets)}.{made_up}")
    if not backfill and previous is not None and previous > as_of:
        context.log.info(f"It replaced the list as of {previous}, dated after today (still in ranking_history).")
    if warning := after_today_warning(as_of):
        context.log.warning(warning[0].upper() + warning[1:])
    return dg.MaterializeResult(metadata={
        "as_of": str(as_of), "backfill": backfill,  # a backfill: the published list stays as it was
        "path": dg.MetadataValue.path(str(path)),
        "tables": dg.MetadataValue.md(markdown_table(pd.Series(counts, name="rows").rename_axis("table")
                                                     .reset_index())),
        "quarantined_rows": len(quarantine),
    })
