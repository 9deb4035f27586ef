"""The ranked list: recommendations and their reasons in plain English.

Rules (contract defaults, configurable through ``RankingRules``):

* services inspected in the ``exclusion_months`` before as_of are recommended
  for neither visit;
* ``full_joint_inspection``: the ``n_full_joint`` eligible services with the
  highest concern score;
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

from pipeline.indicators import BY_KEY, format_rate
from pipeline.model.stats import Z95
from pipeline.settings import RankingRules

TARGET_COLUMNS = [
    "as_of", "rank", "yjs_id", "yjs_name", "recommendation", "concern_score", "rank_low",
    "rank_high", "months_since_inspection", "last_rating", "reasons", "concern_sd",
    "last_inspected", "eligible",
]
GOOD_RATINGS = {"outstanding", "good"}
BAND_TEXT = {
    "high_99.8": "above the 99.8% limit", "high_95": "above the 95% limit",
    "within": "within the limits", "low_95": "better than the 95% limit",
    "low_99.8": "better than the 99.8% limit",
}


def _window_text(months: int, end: pd.Timestamp) -> str:
    span = f"{months // 12} years" if months % 12 == 0 and months > 12 else f"{months} months"
    return f"{span} to {end:%b %Y}"


def indicator_phrase(row: pd.Series) -> str:
    """'proven reoffending 41.2% vs 31.0% national (3 years to Dec 2025;
    z 3.4, above the 99.8% limit), rising for 3 periods'."""
    ind = BY_KEY[row["indicator"]]
    text = (f"{ind.label} {format_rate(ind.key, row['rate'])} vs "
            f"{format_rate(ind.key, row['national_rate'])} national "
            f"({_window_text(int(row['window_months']), row['window_end'])}; "
            f"z {row['z']:.1f}, {BAND_TEXT.get(row['band'], 'no band')})")
    if row.get("trend_z", np.nan) > Z95:
        text += f", rising (trend z {row['trend_z']:.1f})"
    elif row.get("rising_periods", 0) >= 2:
        text += f", rising for {int(row['rising_periods'])} periods"
    elif row.get("trend_z", np.nan) < -Z95:
        text += f", falling (trend z {row['trend_z']:.1f})"
    return text


def _inspection_phrase(row: pd.Series) -> str:
    if pd.isna(row["last_inspected"]):
        return "no inspection on record"
    return f"last inspected {row['last_inspected']:%Y-%m}, {row['last_rating']}"


def reasons_for(row: pd.Series, ev: pd.DataFrame, rules: RankingRules) -> str:
    """Plain-English reasons for one service's place in the list."""
    parts = []
    if row["recommendation"] == "benchmark_visit":
        better = ev[ev["z"] < -Z95].sort_values("z")
        parts.append("better than national on " + "; ".join(indicator_phrase(r) for _, r in better.iterrows()))
    else:
        outside = ev[ev["band"].isin(["high_99.8", "high_95"])].sort_values("e", ascending=False)
        if len(outside):
            parts.append("; ".join(indicator_phrase(r) for _, r in outside.iterrows()))
        elif len(ev):
            top = ev.sort_values("e", ascending=False).iloc[0]
            parts.append("no indicator above the 95% limit; highest: " + indicator_phrase(top))
        else:
            parts.append("no indicator data")
    parts.append(_inspection_phrase(row))
    if not row["eligible"]:
        parts.append(f"not eligible: inspected within the last {rules.exclusion_months} months")
    return "; ".join(parts)


def recommend(scores: pd.DataFrame, evidence: pd.DataFrame, rules: RankingRules,
              as_of: dt.date) -> pd.DataFrame:
    """``inspection_targets``: one row per service, ranked, with a
    recommendation and reasons."""
    df = scores.rename(columns={"last_published": "last_inspected"}).copy()
    df["eligible"] = ~(df["months_since_inspection"] < rules.exclusion_months)
    df["recommendation"] = "monitor"
    full = df[df["eligible"]].nsmallest(rules.n_full_joint, "rank").index
    df.loc[full, "recommendation"] = "full_joint_inspection"

    by_service = {k: g for k, g in evidence.groupby("yjs_id")}
    empty = evidence.iloc[0:0]
    sig_better = pd.Series({k: int((g["z"] < -Z95).sum()) for k, g in by_service.items()})
    sig_worse = pd.Series({k: int((g["z"] > Z95).sum()) for k, g in by_service.items()})
    good = df["last_rating"].isna() | df["last_rating"].astype(str).str.strip().str.lower().isin(GOOD_RATINGS)
    candidates = df[df["eligible"] & (df["recommendation"] == "monitor") & good
                    & (df["yjs_id"].map(sig_better).fillna(0) >= 2)
                    & (df["yjs_id"].map(sig_worse).fillna(0) == 0)]
    bench = candidates.nlargest(rules.n_benchmark, "rank").index
    df.loc[bench, "recommendation"] = "benchmark_visit"

    df["reasons"] = [reasons_for(row, by_service.get(row["yjs_id"], empty), rules)
                     for _, row in df.iterrows()]
    df["as_of"] = pd.Timestamp(as_of)
    df["months_since_inspection"] = df["months_since_inspection"].astype("Int64")
    return df[TARGET_COLUMNS].sort_values("rank", ignore_index=True)
