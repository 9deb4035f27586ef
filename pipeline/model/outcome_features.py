"""What the outcome model sees: features known before each inspection.

Features, all as of the ranking month (``features``): per indicator the
shrunk evidence ``e``, the adjusted pooled ``z`` and the trend z
(``scores.indicator_evidence``; missing = national, no trend); the log of
the population aged 10-17 (service size); the last rating score (2.5 if
never inspected) and the months since it (capped at 72; never = 72) with a
never-inspected flag.

Training rows (``training_table``): each past inspection with the features
of the month before it was published, so no row ever sees its own outcome.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY
from pipeline.model.scores import TIME_CAP_MONTHS

ADVERSE_MIN_SCORE = 3
LEAD_MONTHS = 1  # an inspection is scored by the ranking of the month before it was published
INDICATOR_FEATURES = [f"{k}_{f}" for k in BY_KEY for f in ("e", "z", "trend_z")]
FEATURES = INDICATOR_FEATURES + [
    "log_population", "last_rating_score", "months_since_inspection", "never_inspected"]


def sizes_by_period(panel: pd.DataFrame) -> pd.DataFrame:
    """Population aged 10-17 per first-time-entrant period and service of
    ``panel`` (period_end, yjs_id, population)."""
    fte = panel[(panel["indicator"] == "fte") & (panel["denominator"] > 0)]
    return fte.groupby(["period_end", "yjs_id"], as_index=False)["denominator"].sum().rename(
        columns={"denominator": "population"})


def service_size(panel: pd.DataFrame) -> pd.DataFrame:
    """Population aged 10-17 per service (yjs_id, population) in the latest
    first-time-entrant period of ``panel``."""
    sizes = sizes_by_period(panel)
    latest = sizes[sizes["period_end"] == sizes["period_end"].max()]
    return latest.drop(columns="period_end").reset_index(drop=True)


def features(keys: pd.DataFrame, evidence: pd.DataFrame, history: pd.DataFrame,
             size: pd.DataFrame) -> pd.DataFrame:
    """The model's features for each row of ``keys`` (``yjs_id``, and
    ``as_of`` when several months are described at once; ``evidence``,
    ``history`` and ``size`` carry the same key columns). Same row order."""
    on = list(keys.columns)
    ev = evidence.set_index([*on, "indicator"])[["e", "z", "trend_z"]].unstack("indicator")
    ev.columns = [f"{ind}_{f}" for f, ind in ev.columns]
    hist = history[on + ["last_published", "last_rating_score", "months_since_inspection"]]
    out = (keys.merge(ev.reset_index(), on=on, how="left").merge(hist, on=on, how="left")
           .merge(size[on + ["population"]], on=on, how="left"))
    indicator = {col: pd.to_numeric(out[col], errors="coerce").to_numpy(float) for col in INDICATOR_FEATURES
                 if col in out}
    pop = out["population"].astype(float)  # unknown size: the month's median
    if "as_of" in on:
        median = pop.groupby(out["as_of"]).transform("median").to_numpy()
    else:  # no size known at all (no first-time-entrant period yet): NaN without numpy's warning
        median = pop.median() if pop.notna().any() else np.nan
    out = out[on].assign(**_finish(indicator, pop.to_numpy(), median, out))
    return out[on + FEATURES]


def grid_features(evidence: dict[str, dict[str, np.ndarray]], population: np.ndarray,
                  history: pd.DataFrame) -> dict[str, np.ndarray]:
    """``features`` of every month x service at once, as arrays over the
    cells of a grid, months outer: ``evidence[indicator][e | z | trend_z]``
    and ``history``'s columns (last_published, last_rating_score,
    months_since_inspection) one value per cell (NaN where none),
    ``population`` one row per month. The back-test's rankings
    (``pipeline.backtest.rankings.monthly_rankings``) join their tables to
    such a grid by array look-ups instead of merges."""
    indicator = {f"{key}_{f}": v for key, fs in evidence.items() for f, v in fs.items()}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a month of unknown sizes: NaN
        median = np.nanmedian(population, axis=1) if population.size else np.zeros(len(population))
    median = np.repeat(median, population.shape[1])
    return _finish(indicator, population.ravel(), median, history)


def _finish(indicator: dict[str, np.ndarray], population: np.ndarray, median,
            history) -> dict[str, np.ndarray]:
    """The FEATURES' values from the joined columns: missing evidence is
    national with no trend (0), an unknown size the month's median (else
    1), never inspected the neutral rating 2.5 and the capped time."""
    # NaN (no evidence) is 0; an infinite z stays infinite, as fillna leaves it
    out = {col: np.where(np.isnan(indicator[col]), 0.0, indicator[col]) if col in indicator
           else np.zeros(len(population))
           for col in INDICATOR_FEATURES}
    pop = np.where(np.isnan(population), median, population)
    out["log_population"] = np.log(np.where(np.isnan(pop), 1.0, pop))
    out["last_rating_score"] = pd.Series(history["last_rating_score"]).astype(float).fillna(2.5).to_numpy()
    out["months_since_inspection"] = (pd.Series(history["months_since_inspection"]).astype(float)
                                      .clip(0, TIME_CAP_MONTHS).fillna(TIME_CAP_MONTHS).to_numpy())
    out["never_inspected"] = pd.Series(history["last_published"]).isna().to_numpy(float)
    return {col: out[col] for col in FEATURES}


def lead_month(published) -> pd.Series:
    """The ranking month that scores an inspection: the month before it was published.

    On numpy's month units (~0.1 ms, against ~0.4 ms warm and ~2 ms on a
    process's first call for pandas' monthly periods, three calls a
    refresh); dates other than plain datetime64[ns] (with a time zone) by
    the periods, as before."""
    s = to_datetime(pd.Series(published))
    if s.dtype != "datetime64[ns]":
        return (s.dt.to_period("M") - LEAD_MONTHS).dt.start_time
    months = s.to_numpy().astype("datetime64[M]") - LEAD_MONTHS
    return pd.Series(months.astype("datetime64[ns]"), index=s.index, name=s.name)


def training_table(monthly: pd.DataFrame, inspections: pd.DataFrame, as_of) -> pd.DataFrame:
    """Inspections published on or before ``as_of`` with the features of their
    lead month (rows of ``monthly``: as_of, yjs_id, FEATURES) and ``adverse``."""
    seen = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    # an inspection whose rating is unknown (its rows disagree: ingest.inspections) is no outcome to learn
    seen = seen[seen["rating_score"].notna()]
    t = seen[["yjs_id", "published", "rating_score"]].assign(
        published=to_datetime(seen["published"]), as_of=lead_month(seen["published"]).to_numpy())
    # joined on the keys alone, the features then taken by row: not a copy of every month's features
    t = t.merge(monthly[["as_of", "yjs_id"]].assign(_row=np.arange(len(monthly))), on=["as_of", "yjs_id"])
    rows = t.pop("_row").to_numpy()
    features_of = pd.DataFrame({c: monthly[c].to_numpy()[rows] for c in FEATURES}, index=t.index)
    t = pd.concat([t, features_of], axis=1)
    t["adverse"] = t["rating_score"].to_numpy(float) >= ADVERSE_MIN_SCORE
    return t.sort_values(["published", "yjs_id"], ignore_index=True)
