"""The ranked list: recommendations and their reasons in plain English.

Rules (contract defaults, configurable through ``RankingRules``):

* services inspected in the ``exclusion_months`` before as_of are recommended
  for neither visit;
* ``full_joint_inspection``: the ``n_full_joint`` eligible services with the
  highest concern score among those with indicator figures (a service with
  none, e.g. as of a date before the first published period, is monitored:
  its score would rest on its inspection history alone, and services with
  the same history tie);
* ``benchmark_visit``: among eligible services significantly better than
  national (pooled z below -1.96) on at least two indicators, significantly
  worse on none, and rated Outstanding or Good (or good, 2012-2017 scale) at
  their last inspection or never inspected: the ``n_benchmark`` with the
  lowest concern score. Fewer are recommended when fewer qualify, and the
  list says so rather than lowering the bar;
* everyone else: ``monitor``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY, format_rate
from pipeline.model.stats import Z95
from pipeline.settings import RankingRules

TARGET_COLUMNS = [
    "as_of", "rank", "yjs_id", "yjs_name", "recommendation", "concern_score", "rank_low",
    "rank_high", "months_since_inspection", "last_rating", "reasons", "concern_sd",
    "last_inspected", "eligible",
]
GOOD_RATINGS = {"outstanding", "good"}
NO_FIGURES = "no indicator data, so no visit is recommended"  # the reasons of a service without figures
BAND_TEXT = {
    "high_99.8": "above the 99.8% limit", "high_95": "above the 95% limit",
    "within": "within the limits", "low_95": "better than the 95% limit",
    "low_99.8": "better than the 99.8% limit",
}


def _window_text(months: int, end: pd.Timestamp) -> str:
    span = f"{months // 12} years" if months % 12 == 0 and months > 12 else f"{months} months"
    return f"{span} to {end:%b %Y}"


def indicator_phrases(ev: pd.DataFrame) -> list[str]:
    """One phrase per evidence row: 'proven reoffending 41.2% vs 31.0%
    national (3 years to Dec 2025; z 3.4, above the 99.8% limit), rising for
    3 periods', 'custodial sentences 0.45 per 1,000 aged 10-17 vs 0.19
    national (...)'."""
    out = []
    for key, rate, nat, months, end, z, band, tz, rising in zip(
            ev["indicator"], ev["rate"], ev["national_rate"], ev["window_months"],
            ev["window_end"], ev["z"], ev["band"], ev["trend_z"], ev["rising_periods"]):
        text = (f"{BY_KEY[key].label} {format_rate(key, rate)} vs {format_rate(key, nat, False)} national "
                f"({_window_text(int(months), end)}; z {z:.1f}, {BAND_TEXT.get(band, 'no band')})")
        if tz > Z95:
            text += f", rising (trend z {tz:.1f})"
        elif rising >= 2:
            text += f", rising for {int(rising)} periods"
        elif tz < -Z95:
            text += f", falling (trend z {tz:.1f})"
        out.append(text)
    return out


def reasons(df: pd.DataFrame, evidence: pd.DataFrame, rules: RankingRules) -> pd.Series:
    """Plain-English reasons for each service's place in the list: the
    indicators outside the limits (or the highest one), for a benchmark the
    indicators better than national, then the last inspection and, where it
    applies, why the service is not eligible."""
    ev = evidence.assign(phrase=indicator_phrases(evidence))
    by_e = ev.sort_values(["yjs_id", "e"], ascending=[True, False])
    high = by_e[by_e["band"].isin(["high_99.8", "high_95"])].groupby("yjs_id")["phrase"].agg("; ".join)
    top = by_e.groupby("yjs_id")["phrase"].first()
    better = ev[ev["z"] < -Z95].sort_values(["yjs_id", "z"]).groupby("yjs_id")["phrase"].agg("; ".join)
    ids = df["yjs_id"]
    text = np.where(ids.map(high).notna(), ids.map(high),
                    np.where(ids.map(top).notna(),
                             "no indicator above the 95% limit; highest: " + ids.map(top).fillna(""),
                             NO_FIGURES))
    bench = (df["recommendation"] == "benchmark_visit").to_numpy()
    text = np.where(bench, "better than national on " + ids.map(better).fillna(""), text)
    inspected = df["last_inspected"].notna()
    last = np.where(inspected, "last inspected " + to_datetime(df["last_inspected"]).dt.strftime("%Y-%m")
                    + ", " + df["last_rating"].astype(str), "no inspection on record")
    out = pd.Series(text, index=df.index) + "; " + last
    excluded = f"; not eligible: inspected within the last {rules.exclusion_months} months"
    return out.where(df["eligible"], out + excluded)


def recommend(scores: pd.DataFrame, evidence: pd.DataFrame, rules: RankingRules,
              as_of: dt.date) -> pd.DataFrame:
    """``inspection_targets``: one row per service, ranked, with a
    recommendation and reasons. ``scores`` is ``scores.concern_scores``'
    output; its ``evidenced`` (any indicator figures) is what the back-test's
    picks use too."""
    df = scores.rename(columns={"last_published": "last_inspected"}).copy()
    df["eligible"] = ~(df["months_since_inspection"] < rules.exclusion_months)
    df["recommendation"] = "monitor"
    full = df[df["eligible"] & df["evidenced"]].nsmallest(rules.n_full_joint, "rank").index
    df.loc[full, "recommendation"] = "full_joint_inspection"

    counts = evidence.assign(better=evidence["z"] < -Z95, worse=evidence["z"] > Z95) \
        .groupby("yjs_id")[["better", "worse"]].sum()
    good = df["last_rating"].isna() | df["last_rating"].astype(str).str.strip().str.lower().isin(GOOD_RATINGS)
    candidates = df[df["eligible"] & (df["recommendation"] == "monitor") & good
                    & (df["yjs_id"].map(counts["better"]).fillna(0) >= 2)
                    & (df["yjs_id"].map(counts["worse"]).fillna(0) == 0)]
    bench = candidates.nlargest(rules.n_benchmark, "rank").index
    df.loc[bench, "recommendation"] = "benchmark_visit"
    df["reasons"] = reasons(df, evidence, rules)
    df["as_of"] = pd.Timestamp(as_of)
    df["months_since_inspection"] = df["months_since_inspection"].astype("Int64")
    return df[TARGET_COLUMNS].sort_values("rank", ignore_index=True)
