"""Model: the indicator panel with funnel-plot z-scores, and each service's
pooled, shrunk evidence per indicator (``pipeline.model``)."""

from __future__ import annotations

import functools

import dagster as dg
import pandas as pd

from pipeline import ingest
from pipeline.defs.metadata import md_table
from pipeline.defs.resources import ModelWorker, RefreshSettings
from pipeline.model import panel, scores

GROUP = "model"


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "indicator_values": dg.AssetOut(kinds={"pandas"}, description=(
            "One row per service x indicator x period: counts, rate, national rate, expected, "
            "over-dispersion-adjusted z-score and funnel band, as of the run's as-of date.")),
        "indicator_dispersion": dg.AssetOut(kinds={"pandas"}, description=(
            "Over-dispersion per indicator and period: Winsorised phi, DerSimonian-Laird tau^2, "
            "and whether the z-scores were adjusted.")),
    },
)
def indicator_panel(context, settings: RefreshSettings, model_worker: ModelWorker,
                    services: ingest.Ingested, population: ingest.Ingested,
                    first_time_entrants: ingest.Ingested, reoffending: ingest.Ingested,
                    custody: ingest.Ingested):
    tables = {"first_time_entrants": first_time_entrants.table,
              "reoffending": reoffending.table, "custody": custody.table}
    # on a large panel, about half its rows are scored in the model worker
    values, dispersion = panel.build_panel(tables, services.table, population.table,
                                           settings.as_of_date(), settings.rules().lag_months,
                                           submit=functools.partial(model_worker.submit, context.log))
    yield dg.Output(values, output_name="indicator_values", metadata={
        "rows": len(values),
        "latest_period_end": str(values["period_end"].max().date()) if len(values) else "none",
        "preview": md_table(values, rows=10)})
    yield dg.Output(dispersion, output_name="indicator_dispersion", metadata={
        "rows": len(dispersion), "preview": md_table(dispersion.sort_values("period_end").tail(9))})


@dg.asset(group_name=GROUP, kinds={"pandas", "scipy"}, description=(
    "Per service and indicator: recent periods pooled (weights halving yearly), adjusted z, "
    "empirical-Bayes shrunk evidence and trend."))
def indicator_evidence(indicator_values: pd.DataFrame) -> dg.Output:
    ev = scores.indicator_evidence(indicator_values)
    return dg.Output(ev, metadata={"rows": len(ev), "preview": md_table(ev, rows=10)})
