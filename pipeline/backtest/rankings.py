"""Every past month's ranking, as it would have been made that month.

The panel of indicator periods is built once, as of the latest date: each
period is scored against its own national rate, so the panel as of an
earlier month is exactly the rows whose period ended on or before that
month's cut-off (tested against ``panel.build_panel``). All months are then
ranked at once, through the refresh's own functions:

* evidence changes only when a new period enters an indicator's window, so
  it is computed once per indicator and latest period
  (``scores.evidence_at_cuts``, all windows in one pass) and joined to the
  months that saw that period last;
* the inspection history of every month is one as-of join
  (``scores.history_by_month``); the concern score is
  ``scores.concern_terms`` on a month x service index; ranks are a sort;
* the raw-rate league table and the service sizes are computed once per
  period and joined to the months that saw it.

Rank intervals are not needed by the back-test and are not simulated.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import INDICATORS
from pipeline.model import outcome, outcome_features, panel as panel_mod, scores
from pipeline.settings import RankingRules

MIN_PERIODS = 2  # months before every indicator has this many periods are not ranked
KEYS = ["as_of", "yjs_id"]
EVIDENCE_USED = ["e", "e_sd", "z", "trend_z"]  # by the concern score and the outcome model


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


def rate_percentiles(rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's raw rate as a percentile among the services of its
    indicator and period (higher = worse): indicator, period_end, yjs_id, pct."""
    return rows[["indicator", "period_end", "yjs_id"]].assign(
        pct=rows.groupby(["indicator", "period_end"])["rate"].rank(pct=True))


def league_table(rows: pd.DataFrame) -> pd.Series:
    """Raw-rate league table: the mean percentile of each indicator's latest
    raw rate (higher = worse), as a naive analyst would rank."""
    latest = rows[rows["period_end"] == rows.groupby("indicator")["period_end"].transform("max")]
    return rate_percentiles(latest).groupby("yjs_id")["pct"].mean().rename("league_table")


def latest_period(rows: pd.DataFrame, cutoffs: pd.Series) -> pd.Series:
    """For each cut-off, the latest ``period_end`` among ``rows`` on or before
    it (NaT if none)."""
    ends = np.sort(rows["period_end"].unique())
    i = np.searchsorted(ends, cutoffs.to_numpy(), side="right") - 1
    out = pd.Series(pd.NaT, index=cutoffs.index, dtype="datetime64[ns]")
    out[i >= 0] = ends[i[i >= 0]]
    return out


def _per_month(months: pd.DataFrame, by_period: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """``by_period`` rows (keyed by ``on`` + period_end) joined to each month
    whose latest period on or before its cut-off they are."""
    seen = months.assign(period_end=latest_period(by_period, months["cutoff"])).dropna(subset=["period_end"])
    return seen.merge(by_period, on=[*on, "period_end"])


COLUMNS = ["as_of", "yjs_id", "concern_score", "rank", "eligible", "evidenced", "months_since", "league_table",
           *outcome_features.FEATURES]


# the panel's columns the rankings read (of panel.PANEL_COLUMNS): all the
# worker is sent of it
PANEL_COLUMNS_READ = ["indicator", "yjs_id", "period_end", "period_months", "numerator", "denominator",
                      "expected", "rate"]


def _no_rankings() -> pd.DataFrame:
    """``monthly_rankings``' columns with no rows, typed as its rows are, so
    that what joins on them (``outcome_features.training_table`` on as_of)
    still works when no month has enough history to rank."""
    types = {"as_of": "datetime64[ns]", "yjs_id": object, "rank": "int64", "eligible": bool, "evidenced": bool}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, float)) for c in COLUMNS})


def monthly_rankings(panel: pd.DataFrame, services: pd.DataFrame, inspections: pd.DataFrame,
                     rules: RankingRules, months, submit=None) -> pd.DataFrame:
    """One row per month x service: the concern score and rank, whether it
    was eligible for a visit (not inspected within the exclusion months) and
    had any indicator figures, months since inspection, the raw-rate
    league-table score and the outcome model's features.

    Each month's rows depend on that month alone, so the months can be
    ranked in parts: ``submit(fn, *args)``, if given, starts ``fn(*args)``
    elsewhere (the model worker, as in ``outcomes.model_logits``) and
    returns a function that waits for its result. For a panel of
    ``pipeline.model.panel.SHARE_FROM_ROWS`` rows or more, the later half of the months is then
    ranked there while this process ranks the earlier half; the rows are
    the same to the last bit either way (tested)."""
    if submit is not None and len(panel) >= panel_mod.SHARE_FROM_ROWS and len(months) >= 2:
        half = len(months) // 2
        panel = panel[PANEL_COLUMNS_READ]
        later = submit(monthly_rankings, panel, services[["yjs_id"]], inspections, rules, months[half:])
        earlier = monthly_rankings(panel, services, inspections, rules, months[:half])
        return pd.concat([earlier, later()], ignore_index=True)
    if not len(months):
        return _no_rankings()
    month = pd.DataFrame({"as_of": pd.DatetimeIndex(months).astype("datetime64[ns]")})
    month["cutoff"] = [panel_mod.indicator_cutoff(m.date(), rules.lag_months) for m in month["as_of"]]
    panel = panel.assign(period_end=panel["period_end"].astype("datetime64[ns]"))

    by_indicator = dict(tuple(panel.groupby("indicator", sort=False)))
    empty = panel.iloc[:0]

    # evidence: once per indicator and latest period, joined to its months
    evs, cuts = [], {}
    for ind in INDICATORS:
        rows = by_indicator.get(ind.key, empty)
        rows = rows[rows["denominator"] > 0]
        seen = month.assign(cut=latest_period(rows, month["cutoff"])).dropna(subset=["cut"])
        cuts[ind.key] = seen["cut"].unique()
        evs.append(seen[["as_of", "cut"]].assign(indicator=ind.key))
    evidence = scores.evidence_at_cuts(panel, cuts)[["indicator", "cut", "yjs_id", *EVIDENCE_USED]]
    ev = pd.concat(evs).merge(evidence, on=["indicator", "cut"]).drop(columns="cut")

    # concern scores and ranks, every month at once
    ids = services.drop_duplicates("yjs_id")["yjs_id"]
    history = scores.history_by_month(inspections, month["as_of"])
    grid = pd.MultiIndex.from_product([month["as_of"], ids], names=KEYS)
    df = pd.DataFrame(index=grid).join(history.set_index(KEYS), how="left")
    df = scores.concern_terms(df, ev.set_index(KEYS), rules.weights).reset_index()
    df = df.sort_values(["as_of", "concern_score", "yjs_id"], ascending=[True, False, True],
                        ignore_index=True)
    df["rank"] = df.groupby("as_of").cumcount() + 1
    out = df[["as_of", "yjs_id", "concern_score", "rank", "evidenced", "months_since_inspection"]].rename(
        columns={"months_since_inspection": "months_since"})
    out["eligible"] = ~(out["months_since"] < rules.exclusion_months)

    # the raw-rate league table (as ``league_table``) and service sizes: once per period
    league = pd.concat([_per_month(month.assign(indicator=ind.key),
                                   rate_percentiles(by_indicator.get(ind.key, empty)), ["indicator"])
                        for ind in INDICATORS])
    league = league.groupby(KEYS)["pct"].mean().rename("league_table").reset_index()
    out = out.merge(league, on=KEYS, how="left")
    size = outcome_features.sizes_by_period(by_indicator.get("fte", empty))
    sizes = _per_month(month, size, [])

    feats = outcome_features.features(out[KEYS], ev, history, sizes)
    return pd.concat([out, feats.drop(columns=KEYS)], axis=1)[COLUMNS]


def training_months(inspections: pd.DataFrame, months, as_of) -> list[pd.Timestamp]:
    """The months of ``months`` whose rows the outcome model learns from: the
    lead month of each inspection published on or before ``as_of``
    (``outcome_features.training_table``)."""
    seen = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    leads = set(outcome_features.lead_month(seen["published"]))
    return [m for m in months if m in leads]


def fit_outcome_model(panel: pd.DataFrame, services: pd.DataFrame, inspections: pd.DataFrame,
                      rules: RankingRules, months, as_of):
    """``outcome.fit`` on the training rows of ``monthly_rankings(..., months)``,
    ranking only the months those rows come from (``training_months``): the
    same model, from the same rows, before the other months are ranked. The
    refresh runs it in the model worker beside its own ranking of every
    month (``pipeline.defs.backtest``)."""
    used = training_months(inspections, months, as_of)
    monthly = monthly_rankings(panel, services, inspections, rules, used)
    return outcome.fit(outcome.training_table(monthly, inspections, as_of))
