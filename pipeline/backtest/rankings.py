"""Every past month's ranking, as it would have been made that month.

The panel of indicator periods is built once, as of the latest date: each
period is scored against its own national rate, so the panel as of an
earlier month is exactly the rows whose period ended on or before that
month's cut-off (tested against ``panel.build_panel``). Evidence changes only
when a new period enters an indicator's window, so it is computed once per
indicator and latest period and reused; inspection history, concern scores
and the features of the outcome model are recomputed each month.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.indicators import INDICATORS
from pipeline.model import outcome, panel as panel_mod, scores
from pipeline.settings import RankingRules

MIN_PERIODS = 2  # months before every indicator has this many periods are not ranked
RANK_DRAWS = 20  # rank intervals are not used by the back-test: few draws


def first_month(panel: pd.DataFrame, lag_months: int) -> pd.Timestamp | None:
    """The first month start at which every indicator has MIN_PERIODS periods published."""
    starts = []
    for ind in INDICATORS:
        ends = np.sort(panel.loc[panel["indicator"] == ind.key, "period_end"].unique())
        if len(ends) < MIN_PERIODS:
            return None
        seen = pd.Timestamp(ends[MIN_PERIODS - 1]) + pd.DateOffset(months=lag_months)
        starts.append(seen.to_period("M").start_time
                      if seen.day == 1 else (seen.to_period("M") + 1).start_time)
    return max(starts)


def backtest_months(panel: pd.DataFrame, lag_months: int, as_of: dt.date) -> list[pd.Timestamp]:
    """Month starts from ``first_month`` to the month of ``as_of``."""
    start = first_month(panel, lag_months)
    end = pd.Timestamp(as_of).to_period("M").start_time
    return [] if start is None or start > end else list(pd.date_range(start, end, freq="MS"))


def league_table(rows: pd.DataFrame) -> pd.Series:
    """Raw-rate league table: the mean percentile of each indicator's latest
    raw rate (higher = worse), as a naive analyst would rank."""
    latest = rows[rows["period_end"] == rows.groupby("indicator")["period_end"].transform("max")]
    pct = latest.groupby("indicator")["rate"].rank(pct=True)
    return pct.groupby(latest["yjs_id"]).mean()


def _as_of_panel(by_indicator: dict, cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    out = {}
    for key, rows in by_indicator.items():
        n = int(np.searchsorted(rows["period_end"].to_numpy(), np.datetime64(cutoff), side="right"))
        if n:
            out[key] = rows.iloc[:n]
    return out


COLUMNS = ["as_of", "yjs_id", "concern_score", "rank", "eligible", "months_since", "league_table",
           *outcome.FEATURES]


def monthly_rankings(panel: pd.DataFrame, services: pd.DataFrame, inspections: pd.DataFrame,
                     rules: RankingRules, months) -> pd.DataFrame:
    """One row per month x service: the concern score and rank, whether it
    was eligible for a visit, months since inspection, the raw-rate
    league-table score and the outcome model's features."""
    by_indicator = {ind.key: panel[panel["indicator"] == ind.key].sort_values("period_end", kind="stable")
                    for ind in INDICATORS}
    cache: dict[tuple, pd.DataFrame] = {}
    evs, hists, ranked, sizes, league = [], [], [], [], []
    for month in months:
        parts = _as_of_panel(by_indicator, panel_mod.indicator_cutoff(month.date(), rules.lag_months))
        evidence = []
        for key, rows in parts.items():
            ck = (key, rows["period_end"].iloc[-1])
            if ck not in cache:
                cache[ck] = scores.indicator_evidence(rows)
            evidence.append(cache[ck])
        ev = pd.concat(evidence, ignore_index=True)
        history = scores.inspection_history(inspections, month.date())
        sc = scores.concern_scores(services, ev, history, rules.weights, n_draws=RANK_DRAWS)
        rows = pd.concat(parts.values())
        evs.append(ev.assign(as_of=month))
        hists.append(history.assign(as_of=month))
        sizes.append(outcome.service_size(rows).assign(as_of=month))
        league.append(league_table(rows).rename("league_table").reset_index().assign(as_of=month))
        ranked.append(sc[["yjs_id", "concern_score", "rank", "months_since_inspection"]].assign(as_of=month))
    if not ranked:
        return pd.DataFrame(columns=COLUMNS)
    keys = ["as_of", "yjs_id"]
    out = pd.concat(ranked, ignore_index=True).rename(columns={"months_since_inspection": "months_since"})
    out["eligible"] = ~(out["months_since"] < rules.exclusion_months)
    out = out.merge(pd.concat(league), on=keys, how="left")
    feats = outcome.features(out[keys], pd.concat(evs), pd.concat(hists), pd.concat(sizes))
    return pd.concat([out, feats.drop(columns=keys)], axis=1)[COLUMNS]
