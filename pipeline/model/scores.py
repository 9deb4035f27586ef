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


def window_rows(rows: pd.DataFrame, cuts, window_months: int = WINDOW_MONTHS) -> pd.DataFrame:
    """The pooling windows of one indicator, stacked: for each cut date in
    ``cuts``, the rows of the latest period ending on or before it and the
    non-overlapping periods before that within ``window_months``, with
    ``cut`` (the cut date), ``k`` (periods back from the latest) and
    ``months`` (the latest period's length; its most common, shortest on a
    tie, where lengths differ). A cut with no period is left out.

    ``rows`` are one indicator's panel rows with a denominator. Every window
    is a contiguous slice of the rows sorted by period end, so many cuts cost
    one sort and a few searches each.
    """
    rows = rows.sort_values("period_end", kind="stable", ignore_index=True)
    ends = rows["period_end"].to_numpy()
    month_no = (rows["period_end"].dt.year * 12 + rows["period_end"].dt.month).to_numpy()
    lengths = rows["period_months"].to_numpy().astype(int)
    take, cut_of, k_of, months_of = [], [], [], []
    for cut in sorted(pd.to_datetime(pd.Series(list(cuts))).unique()):
        n = int(np.searchsorted(ends, np.datetime64(cut), side="right"))
        if n == 0:
            continue
        first_latest = int(np.searchsorted(ends, ends[n - 1], side="left"))
        months = int(np.bincount(lengths[first_latest:n]).argmax())  # the mode; shortest on a tie
        span = max(window_months, months)
        start = int(np.searchsorted(month_no, month_no[n - 1] - span, side="right"))
        back = month_no[n - 1] - month_no[start:n]
        keep = (lengths[start:n] == months) & (back % months == 0)
        idx = np.arange(start, n)[keep]
        take.append(idx)
        cut_of.append(np.full(idx.size, cut))
        k_of.append(back[keep] // months)
        months_of.append(np.full(idx.size, months))
    if not take:
        return rows.iloc[:0].assign(cut=pd.Series(dtype="datetime64[ns]"), k=0, months=0)
    out = rows.take(np.concatenate(take))
    return out.assign(cut=np.concatenate(cut_of), k=np.concatenate(k_of),
                      months=np.concatenate(months_of)).reset_index(drop=True)


def _trend(w: pd.DataFrame, keys=("yjs_id",)) -> pd.DataFrame:
    """Per window and service (``keys``): weighted least-squares slope of
    log(O/E) per year (weights E, the inverse variance of a log count), its
    z, and how many consecutive periods the relative rate rose up to the
    latest. Vectorised with group sums; a slope needs at least three periods."""
    keys = list(keys)
    w = w[w["numerator"].notna() & (w["expected"] > 0)]
    t = -w["k"] * w["months"] / 12.0
    lr = np.log((w["numerator"] + 0.5) / (w["expected"] + 0.5))
    wt = w["expected"]
    parts = w[keys].assign(n=1, sw=wt, st=wt * t, sl=wt * lr, stt=wt * t * t, stl=wt * t * lr)
    g = parts.groupby(keys).sum()
    sxx = (g["stt"] - g["st"] ** 2 / g["sw"]).clip(lower=0)  # rounding can dip below 0
    sxy = g["stl"] - g["st"] * g["sl"] / g["sw"]
    ok = (g["n"] >= 3) & (sxx > 0)
    slope = (sxy / sxx).where(ok)
    # rising run: newest first, count leading period-on-period increases
    rel = w[keys + ["k"]].assign(rel=w["numerator"] / w["expected"]).sort_values(keys + ["k"])
    by = [rel[c] for c in keys]
    older = rel.groupby(by)["rel"].shift(-1)
    up = (rel["rel"] > older).astype(int)
    rising = up.groupby(by).cumprod().groupby(by).sum()
    return pd.DataFrame({"trend_slope": slope, "trend_z": slope * np.sqrt(sxx),
                         "rising_periods": rising.reindex(g.index).fillna(0).astype(int)}
                        ).reset_index()


def _back_transform(v, national, multiplier: float, family: str):
    """A value on the variance-stabilised scale as a rate: sqrt(O/E) back to
    (O/E) x national for counts, asin(sqrt(p)) back to p for proportions."""
    v = np.asarray(v, float)
    if family == "poisson":
        return np.clip(v, 0, None) ** 2 * national
    return np.sin(np.clip(v, 0, np.pi / 2)) ** 2 * multiplier


WINDOW_COLUMNS = ["yjs_id", "period_end", "period_months", "numerator", "denominator", "expected"]
EVIDENCE_COLUMNS = [
    "yjs_id", "indicator", "window_end", "window_months", "periods_used", "rate", "national_rate",
    "z", "band", "shrunk_rate", "shrunk_rate_low", "shrunk_rate_high", "e", "e_sd", "tau2", "phi",
    "tau2_shrinkage", "trend_slope", "trend_z", "rising_periods"]


def _pooled_statistics(p: dict[str, np.ndarray], ind) -> dict[str, np.ndarray]:
    """Steps 2-3 of the method for one window: ``p`` holds, per service, the
    weighted sums wo, wn, we, w2n, w2e as arrays."""
    if ind.family == "poisson":
        y, target, _ = stats.transformed(p["wo"], p["we"], None, "poisson")
        se = 1.0 / (2.0 * np.sqrt(p["we"] ** 2 / p["w2e"]))
    else:
        y, target, _ = stats.transformed(p["wo"], p["wn"], p["we"] / p["wn"], "binomial")
        se = 1.0 / (2.0 * np.sqrt(p["wn"] ** 2 / p["w2n"]))
    d = stats.dispersion(y, target, se)
    tau2_re = stats.random_effects_tau2(y, target, se)
    mean, sd = stats.shrink(y, target, se, tau2_re)
    scale = np.sqrt(tau2_re + np.nanmedian(se**2))
    national = p["we"] / p["wn"] * ind.multiplier
    n = len(y)
    out = {"rate": p["wo"] / p["wn"] * ind.multiplier, "national_rate": national,
           "z": stats.adjusted_z(y, target, se, d["tau2"]),
           "e": (mean - target) / scale, "e_sd": sd / scale,
           "tau2": np.full(n, d["tau2"]), "phi": np.full(n, d["phi"]),
           "tau2_shrinkage": np.full(n, tau2_re)}
    for col, v in (("shrunk_rate", mean), ("shrunk_rate_low", mean - CREDIBLE_Z * sd),
                   ("shrunk_rate_high", mean + CREDIBLE_Z * sd)):
        out[col] = _back_transform(v, national, ind.multiplier, ind.family)
    return out


def evidence_at_cuts(panel: pd.DataFrame, cuts: dict[str, list], window_months: int = WINDOW_MONTHS,
                     half_life_months: float = HALF_LIFE_MONTHS) -> pd.DataFrame:
    """``indicator_evidence`` as it was at each cut date: for each indicator
    key in ``cuts``, one evidence table per cut date, computed from the
    periods that ended on or before it, with a ``cut`` column. The
    back-test's many months and the refresh's one go through this same code.
    Pooling and trends are vectorised over all cuts at once; the per-window
    statistics (dispersion, tau^2, shrinkage) loop over windows on arrays."""
    out = []
    for ind in INDICATORS:
        if ind.key not in cuts:
            continue
        rows = panel.loc[(panel["indicator"] == ind.key) & (panel["denominator"] > 0), WINDOW_COLUMNS]
        w = window_rows(rows, cuts[ind.key], window_months)
        if w.empty:
            continue
        w = w.assign(wgt=0.5 ** (w["k"] * w["months"] / half_life_months))
        ok = w[w["numerator"].notna()]
        keys = ["cut", "yjs_id"]
        g = ok.assign(wo=ok["wgt"] * ok["numerator"], wn=ok["wgt"] * ok["denominator"],
                      we=ok["wgt"] * ok["expected"], w2n=ok["wgt"] ** 2 * ok["denominator"],
                      w2e=ok["wgt"] ** 2 * ok["expected"]).groupby(keys)
        p = g[["wo", "wn", "we", "w2n", "w2e"]].sum()
        p["periods_used"] = g.size()
        p = p.reset_index()
        sums = {c: p[c].to_numpy(float) for c in ("wo", "wn", "we", "w2n", "w2e")}
        cut = p["cut"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, cut[1:] != cut[:-1], True])
        blocks = [_pooled_statistics({c: v[lo:hi] for c, v in sums.items()}, ind)
                  for lo, hi in zip(bounds[:-1], bounds[1:])]
        ev = p[keys + ["periods_used"]].assign(
            **{col: np.concatenate([b[col] for b in blocks]) for col in blocks[0]})
        ev["band"] = stats.funnel_band(ev["z"])
        span = w.groupby("cut").agg(window_end=("period_end", "max"), k=("k", "max"),
                                    months=("months", "first"))
        span["window_months"] = (span["k"] + 1) * span["months"]
        ev = ev.join(span[["window_end", "window_months"]], on="cut").assign(indicator=ind.key)
        out.append(ev.merge(_trend(w, keys), on=keys, how="left"))
    cols = ["cut", *EVIDENCE_COLUMNS]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def indicator_evidence(panel: pd.DataFrame, window_months: int = WINDOW_MONTHS,
                       half_life_months: float = HALF_LIFE_MONTHS) -> pd.DataFrame:
    """One row per service x indicator: pooled recent rate and national rate,
    adjusted z and band, shrunk evidence ``e`` with its sd, and the trend,
    from each indicator's latest window in ``panel``."""
    cuts = {key: [rows["period_end"].max()] for key, rows in panel.groupby("indicator")
            if (rows["denominator"] > 0).any()}
    ev = evidence_at_cuts(panel, cuts, window_months, half_life_months)
    return ev.drop(columns="cut")


def months_between(earlier, later) -> pd.Series:
    """Whole months from each date in ``earlier`` to ``later`` (one date, or
    one per row of ``earlier``)."""
    e = pd.to_datetime(pd.Series(earlier))
    if np.ndim(later) == 0:
        later = pd.Timestamp(later)
        year, month, day = later.year, later.month, later.day
    else:
        later = pd.DatetimeIndex(pd.to_datetime(later))
        year, month, day = (later.year.to_numpy(), later.month.to_numpy(), later.day.to_numpy())
    months = (year - e.dt.year) * 12 + (month - e.dt.month)
    return months - (day < e.dt.day).astype(int)


HISTORY_COLUMNS = ["last_published", "last_rating", "last_rating_score", "months_since_inspection",
                   "n_inspections"]


def history_by_month(inspections: pd.DataFrame, months) -> pd.DataFrame:
    """Per month in ``months`` (column ``as_of``) and service inspected by
    then: the last inspection published on or before it, the months since,
    and how many there had been. One as-of join for all months."""
    months = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(months)))).unique().sort_values()
    if inspections.empty:
        return pd.DataFrame(columns=["as_of", "yjs_id", *HISTORY_COLUMNS])
    seen = inspections.assign(published=pd.to_datetime(inspections["published"]).astype("datetime64[ns]"))
    seen = seen.sort_values(["yjs_id", "published"])
    seen["n_inspections"] = seen.groupby("yjs_id").cumcount() + 1
    right = seen.sort_values("published", kind="stable")[
        ["yjs_id", "published", "overall_rating", "rating_score", "n_inspections"]]
    grid = pd.MultiIndex.from_product([months.astype("datetime64[ns]"), sorted(seen["yjs_id"].unique())],
                                      names=["as_of", "yjs_id"]).to_frame(index=False)
    m = pd.merge_asof(grid, right, left_on="as_of", right_on="published", by="yjs_id",
                      direction="backward", allow_exact_matches=True)
    m = m[m["published"].notna()].reset_index(drop=True)
    return pd.DataFrame({
        "as_of": m["as_of"], "yjs_id": m["yjs_id"],
        "last_published": m["published"],
        "last_rating": m["overall_rating"],
        "last_rating_score": m["rating_score"].astype(float),
        "months_since_inspection": months_between(m["published"], m["as_of"]).to_numpy(),
        "n_inspections": m["n_inspections"].astype(int),
    })


def inspection_history(inspections: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per service, the last inspection published on or before ``as_of``."""
    return history_by_month(inspections, [as_of]).drop(columns="as_of")


def concern_terms(df: pd.DataFrame, evidence: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Step 4 of the method for every row of ``df`` (indexed by service, or
    by month and service, with the inspection history's columns), from
    ``evidence`` indexed the same way: adds indicator_evidence,
    inspection_term, time_term, concern_score and its sd, concern_sd."""
    num = pd.Series(0.0, index=df.index)
    den = pd.Series(0.0, index=df.index)
    var = pd.Series(0.0, index=df.index)
    for key in BY_KEY:
        ev = evidence[evidence["indicator"] == key]
        wt = float(weights.get(key, 0.0))
        e, sd = ev["e"].reindex(df.index), ev["e_sd"].reindex(df.index)
        num += (wt * e).fillna(0.0)
        var += (wt**2 * sd**2).fillna(0.0)
        den += wt * e.notna()
    safe = den.where(den > 0, 1.0)
    df = df.copy()
    df["indicator_evidence"] = num / safe
    months = df["months_since_inspection"].astype(float)
    decay = 0.5 ** (months / RATING_HALF_LIFE_MONTHS)
    df["inspection_term"] = ((df["last_rating_score"] - 2.5) / 1.5 * decay).fillna(0.0)
    df["time_term"] = (months.clip(0, TIME_CAP_MONTHS) / TIME_CAP_MONTHS - 0.5).fillna(0.5)
    df["concern_score"] = (df["indicator_evidence"]
                           + weights.get("inspection", 0.0) * df["inspection_term"]
                           + weights.get("time_since_inspection", 0.0) * df["time_term"])
    df["concern_sd"] = np.sqrt(var) / safe
    return df


def concern_scores(services: pd.DataFrame, evidence: pd.DataFrame, history: pd.DataFrame,
                   weights: dict[str, float], n_draws: int = 2000, seed: int = 20121) -> pd.DataFrame:
    """One row per service: concern score (higher = more concern), its sd,
    rank (1 = most concern) and 90% rank interval."""
    ids = services[["yjs_id", "yjs_name"]].drop_duplicates("yjs_id").set_index("yjs_id")
    df = ids.join(history.set_index("yjs_id"), how="left")
    df = concern_terms(df, evidence.set_index("yjs_id"), weights)
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
