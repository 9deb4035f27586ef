"""Funnel plots, rank-interval and history charts (matplotlib, Agg).

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no
global state, safe inside the Dagster process, and the same functions draw
inline in the notebooks. Funnel limits are the published ones
(``limit_95_low`` ... ``limit_998_high`` of ``indicator_values``, exact and
over-dispersion-adjusted) when present, else ``stats.funnel_limits`` with the
period's tau^2 (Spiegelhalter 2005).

matplotlib is imported inside the drawing functions, not with the module:
the refresh uses only the data helpers here (``latest_period``,
``limit_lines``, ``COLOURS``) for its SVG charts (``pipeline.report.svg``),
and importing matplotlib would cost it half a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY
from pipeline.model import stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = {"full_joint_inspection": "#c0392b", "benchmark_visit": "#1f77b4", "monitor": "#9a9a9a"}
LIMIT_COLUMNS = ["limit_95_low", "limit_95_high", "limit_998_low", "limit_998_high"]


def latest_period(values: pd.DataFrame, indicator: str) -> pd.DataFrame:
    """The rows of the indicator's latest period compared with national (the
    longest period length when two end on the same date), with a usable
    rate: a later period with no national rate (one service's own, off the
    others' grid: ``panel.fewest_for_national``) has no national line or
    limits to draw, and would hide everyone else's figures; it is taken only
    where no period has a national rate. One mask narrowed step by step and
    one selection at the end: each selection copies every column of
    ``values``."""
    mine = (values["indicator"] == indicator).to_numpy()
    if "national_rate" in values:
        compared = mine & values["national_rate"].notna().to_numpy()
        if compared.any():
            mine = compared
    if mine.any():
        end, months = values["period_end"], values["period_months"]
        mine &= (end == end[mine].max()).to_numpy()
        mine &= (months == months[mine].max()).to_numpy()
        mine &= (values["rate"].notna() & (values["denominator"] > 0)).to_numpy()
    return values[mine]


def _figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure on an Agg canvas (imported here, on first use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=90)
    FigureCanvasAgg(fig)
    return fig


def stamped(fig: Figure, stamp: str) -> Figure:
    """``fig`` with ``stamp`` in red in its top left corner (as ``svg.stamped``
    marks the UI's plots), so that a plot saved on its own says its data is
    the demo's; "" leaves it as it is."""
    if stamp:
        fig.text(0.005, 0.995, stamp, color="#b00000", fontweight="bold", fontsize=8, va="top", ha="left")
    return fig


def stamp_of(synthetic_note: str) -> str:
    """The plots' stamp for ``run_metadata.synthetic_note``: the UI's wording."""
    if not synthetic_note:
        return ""
    return "partly SYNTHETIC demo data" if synthetic_note.startswith("Partly") else "SYNTHETIC demo data"


def limit_lines(period: pd.DataFrame, dispersion: pd.DataFrame | None, indicator: str):
    """(denominators, {limit column: limits}) sorted by denominator, for the
    funnel's control-limit lines: the published ``limit_*`` columns of the
    period's rows when all are there, else 200 points of
    ``stats.funnel_limits`` with the period's tau^2."""
    p = period.sort_values("denominator")
    d = p["denominator"].to_numpy(float)
    if set(LIMIT_COLUMNS) <= set(p.columns) and p[LIMIT_COLUMNS].notna().all().all():
        return d, {c: p[c].to_numpy(float) for c in LIMIT_COLUMNS}
    ind = BY_KEY[indicator]
    tau2 = 0.0
    if dispersion is not None and len(dispersion):
        row = dispersion[(dispersion["indicator"] == indicator)
                         & (to_datetime(dispersion["period_end"]) == to_datetime(p["period_end"].iloc[0]))]
        tau2 = float(row["tau2"].iloc[0]) if len(row) else 0.0
    grid = np.geomspace(d.min(), d.max(), 200)
    p0 = float(p["national_rate"].iloc[0]) / ind.multiplier
    out = {}
    for name, z in (("95", stats.Z95), ("998", stats.Z998)):
        lo, hi = stats.funnel_limits(grid, p0, ind.family, z, tau2)
        out[f"limit_{name}_low"], out[f"limit_{name}_high"] = lo * ind.multiplier, hi * ind.multiplier
    return grid, out


def funnel_plot(values: pd.DataFrame, ranked: pd.DataFrame, indicator: str,
                dispersion: pd.DataFrame | None = None) -> Figure:
    """One indicator's latest period: each service's rate against its
    denominator, the national line, 95% and 99.8% limits; services
    recommended for a visit are coloured and labelled by name."""
    ind = BY_KEY[indicator]
    period = latest_period(values, indicator)
    fig = _figure((8.5, 4.6))
    ax = fig.subplots()
    if period.empty:
        ax.text(0.5, 0.5, f"no {ind.label} figures", ha="center", transform=ax.transAxes)
        return fig
    rec = period.merge(ranked[["yjs_id", "yjs_name", "recommendation"]], on="yjs_id", how="left")
    rec["recommendation"] = rec["recommendation"].fillna("monitor")
    d, limits = limit_lines(period, dispersion, indicator)
    ax.axhline(period["national_rate"].iloc[0], color="black", lw=1, label="national")
    for name, style in (("95", "--"), ("998", ":")):
        label = "95% limits" if name == "95" else "99.8% limits"
        ax.plot(d, limits[f"limit_{name}_high"], "k" + style, lw=0.9, label=label)
        ax.plot(d, limits[f"limit_{name}_low"], "k" + style, lw=0.9)
    for kind in ("monitor", "benchmark_visit", "full_joint_inspection"):
        pts = rec[rec["recommendation"] == kind]
        ax.scatter(pts["denominator"], pts["rate"], s=14 if kind == "monitor" else 30,
                   color=COLOURS[kind], alpha=0.7 if kind == "monitor" else 1.0, zorder=3,
                   label=kind.replace("_", " "))
        if kind != "monitor":
            for _, r in pts.iterrows():
                ax.annotate(r["yjs_name"], (r["denominator"], r["rate"]), fontsize=7,
                            xytext=(4, 3), textcoords="offset points", color=COLOURS[kind])
    ax.set_xscale("log")
    months = int(period["period_months"].iloc[0])
    end = pd.Timestamp(period["period_end"].iloc[0]).strftime("%b %Y")
    unit = "cohort size" if ind.family == "binomial" else "population aged 10-17"
    ax.set(xlabel=f"{unit} (log scale)", ylabel=f"{ind.label} ({ind.unit})",
           title=f"{ind.label.capitalize()}: {months} months to {end}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never hides a point
    fig.tight_layout()
    return fig


def rank_interval_plot(ranked: pd.DataFrame, top: int = 30) -> Figure:
    """The top of the ranked list: each service's rank with its 90% interval,
    coloured by recommendation, so overlapping ranks are visible."""
    r = ranked.sort_values("rank").head(top)
    fig = _figure((7.5, 0.22 * len(r) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(r))
    colours = [COLOURS.get(k, COLOURS["monitor"]) for k in r["recommendation"]]
    ax.hlines(y, r["rank_low"], r["rank_high"], colors=colours, lw=2.5, alpha=0.6)
    ax.scatter(r["rank"], y, c=colours, s=18, zorder=3)
    ax.set_yticks(y, [f"{n} ({k})" for n, k in zip(r["yjs_name"], r["rank"])], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="rank (90% interval); 1 = most in need of a full joint inspection",
           title=f"Top {len(r)} of the ranked list")
    for kind, colour in COLOURS.items():
        ax.scatter([], [], color=colour, label=kind.replace("_", " "))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def history_plot(values: pd.DataFrame, yjs_id: str, name: str = "") -> Figure:
    """One service's rate per period beside the national rate, one panel per
    indicator, with its 95% and 99.8% upper limits where published; titled
    with the service's ``name`` (else its id), so a saved plot says whose."""
    mine = values[values["yjs_id"] == yjs_id]
    keys = [k for k in BY_KEY if k in set(mine["indicator"])]
    fig = _figure((7.5, 2.4 * max(len(keys), 1)))
    axes = np.atleast_1d(fig.subplots(max(len(keys), 1), 1, sharex=True))
    for ax, key in zip(axes, keys):
        ind = BY_KEY[key]
        v = mine[mine["indicator"] == key]
        latest = v.sort_values(["period_end", "period_months"]).iloc[-1]
        v = v[v["period_months"] == latest["period_months"]].sort_values("period_end")
        ax.plot(v["period_end"], v["national_rate"], "k-", lw=1, label="national")
        if "limit_95_high" in v:
            ax.plot(v["period_end"], v["limit_95_high"], "k--", lw=0.8, label="95% upper limit")
            ax.plot(v["period_end"], v["limit_998_high"], "k:", lw=0.8, label="99.8% upper limit")
        ax.plot(v["period_end"], v["rate"], "o-", color=COLOURS["full_joint_inspection"], ms=3,
                label="this service")
        ax.set_ylabel(f"{ind.label}\n({ind.unit})", fontsize=8)
        ax.set_title(f"{ind.label.capitalize()}, {int(latest['period_months'])}-month periods", fontsize=9)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle(name or yjs_id, fontsize=10)
    fig.tight_layout()
    return fig
