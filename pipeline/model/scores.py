"""Per-service evidence: recent periods pooled, shrunk, with trend, combined
with past inspections into one concern score with a rank interval.

Method (documented in the README):

1. Per indicator, the periods of the last ``window_months`` (non-overlapping,
   stepping back one period length from the latest) are pooled with weights
   halving every ``half_life_months``: O = sum w*O_t, E = sum w*E_t, and an
   effective size E_eff = (sum w*E)^2 / sum w^2*E for the standard error.
2. The pooled value is put on the variance-stabilised scale. Its z-score and
   band use the over-dispersion tau^2 from Winsorised phi (robust control
   limits); its empirical-Bayes shrinkage (``stats.shrink``) uses the
   standard DerSimonian-Laird tau^2 (``stats.random_effects_tau2``), which
   keeps genuine outliers in the spread of true values.
3. Evidence e = (shrunk - target) / sqrt(tau^2 + median se^2): how many
   between-service standard deviations worse than national the service's
   underlying rate is likely to be. Positive = worse.
4. Concern = weighted mean of e over the indicators available, plus
   w_inspection * the last rating ((score-2.5)/1.5, halving every 36 months)
   plus w_time * the time since inspection (0 at 0 months, capped at 72,
   centred). Never inspected counts as the longest time and a neutral rating.
5. Rank interval: concern is normal given the posteriors; 90% rank intervals
   by simulation (``stats.rank_intervals``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.indicators import INDICATORS, BY_KEY
from pipeline.model import stats

WINDOW_MONTHS = 36
HALF_LIFE_MONTHS = 12
RATING_HALF_LIFE_MONTHS = 36
CREDIBLE_Z = 1.6448536  # 90% credible interval
TIME_CAP_MONTHS = 72


def _window(rows: pd.DataFrame, window_months: int) -> pd.DataFrame:
    """Rows of the latest period and the non-overlapping periods before it
    within the window, with k = periods back from the latest."""
    latest = rows["period_end"].max()
    months = int(rows.loc[rows["period_end"] == latest, "period_months"].mode().iloc[0])
    rows = rows[rows["period_months"] == months]
    month = rows["period_end"].dt.year * 12 + rows["period_end"].dt.month
    back = latest.year * 12 + latest.month - month
    keep = (back % months == 0) & (back < max(window_months, months))
    return rows[keep].assign(k=back[keep] // months, months=months)


def _trend(w: pd.DataFrame) -> pd.DataFrame:
    """Per service: weighted least-squares slope of log(O/E) per year (weights
    E, the inverse variance of a log count), its z, and how many consecutive
    periods the relative rate rose up to the latest. Vectorised with group
    sums; a slope needs at least three periods."""
    w = w[w["numerator"].notna() & (w["expected"] > 0)]
    t = -w["k"] * w["months"] / 12.0
    lr = np.log((w["numerator"] + 0.5) / (w["expected"] + 0.5))
    wt = w["expected"]
    parts = pd.DataFrame({"yjs_id": w["yjs_id"], "n": 1, "sw": wt, "st": wt * t, "sl": wt * lr,
                          "stt": wt * t * t, "stl": wt * t * lr})
    g = parts.groupby("yjs_id").sum()
    sxx = (g["stt"] - g["st"] ** 2 / g["sw"]).clip(lower=0)  # rounding can dip below 0
    sxy = g["stl"] - g["st"] * g["sl"] / g["sw"]
    ok = (g["n"] >= 3) & (sxx > 0)
    slope = (sxy / sxx).where(ok)
    # rising run: newest first, count leading period-on-period increases
    rel = pd.DataFrame({"yjs_id": w["yjs_id"], "k": w["k"], "rel": w["numerator"] / w["expected"]})
    rel = rel.sort_values(["yjs_id", "k"])
    older = rel.groupby("yjs_id")["rel"].shift(-1)
    up = (rel["rel"] > older).astype(int)
    rising = up.groupby(rel["yjs_id"]).cumprod().groupby(rel["yjs_id"]).sum()
    return pd.DataFrame({"yjs_id": g.index, "trend_slope": slope.to_numpy(),
                         "trend_z": (slope * np.sqrt(sxx)).to_numpy(),
                         "rising_periods": rising.reindex(g.index).fillna(0).astype(int).to_numpy()})


def _back_transform(v, national, multiplier: float, family: str):
    """A value on the variance-stabilised scale as a rate: sqrt(O/E) back to
    (O/E) x national for counts, asin(sqrt(p)) back to p for proportions."""
    v = np.asarray(v, float)
    if family == "poisson":
        return np.clip(v, 0, None) ** 2 * national
    return np.sin(np.clip(v, 0, np.pi / 2)) ** 2 * multiplier


def indicator_evidence(panel: pd.DataFrame, window_months: int = WINDOW_MONTHS,
                       half_life_months: float = HALF_LIFE_MONTHS) -> pd.DataFrame:
    """One row per service x indicator: pooled recent rate and national rate,
    adjusted z and band, shrunk evidence ``e`` with its sd, and the trend."""
    out = []
    for ind in INDICATORS:
        rows = panel[(panel["indicator"] == ind.key) & (panel["denominator"] > 0)]
        if rows.empty:
            continue
        w = _window(rows, window_months)
        w = w.assign(wgt=0.5 ** (w["k"] * w["months"] / half_life_months))
        ok = w[w["numerator"].notna()]
        g = ok.assign(wo=ok["wgt"] * ok["numerator"], wn=ok["wgt"] * ok["denominator"],
                      we=ok["wgt"] * ok["expected"], w2n=ok["wgt"] ** 2 * ok["denominator"],
                      w2e=ok["wgt"] ** 2 * ok["expected"]).groupby("yjs_id")
        p = g[["wo", "wn", "we", "w2n", "w2e"]].sum()
        p["periods"] = g.size()
        if ind.family == "poisson":
            y, target, _ = stats.transformed(p["wo"], p["we"], None, "poisson")
            se = 1.0 / (2.0 * np.sqrt(p["we"] ** 2 / p["w2e"]))
        else:
            y, target, _ = stats.transformed(p["wo"], p["wn"], p["we"] / p["wn"], "binomial")
            se = 1.0 / (2.0 * np.sqrt(p["wn"] ** 2 / p["w2n"]))
        se = np.asarray(se, float)
        d = stats.dispersion(y, target, se)
        tau2_re = stats.random_effects_tau2(y, target, se)
        mean, sd = stats.shrink(y, target, se, tau2_re)
        scale = np.sqrt(tau2_re + np.nanmedian(se**2))
        ev = pd.DataFrame({
            "yjs_id": p.index, "indicator": ind.key,
            "window_end": w["period_end"].max(),
            "window_months": (int(w["k"].max()) + 1) * int(w["months"].iloc[0]),
            "periods_used": p["periods"].to_numpy(),
            "rate": (p["wo"] / p["wn"] * ind.multiplier).to_numpy(),
            "national_rate": (p["we"] / p["wn"] * ind.multiplier).to_numpy(),
            "z": stats.adjusted_z(y, target, se, d["tau2"]),
            "e": (mean - target) / scale, "e_sd": sd / scale,
            "tau2": d["tau2"], "phi": d["phi"], "tau2_shrinkage": tau2_re,
        })
        ev["band"] = stats.funnel_band(ev["z"])
        lo, hi = mean - CREDIBLE_Z * sd, mean + CREDIBLE_Z * sd
        national = ev["national_rate"].to_numpy()
        for col, v in (("shrunk_rate", mean), ("shrunk_rate_low", lo), ("shrunk_rate_high", hi)):
            ev[col] = _back_transform(v, national, ind.multiplier, ind.family)
        out.append(ev.merge(_trend(w), on="yjs_id", how="left"))
    cols = ["yjs_id", "indicator", "window_end", "window_months", "periods_used", "rate",
            "national_rate", "z", "band", "shrunk_rate", "shrunk_rate_low", "shrunk_rate_high", "e", "e_sd", "tau2", "phi", "tau2_shrinkage", "trend_slope", "trend_z",
            "rising_periods"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def months_between(earlier, later: dt.date) -> pd.Series:
    """Whole months from each date in ``earlier`` to ``later``."""
    e = pd.to_datetime(pd.Series(earlier))
    later = pd.Timestamp(later)
    months = (later.year - e.dt.year) * 12 + (later.month - e.dt.month)
    return months - (later.day < e.dt.day).astype(int)


def inspection_history(inspections: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per service, the last inspection published on or before ``as_of``."""
    seen = inspections[pd.to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    seen = seen.sort_values(["yjs_id", "published"])
    last = seen.groupby("yjs_id").tail(1).set_index("yjs_id")
    return pd.DataFrame({
        "last_published": pd.to_datetime(last["published"]),
        "last_rating": last["overall_rating"],
        "last_rating_score": last["rating_score"].astype(float),
        "months_since_inspection": months_between(last["published"], as_of).to_numpy(),
        "n_inspections": seen.groupby("yjs_id").size(),
    }).reset_index()


def concern_scores(services: pd.DataFrame, evidence: pd.DataFrame, history: pd.DataFrame,
                   weights: dict[str, float], n_draws: int = 2000, seed: int = 20121) -> pd.DataFrame:
    """One row per service: concern score (higher = more concern), its sd,
    rank (1 = most concern) and 90% rank interval."""
    ids = services[["yjs_id", "yjs_name"]].drop_duplicates("yjs_id").set_index("yjs_id")
    num = pd.Series(0.0, index=ids.index)
    den = pd.Series(0.0, index=ids.index)
    var = pd.Series(0.0, index=ids.index)
    for key in BY_KEY:
        ev = evidence[evidence["indicator"] == key].set_index("yjs_id")
        wt = float(weights.get(key, 0.0))
        has = ev["e"].reindex(ids.index).notna()
        num += (wt * ev["e"]).reindex(ids.index).fillna(0.0)
        var += (wt**2 * ev["e_sd"] ** 2).reindex(ids.index).fillna(0.0)
        den += wt * has
    safe = den.where(den > 0, 1.0)
    df = ids.join(history.set_index("yjs_id"), how="left")
    df["indicator_evidence"] = num / safe
    months = df["months_since_inspection"]
    decay = 0.5 ** (months / RATING_HALF_LIFE_MONTHS)
    df["inspection_term"] = ((df["last_rating_score"] - 2.5) / 1.5 * decay).fillna(0.0)
    df["time_term"] = (months.clip(0, TIME_CAP_MONTHS) / TIME_CAP_MONTHS - 0.5).fillna(0.5)
    df["concern_score"] = (df["indicator_evidence"]
                           + weights.get("inspection", 0.0) * df["inspection_term"]
                           + weights.get("time_since_inspection", 0.0) * df["time_term"])
    df["concern_sd"] = np.sqrt(var) / safe
    return rank_by_concern(df.reset_index(), n_draws=n_draws, seed=seed)


def rank_by_concern(df: pd.DataFrame, n_draws: int = 2000, seed: int = 20121) -> pd.DataFrame:
    """Sort by ``concern_score`` (ties by yjs_id), rank 1 = most concern, and
    a 90% rank interval simulated from ``concern_sd``, widened where needed
    to contain the rank itself."""
    df = df.sort_values(["concern_score", "yjs_id"], ascending=[False, True], ignore_index=True)
    df["rank"] = np.arange(1, len(df) + 1)
    low, high = stats.rank_intervals(df["concern_score"], df["concern_sd"], n_draws=n_draws,
                                     seed=seed)
    df["rank_low"] = np.minimum(low, df["rank"])
    df["rank_high"] = np.maximum(high, df["rank"])
    return df
