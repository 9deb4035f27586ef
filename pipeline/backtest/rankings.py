"""Every past month's ranking, as it would have been made that month.

The panel of indicator periods is built once, as of the latest date: each
period is scored against its own national rate, so the panel as of an
earlier month is exactly the rows whose period ended on or before that
month's cut-off (tested against ``panel.build_panel``). All months are then
ranked at once, through the refresh's own functions:

* evidence changes only when a new period enters an indicator's window, so
  it is computed once per indicator and latest period
  (``scores.evidence_at_cuts``' rows, as arrays: ``scores.evidence_parts``,
  all windows in one pass) and joined to the months that saw that period
  last;
* the inspection history of every month is one as-of join
  (``scores.history_by_month``); the concern score is
  ``scores.concern_arrays`` on arrays over the month x service cells (what
  ``scores.concern_terms`` computes, without its look-ups on an index of
  every cell); ranks are a sort;
* the raw-rate league table and the service sizes are computed once per
  period and joined to the months that saw it.

The joins are array look-ups on the month x service grid (``_Grid``), not
merges: each table's rows are placed in a (key, service) array once, and
every month reads its key's row (a pandas merge of these small tables costs
more in its own machinery than in the join); the outcome model's features
are then ``outcome_features.grid_features`` on that grid.

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


def latest_period(period_end: pd.Series, cutoffs: np.ndarray) -> np.ndarray:
    """For each cut-off, the latest of ``period_end`` on or before it (NaT if
    none), as datetime64[ns], for the grid's look-ups."""
    ends = np.sort(period_end.unique())
    i = np.searchsorted(ends, cutoffs, side="right") - 1
    out = np.full(len(cutoffs), np.datetime64("NaT"), "datetime64[ns]")
    out[i >= 0] = ends[i[i >= 0]]
    return out


COLUMNS = ["as_of", "yjs_id", "concern_score", "rank", "eligible", "evidenced", "months_since", "league_table",
           *outcome_features.FEATURES]


EVIDENCE_READ = ("e", "e_sd", "z", "trend_z")  # the evidence the rankings read (concern score, features)

# the panel's columns the rankings read (of panel.PANEL_COLUMNS): all the
# worker is sent of it
PANEL_COLUMNS_READ = ["indicator", "yjs_id", "period_end", "period_months", "numerator", "denominator",
                      "expected", "rate"]


def _no_rankings() -> pd.DataFrame:
    """``monthly_rankings``' columns with no rows, typed as its rows are, so
    that what joins on them (``outcome_features.training_table`` on as_of)
    still works when no month has enough history to rank."""
    types = {"as_of": "datetime64[ns]", "yjs_id": object, "rank": "int64", "eligible": bool, "evidenced": bool}
    return panel_mod.typed_empty({c: types.get(c, float) for c in COLUMNS})


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
    month["cutoff"] = panel_mod.indicator_cutoff(month["as_of"], rules.lag_months)  # every month at once
    cutoff = month["cutoff"].to_numpy()
    if panel["period_end"].dtype != "datetime64[ns]":  # not a copy of the panel where it already is
        panel = panel.assign(period_end=panel["period_end"].astype("datetime64[ns]"))
    by_indicator = dict(tuple(panel.groupby("indicator", sort=False)))
    empty = panel.iloc[:0]
    ids = services.drop_duplicates("yjs_id")["yjs_id"]
    grid = _Grid(month["as_of"].to_numpy(), ids)

    # evidence: once per indicator and latest period, on the months that saw that period last
    cuts, month_cut = {}, {}
    for ind in INDICATORS:
        rows = by_indicator.get(ind.key, empty)
        month_cut[ind.key] = latest_period(rows.loc[rows["denominator"] > 0, "period_end"], cutoff)
        cuts[ind.key] = pd.unique(month_cut[ind.key][~np.isnat(month_cut[ind.key])])
    # (``scores.evidence_at_cuts``' rows as arrays, without its tables: only these columns are read)
    parts = {part["indicator"]: part for part in scores.evidence_parts(panel, cuts)}
    ev = {}  # per indicator: each grid cell's e, e_sd, z and trend_z (NaN: no evidence)
    for ind in INDICATORS:
        part = parts.get(ind.key, {"cut": np.zeros(0, "datetime64[ns]"), "yjs_id": np.zeros(0, object),
                                   **{f: np.zeros(0) for f in EVIDENCE_READ}})
        cell = grid.rows(month_cut[ind.key], part["cut"], part["yjs_id"])[0]
        ev[ind.key] = {f: _at(np.asarray(part[f], float), cell) for f in EVIDENCE_READ}

    # concern scores and ranks, every month at once
    history = scores.history_by_month(inspections, month["as_of"])
    hist = grid.rows(grid.as_of, history["as_of"].to_numpy(), history["yjs_id"])[0]
    df = {c: _at(history[c].to_numpy(), hist)
          for c in ("last_published", "last_rating_score", "months_since_inspection")}
    df.update(scores.concern_arrays(
        {key: (ev[key]["e"], ev[key]["e_sd"]) for key in ev},
        pd.Series(df["last_rating_score"]).astype(float).to_numpy(),
        pd.Series(df["months_since_inspection"]).astype(float).to_numpy(), rules.weights))
    order = grid.ranked(df["concern_score"])

    # the raw-rate league table (as ``league_table``) and the service sizes: once per period
    league = _league_table(grid, by_indicator, empty, cutoff)
    size = outcome_features.sizes_by_period(by_indicator.get("fte", empty))
    cell = grid.rows(latest_period(size["period_end"], cutoff), size["period_end"].to_numpy(),
                     size["yjs_id"])[0]
    population = _at(size["population"].to_numpy(float), cell)

    months_since = df["months_since_inspection"]
    out = {"as_of": grid.as_of[order // grid.n_services], "yjs_id": grid.ids[order % grid.n_services],
           "concern_score": df["concern_score"][order],
           "rank": np.tile(np.arange(1, grid.n_services + 1), grid.n_months),
           "eligible": ~(months_since < rules.exclusion_months)[order],
           "evidenced": df["evidenced"][order], "months_since": months_since[order],
           "league_table": league[order]}
    feats = outcome_features.grid_features(
        {key: {f: ev[key][f] for f in ("e", "z", "trend_z")} for key in ev},
        population.reshape(grid.n_months, grid.n_services), df)
    return pd.DataFrame({**out, **{c: v[order] for c, v in feats.items()}})[COLUMNS]


def _league_table(grid, by_indicator: dict[str, pd.DataFrame], empty: pd.DataFrame,
                  cutoff: np.ndarray) -> np.ndarray:
    """``league_table`` for each cell of ``grid``: the mean of each
    indicator's percentile in its latest period on or before the month's
    ``cutoff`` (NaN if none), the percentiles computed once per period. The
    mean is Kahan-compensated and adds the values in the order pandas'
    grouped mean would (indicator by indicator, a period end's rows in the
    panel's order), so it is that mean to the last bit."""
    total, compensation, count = np.zeros(grid.size), np.zeros(grid.size), np.zeros(grid.size)
    for ind in INDICATORS:
        pct = rate_percentiles(by_indicator.get(ind.key, empty))
        value_of = pct["pct"].to_numpy(float)
        for cell in grid.rows(latest_period(pct["period_end"], cutoff), pct["period_end"].to_numpy(),
                              pct["yjs_id"]):
            value = _at(value_of, cell)
            known = ~np.isnan(value)
            y = np.where(known, value, 0.0) - compensation
            t = total + y
            compensation = np.where(known, (t - total) - y, compensation)
            total = np.where(known, t, total)
            count += known
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _at(values: np.ndarray, rows: np.ndarray, fill=None) -> np.ndarray:
    """``values[rows]``, and where a row is -1 (none) ``fill``, by default
    the values' missing value (NaN), as a left join leaves it."""
    return pd.api.extensions.take(np.asarray(values), rows, allow_fill=True, fill_value=fill)


class _Grid:
    """The month x service cells of ``monthly_rankings``, months outer: cell
    ``m * n_services + s``. Tables keyed by a date (a period end, a cut, the
    month) and a service are joined to it by array look-ups, not merges."""

    def __init__(self, as_of: np.ndarray, ids: pd.Series):
        self.as_of, self.ids = as_of.astype("datetime64[ns]"), ids.to_numpy(object)
        self.n_months, self.n_services = len(as_of), len(ids)
        self.size = self.n_months * self.n_services
        self._service = pd.Index(ids)

    def rows(self, month_key: np.ndarray, key: np.ndarray, yjs_id) -> np.ndarray:
        """For each cell, the row of a table keyed by (``key``, ``yjs_id``)
        whose key is its month's ``month_key`` (a date per month, NaT for
        none): -1 where there is none, as a left join would leave it. Rows
        of services not in the grid are dropped, as an inner join would.
        One row per cell and layer: a key and service with several rows
        (a period end of two period lengths) has them in successive layers,
        in the table's order, as a join would list them; -1 in the layers
        beyond a cell's rows."""
        key = np.asarray(key, "datetime64[ns]").view(np.int64)
        month_key = np.asarray(month_key, "datetime64[ns]").view(np.int64)
        keys = np.unique(key)
        s = self._service.get_indexer(yjs_id)
        row = np.flatnonzero(s >= 0)
        pair = np.searchsorted(keys, key[row]) * self.n_services + s[row]  # the table's cell of each row
        layer = np.zeros(row.size, int)  # each row's place among its cell's rows
        by_pair = np.argsort(pair, kind="stable")
        repeat = np.r_[False, pair[by_pair][1:] == pair[by_pair][:-1]]
        if repeat.any():
            start = np.maximum.accumulate(np.where(repeat, 0, np.arange(row.size)))
            layer[by_pair] = np.arange(row.size) - start
        table = np.full((layer.max(initial=0) + 1, keys.size + 1, self.n_services), -1)  # the last: no key
        table.reshape(len(table), -1)[layer, pair] = row
        at = np.minimum(np.searchsorted(keys, month_key), max(keys.size - 1, 0))
        found = (keys[at] == month_key) if keys.size else np.zeros(month_key.size, bool)
        return table[:, np.where(found, at, keys.size)].reshape(len(table), -1)

    def ranked(self, score: np.ndarray) -> np.ndarray:
        """The cells by month, then score (highest first), then yjs_id."""
        name = pd.factorize(self.ids, sort=True)[0]
        return np.lexsort((np.tile(name, self.n_months), -score,
                           np.repeat(np.arange(self.n_months), self.n_services)))


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
