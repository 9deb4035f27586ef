"""The Markdown shown on the ``inspection_targets`` asset page in the Dagster
UI: the top of the ranked list, a funnel plot per indicator and the rank
intervals, as SVG images inlined in data URIs (the UI renders Markdown
metadata; a data URI needs no file server and survives with the run
history). The SVG is written by hand (``pipeline.report.svg``): a few
milliseconds for all the charts, and no matplotlib in the refresh."""

from __future__ import annotations

import pandas as pd

from pipeline.indicators import INDICATORS
from pipeline.report import svg
from pipeline.report.markdown import markdown_table

TOP_COLUMNS = ["rank", "yjs_name", "recommendation", "concern_score", "rank_low", "rank_high",
               "eligible", "months_since_inspection", "last_rating"]


def top_of_list(ranked: pd.DataFrame, n: int = 15) -> str:
    """The first ``n`` ranks, recommended or not: rank 1 may be a service
    inspected too recently to recommend, and analysts should see that."""
    top = ranked.sort_values("rank").head(n)
    return markdown_table(top[[c for c in TOP_COLUMNS if c in top.columns]], floatfmt=".2f")


def plot_markdown(ranked: pd.DataFrame, values: pd.DataFrame,
                  dispersion: pd.DataFrame | None = None, stamp: str = "") -> dict[str, str]:
    """{metadata key: Markdown} for the ranked list's materialisation; each
    plot carries ``stamp`` in its corner (:func:`svg.stamped`)."""
    out = {"top_of_list": top_of_list(ranked)}
    for ind in INDICATORS:
        out[f"funnel_{ind.key}"] = svg.markdown_image(
            svg.stamped(svg.funnel(values, ranked, ind.key, dispersion), stamp), f"funnel plot: {ind.label}")
    out["rank_intervals"] = svg.markdown_image(svg.stamped(svg.rank_intervals(ranked), stamp),
                                               "rank intervals, top 30")
    return out
