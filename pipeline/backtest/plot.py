"""The back-test's picture: share of adverse outcomes caught against share
of services inspected, one line per method (a gains chart; the diagonal is
picking at random). Rendered off-screen (Agg) to a PNG that Markdown can
embed, so it shows in the Dagster UI's asset metadata."""

from __future__ import annotations

import base64
import io

import pandas as pd

LABELS = {
    "concern_score": "concern score (pipeline)",
    "outcome_model": "outcome model",
    "concern_plus_model": "concern score + model",
    "league_table": "raw-rate league table",
    "time_since_inspection": "longest since last inspection",
}


def catch_curve_png(curves: pd.DataFrame, title: str = "") -> bytes:
    """PNG of ``curves`` (method, share_inspected, share_caught)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    for method, c in curves.groupby("method", sort=False):
        ax.plot(c["share_inspected"], c["share_caught"], label=LABELS.get(method, method),
                linewidth=2.2 if method == "concern_score" else 1.4)
    for x in (0.1, 0.2):
        ax.axvline(x, color="lightgrey", linewidth=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="share of services inspected (riskiest first)",
           ylabel="share of adverse outcomes caught", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def markdown_image(png: bytes, alt: str = "") -> str:
    """Markdown that embeds a PNG inline (base64 data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


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
        "caught in riskiest 10%": [_interval(r, "caught_top10") for _, r in m.iterrows()],
        "caught in riskiest 20%": [_interval(r, "caught_top20") for _, r in m.iterrows()],
        "pick precision (picks inspected)": [f"{_interval(r, 'pick_precision')} ({r['n_picked']:.0f})"
                                             for _, r in m.iterrows()],
        "note": m["note"],
    })
    return table.to_markdown(index=False)
