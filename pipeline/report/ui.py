"""The Markdown shown on the ``inspection_targets`` asset page in the Dagster
UI: the top of the ranked list, a funnel plot per indicator and the rank
intervals, as images inlined in data URIs (the UI renders Markdown metadata;
a data URI needs no file server and survives with the run history)."""

from __future__ import annotations

import pandas as pd

from pipeline.indicators import INDICATORS
from pipeline.report import plots

TOP_COLUMNS = ["rank", "yjs_name", "recommendation", "concern_score", "rank_low", "rank_high",
               "eligible", "months_since_inspection", "last_rating"]


def top_of_list(ranked: pd.DataFrame, n: int = 15) -> str:
    """The first ``n`` ranks, recommended or not: rank 1 may be a service
    inspected too recently to recommend, and analysts should see that."""
    top = ranked.sort_values("rank").head(n)
    return top[[c for c in TOP_COLUMNS if c in top.columns]].to_markdown(index=False, floatfmt=".2f")


def plot_markdown(ranked: pd.DataFrame, values: pd.DataFrame,
                  dispersion: pd.DataFrame | None = None) -> dict[str, str]:
    """{metadata key: Markdown} for the ranked list's materialisation."""
    out = {"top_of_list": top_of_list(ranked)}
    for ind in INDICATORS:
        fig = plots.funnel_plot(values, ranked, ind.key, dispersion)
        out[f"funnel_{ind.key}"] = plots.markdown_image(fig, f"funnel plot: {ind.label}")
    out["rank_intervals"] = plots.markdown_image(plots.rank_interval_plot(ranked),
                                                 "rank intervals, top 30")
    return out
