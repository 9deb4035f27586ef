"""The back-test's picture: share of adverse outcomes caught against share
of services inspected, one line per method (a gains chart; the diagonal is
picking at random). Written as SVG text (``pipeline.report.svg``, no
matplotlib) that Markdown embeds, so it shows in the Dagster UI's asset
metadata."""

from __future__ import annotations

import pandas as pd

from pipeline.report import svg
from pipeline.report.markdown import markdown_table

LABELS = {
    "concern_score": "concern score (pipeline)",
    "outcome_model": "outcome model",
    "concern_plus_model": "concern score + model",
    "league_table": "raw-rate league table",
    "time_since_inspection": "longest since last inspection",
}


def catch_curve_svg(curves: pd.DataFrame, title: str = "") -> str:
    """SVG of ``curves`` (method, share_inspected, share_caught), the
    methods named as in ``LABELS``."""
    return svg.catch_curve(curves, title, LABELS)


def _interval(row: pd.Series, col: str, pct: bool = True) -> str:
    f = (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: f"{v:.2f}")
    if pd.isna(row[col]):
        return "n/a"
    return f"{f(row[col])} ({f(row[col + '_low'])} to {f(row[col + '_high'])})"


def metrics_markdown(metrics: pd.DataFrame, sample: str = "common") -> str:
    """``backtest_metrics`` as a Markdown table: each figure with its 95% interval."""
    m = metrics[metrics["sample"] == sample]
    table = pd.DataFrame({
        "method": m["method"].map(lambda k: LABELS.get(k, k)),
        "inspections (adverse)": [f"{n} ({a})" for n, a in zip(m["n_inspections"], m["n_adverse"])],
        "AUC": [_interval(r, "auc", pct=False) for _, r in m.iterrows()],
        "AUC gain vs concern": ["reference" if r["method"] == "concern_score" else
                                _interval(r, "auc_gain", pct=False) for _, r in m.iterrows()],
        "caught in riskiest 10% (chance: 10%)": [_interval(r, "caught_top10") for _, r in m.iterrows()],
        "caught in riskiest 20% (chance: 20%)": [_interval(r, "caught_top20") for _, r in m.iterrows()],
        "pick precision (picks inspected)": [f"{_interval(r, 'pick_precision')} ({r['n_picked']:.0f})"
                                             for _, r in m.iterrows()],
        "note": m["note"],
    })
    return markdown_table(table)
