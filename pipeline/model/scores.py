"""Per-service evidence: recent periods pooled, shrunk, with trend, combined
with past inspections into one concern score with a rank interval.

Method (documented in the README):

1. Per indicator, the periods of the last ``window_months`` (non-overlapping,
   stepping back one period length from the latest) are pooled with weights
   halving every ``half_life_months``: O = sum w*O_t, E = sum w*E_t, and an
   effective size E_eff = (sum w*E)^2 / sum w^2*E for the standard error.
2. The pooled value is put on the variance-stabilised scale. Its z-score is
   exact (mid-p, ``stats.effective_exact_z`` on the effective count), as in
   ``indicator_values``, and with its band is widened by the over-dispersion
   tau^2 from Winsorised phi (robust control limits); its empirical-Bayes
   shrinkage (``stats.shrink``) uses the standard DerSimonian-Laird tau^2
   (``stats.random_effects_tau2``), which keeps genuine outliers in the
   spread of true values.
3. Evidence e = (shrunk - target) / sqrt(tau^2 + median se^2): how far
   worse than national the service's underlying rate is likely to be, in
   units of the spread of the services' observed values (the true spread
   and the median service's noise). Positive = worse.
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

from pipeline.dates import to_datetime
from pipeline.indicators import INDICATORS, BY_KEY
from pipeline.model import stats
from pipeline.model.panel import typed_empty

WINDOW_MONTHS = 36
HALF_LIFE_MONTHS = 12
RATING_HALF_LIFE_MONTHS = 36
CREDIBLE_Z = 1.6448536  # 90% credible interval
TIME_CAP_MONTHS = 72


def _windows(ends: np.ndarray, month_no: np.ndarray, lengths: np.ndarray, cuts: np.ndarray,
             window_months: int, compared: np.ndarray, services: np.ndarray):
    """The pooling window of each cut date, over one indicator's rows sorted
    by period end (``ends``; ``month_no`` = year*12 + month; ``lengths`` =
    period_months): the rows of one period length, those of its latest period
    ending on or before the cut and of the non-overlapping periods before it
    within ``window_months``. The length is the one whose window has
    figures of the most services (``services``, a code per row; on a tie,
    the most rows; then the latest period's, then the shortest;
    a length whose latest period ended a whole window before the latest is
    no longer published, and not taken): a newer period of another length,
    quarters for some services or a first quarter after years of annual
    figures, does not set aside years of figures for one period, and every
    service without it, until it covers as many services (quarters for 55%
    of the services, four a year, had outnumbered everyone's years).
    The periods before the latest are those that end before the next
    later one starts (:func:`_window_of`), of those compared with a
    national rate (``compared``, per row): a year ending
    in March 2026 is followed by the calendar years 2024 and 2023, where
    the years back from March had set them aside.
    Each window is a contiguous slice, so many cuts cost a few searches
    each. Returns per kept row: its index, its cut's position in ``cuts``,
    ``k`` (whole periods back from the latest), and per cut: the latest
    period end, the window's length in months (NaT/0 if the cut has no
    period); and per kept row its months back from the latest."""
    take, cut_of, k_of, back_of = [], [], [], []
    latest = np.full(cuts.size, np.datetime64("NaT"), dtype="datetime64[ns]")
    span_months = np.zeros(cuts.size, dtype=int)
    months_of = np.zeros(cuts.size, dtype=int)
    # each length's rows (one length, the usual case: the latest period's, with no search for another)
    of_length = {int(m): np.flatnonzero(lengths == m) for m in np.unique(lengths)}

    def coverage(window):  # services with figures in it, then its rows
        return np.unique(services[window[1]]).size, window[1].size

    for c, cut in enumerate(cuts):
        n = int(np.searchsorted(ends, cut, side="right"))
        if n == 0:
            continue
        first_latest = int(np.searchsorted(ends, ends[n - 1], side="left"))
        months = int(np.bincount(lengths[first_latest:n]).argmax())  # the mode; shortest on a tie
        best = _window_of(month_no, lengths, of_length[months], n, months, window_months, compared)
        for other, rows_of_other in of_length.items():  # another length, if it covers more in its window
            found = (_window_of(month_no, lengths, rows_of_other, n, other, window_months, compared)
                     if other != months else None)
            # (its latest period within the window of the latest: not figures of a length no longer published)
            if found is not None and coverage(found) > coverage(best) and \
                    month_no[found[0]] > month_no[n - 1] - window_months:
                months, best = other, found
        last, rows, back = best
        k = back // months
        take.append(rows)
        cut_of.append(np.full(k.size, c))
        k_of.append(k)
        back_of.append(back)
        latest[c], months_of[c], span_months[c] = ends[last], months, (k.max() + 1) * months
    if not take:
        none = np.zeros(0, int)
        return none, none, none, latest, months_of, span_months, none
    return (np.concatenate(take), np.concatenate(cut_of), np.concatenate(k_of), latest, months_of,
            span_months, np.concatenate(back_of))


def _window_of(month_no: np.ndarray, lengths: np.ndarray, rows_of_length: np.ndarray, n: int, months: int,
               window_months: int, compared: np.ndarray):
    """``_windows``' window of rows of ``months``-long periods (``rows_of_length``
    their positions, ascending) among the first ``n`` rows: (the row of its
    latest period, its rows, each one's months back from the latest), or
    None where none of the first ``n`` is that long.

    The latest period is the latest compared with a national rate
    (``compared``) within the window, else the latest; of the compared
    periods overlapping it, the one with the most rows; before it, each
    period is the latest compared one ending by the time the one after it
    starts (non-overlapping, newest first). Where every period ends a whole
    number of periods before the latest (the usual case) these are the
    periods 1, 2, ... back; a newer year ending in March before calendar
    years is followed by them, not by years ending in March that no one
    reports."""
    before = int(np.searchsorted(rows_of_length, n))
    if before == 0:
        return None
    last = int(rows_of_length[before - 1])
    seen = rows_of_length[:before]
    seen = seen[compared[seen]]
    if seen.size and month_no[seen[-1]] > month_no[last] - window_months:
        # of the compared periods overlapping the latest compared one, the one most report
        # (the latest on a tie): a year ending in March that 60% report is not taken over
        # everyone's calendar year, nine months of which it shares
        top = month_no[seen[-1]]
        near = seen[month_no[seen] > top - months]
        ends, counts = np.unique(month_no[near], return_counts=True)
        pick = ends[len(counts) - 1 - int(np.argmax(counts[::-1]))]
        last = int(near[month_no[near] == pick][-1])
    end = int(np.searchsorted(month_no, month_no[last], side="right"))  # the latest period's rows, all
    start = int(np.searchsorted(month_no, month_no[last] - max(window_months, months), side="right"))
    rows = np.arange(start, end)
    rows = rows[lengths[start:end] == months]
    back = month_no[last] - month_no[rows]
    ends = np.unique(month_no[rows[compared[rows]]])
    chain, at = [month_no[last]], month_no[last]
    while (j := int(np.searchsorted(ends, at - months, side="right")) - 1) >= 0:
        at = ends[j]
        chain.append(at)
    keep = np.isin(month_no[rows], chain)
    return last, rows[keep], back[keep]


def _trend_sums(key: np.ndarray, k: np.ndarray, months: np.ndarray, numerator: np.ndarray,
                expected: np.ndarray, n_keys: int, per_window: int | None = None,
                floor: float = 0.0) -> dict[str, np.ndarray]:
    """Per key (a window x service, ``key // per_window`` the window):
    weighted least-squares slope of log(O/E) per year (weights E, the inverse
    variance of a log count), its z, and how many consecutive periods the
    relative rate rose up to the latest; ``n`` the periods used (0: no
    trend). Vectorised with ``np.bincount``; a slope needs at least three
    periods.

    The z is quasi-likelihood (McCullagh and Nelder 1989, ch. 9): the
    slope's Poisson standard error times the square root of the dispersion,
    the residual sum of squares about each service's own line over its
    degrees of freedom (n - 2), pooled over the services of the window. Real
    rates scatter about their trend more than counting noise does (the
    periods' over-dispersion); a proportion's log scatters less (by 1 - p).
    With the Poisson error alone, a flat rate 'rose significantly' in one
    service in nine, not one in twenty. ``floor``: the least dispersion
    taken (1 for a count, whose error is never below counting noise: rates
    that happen to lie close to their lines had made a trend of z 1.2 one
    of z 4.6)."""
    ok = ~np.isnan(numerator) & (expected > 0)
    key, k, o, e = key[ok], k[ok], numerator[ok], expected[ok]
    t = -k * months[ok] / 12.0
    lr = np.log((o + 0.5) / (e + 0.5))

    def total(v=None):
        return np.bincount(key, weights=v, minlength=n_keys)

    n, sw, st, sl = total(), total(e), total(e * t), total(e * lr)
    stt, stl, sll = total(e * t * t), total(e * t * lr), total(e * lr * lr)
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = np.clip(stt - st**2 / sw, 0, None)  # rounding can dip below 0
        sxy = stl - st * sl / sw
        slope = np.where((n >= 3) & (sxx > 0), sxy / sxx, np.nan)
        rss = np.clip(sll - sl**2 / sw - slope * sxy, 0, None)  # about the fitted line
    window = np.arange(n_keys) // (per_window or n_keys)
    fitted = np.isfinite(slope)
    df = np.bincount(window[fitted], weights=n[fitted] - 2, minlength=window.max() + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dispersion = np.bincount(window[fitted], weights=rss[fitted], minlength=window.max() + 1) / df
    dispersion = np.where((df > 0) & (dispersion > 0), np.maximum(dispersion, floor), 1.0)[window]
    # rising run: newest first (k = 0), count leading period-on-period increases
    order = np.lexsort((k, key))
    key_s, rel = key[order], (o / e)[order]
    same = np.r_[key_s[1:] == key_s[:-1], False]
    up = same & (rel > np.r_[rel[1:], np.nan])
    starts = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]]) if key_s.size else np.zeros(0, int)
    pos = np.arange(key_s.size) - np.repeat(starts, np.diff(np.r_[starts, key_s.size]))
    rising = np.zeros(n_keys)
    if key_s.size:  # the first period that did not rise (the oldest never does)
        rising[key_s[starts]] = np.minimum.reduceat(np.where(up, key_s.size, pos), starts)
    return {"n": n, "trend_slope": slope, "trend_z": slope * np.sqrt(sxx / dispersion),
            "rising_periods": rising}


def _back_transform(v, national, multiplier: float, family: str):
    """A value on the variance-stabilised scale as a rate: sqrt(O/E) back to
    (O/E) x national for counts, asin(sqrt(p)) back to p for proportions."""
    v = np.asarray(v, float)
    if family == "poisson":
        return np.clip(v, 0, None) ** 2 * national
    return np.sin(np.clip(v, 0, np.pi / 2)) ** 2 * multiplier


EVIDENCE_TYPES = {
    "yjs_id": "object", "indicator": "object", "window_end": "datetime64[ns]", "window_months": "int64",
    "periods_used": "int64", "rate": "float64", "national_rate": "float64", "z": "float64", "band": "object",
    **dict.fromkeys(["shrunk_rate", "shrunk_rate_low", "shrunk_rate_high", "e", "e_sd", "tau2", "phi",
                     "tau2_shrinkage", "trend_slope", "trend_z"], "float64"),
    "rising_periods": "int64",
    # the service's own: the window's period length, and the end of its latest period with a figure
    "period_months": "int64", "last_period_end": "datetime64[ns]"}
EVIDENCE_COLUMNS = list(EVIDENCE_TYPES)  # an empty table typed as a full one (panel.PANEL_TYPES)


def _pooled_statistics(p: dict[str, np.ndarray], ind, bounds: np.ndarray) -> dict[str, np.ndarray]:
    """Steps 2-3 of the method for every window at once: ``p`` holds, per
    window x service, the weighted sums wo, wn, we, w2n, w2e as arrays, the
    windows' services in the slices between consecutive ``bounds``. The
    per-window estimates (phi, tau^2, the median se^2) come from
    ``stats.dispersions``, all windows at once; everything else is
    elementwise, so is computed over all windows in one pass (one call of
    each scipy ufunc rather than one per window)."""
    if ind.family == "poisson":
        y, target, _ = stats.transformed(p["wo"], p["we"], None, "poisson")
        size, p0 = p["we"] ** 2 / p["w2e"], None  # effective expected count
        count = p["wo"] * p["we"] / p["w2e"]
    else:
        p0 = p["we"] / p["wn"]
        y, target, _ = stats.transformed(p["wo"], p["wn"], p0, "binomial")
        size, count = p["wn"] ** 2 / p["w2n"], p["wo"] * p["wn"] / p["w2n"]  # effective cohort
    se = 1.0 / (2.0 * np.sqrt(size))
    window = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    d = stats.dispersions(y, target, se, window, bounds.size - 1)
    tau2, phi, tau2_re, median_var = (d[c][window] for c in ("tau2", "phi", "tau2_shrinkage", "median_var"))
    mean, sd = stats.shrink(y, target, se, tau2_re)
    scale = np.sqrt(tau2_re + median_var)
    national = p["we"] / p["wn"] * ind.multiplier
    out = {"rate": p["wo"] / p["wn"] * ind.multiplier, "national_rate": national,
           "z": stats.effective_exact_z(count, size, p0, ind.family)
           / stats.overdispersion_factor(se, tau2),
           "e": (mean - target) / scale, "e_sd": sd / scale,
           "tau2": tau2, "phi": phi, "tau2_shrinkage": tau2_re}
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
    Pooling and trends are vectorised over all cuts at once (sums per window
    x service with ``np.bincount``); so are the pooled statistics, all windows
    in one pass (``_pooled_statistics``)."""
    out = []
    for columns in evidence_parts(panel, cuts, window_months, half_life_months):
        ev = pd.DataFrame(columns)
        if not np.isnan(ev["rising_periods"]).any():
            ev["rising_periods"] = ev["rising_periods"].astype(int)
        ev["band"] = stats.funnel_band(ev["z"])
        out.append(ev)
    cols = ["cut", *EVIDENCE_COLUMNS]
    return (pd.concat(out, ignore_index=True)[cols] if out
            else typed_empty({"cut": "datetime64[ns]", **EVIDENCE_TYPES}))


def evidence_parts(panel: pd.DataFrame, cuts: dict[str, list], window_months: int = WINDOW_MONTHS,
                   half_life_months: float = HALF_LIFE_MONTHS):
    """``evidence_at_cuts``' rows of each indicator with any, in its order,
    as a dict of columns (arrays; no ``band``, ``rising_periods`` as float):
    the back-test's rankings read a few columns of them as arrays, without
    the tables built and joined for the refresh (~4 ms warm on the demo)."""
    by_indicator = panel.groupby("indicator", sort=False).indices
    # the columns as arrays once; each indicator's rows are positions in them
    period_end = panel["period_end"].to_numpy("datetime64[ns]")
    numerator, denominator, expected = (panel[c].to_numpy(float)
                                        for c in ("numerator", "denominator", "expected"))
    for ind in INDICATORS:
        if ind.key not in cuts or ind.key not in by_indicator:
            continue
        rows = by_indicator[ind.key]
        rows = rows[denominator[rows] > 0]
        if not rows.size:
            continue
        rows = rows[np.argsort(period_end[rows], kind="stable")]  # by period end
        end = period_end[rows]
        codes, ids = pd.factorize(panel["yjs_id"].iloc[rows], sort=True)
        cut_dates = np.unique(to_datetime(pd.Series(list(cuts[ind.key]))).to_numpy("datetime64[ns]"))
        month_no = end.astype("datetime64[M]").astype(np.int64) + 1970 * 12 + 1  # year * 12 + month
        idx, cut, k, latest, months, span, back = _windows(
            end, month_no, panel["period_months"].iloc[rows].to_numpy().astype(int), cut_dates,
            window_months, ~np.isnan(expected[rows]), codes)
        if idx.size == 0:
            continue
        n_keys = cut_dates.size * len(ids)
        key = cut * len(ids) + codes[idx]
        o, n, e = (a[rows[idx]] for a in (numerator, denominator, expected))
        wgt = 0.5 ** (back / half_life_months)  # (k * months where each period is whole periods back)
        ok = ~np.isnan(o) & ~np.isnan(e)  # (a period few services report has no national: none)
        sums = {name: np.bincount(key[ok], weights=v[ok], minlength=n_keys) for name, v in (
            ("wo", wgt * o), ("wn", wgt * n), ("we", wgt * e), ("w2n", wgt**2 * n), ("w2e", wgt**2 * e))}
        used = np.bincount(key[ok], minlength=n_keys)
        last = np.full(n_keys, np.iinfo(np.int64).min)  # each key's latest period with a figure
        np.maximum.at(last, key[ok], end.view(np.int64)[idx[ok]])
        present = np.flatnonzero(used)  # window x service keys, by window then service
        if present.size == 0:  # every count in the windows suppressed: no evidence, as with no rows
            continue
        sums = {name: v[present] for name, v in sums.items()}
        cut_of = present // len(ids)
        bounds = np.flatnonzero(np.r_[True, cut_of[1:] != cut_of[:-1], True])
        pooled = _pooled_statistics(sums, ind, bounds)
        trend = _trend_sums(key, back / months[cut], months[cut], o, e, n_keys, per_window=len(ids),
                            floor=1.0 if ind.family == "poisson" else 0.0)
        no_trend = trend.pop("n")[present] == 0
        trend = {c: np.where(no_trend, np.nan, v[present]) for c, v in trend.items()}
        yield {
            "cut": cut_dates[cut_of], "yjs_id": ids[present % len(ids)], "indicator": ind.key,
            "window_end": latest[cut_of], "window_months": span[cut_of], "periods_used": used[present],
            "period_months": months[cut_of], "last_period_end": last[present].view("datetime64[ns]"),
            **pooled, **trend}




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
    e = to_datetime(pd.Series(earlier))
    if np.ndim(later) == 0:
        later = pd.Timestamp(later)
        year, month, day = later.year, later.month, later.day
    else:
        later = pd.DatetimeIndex(to_datetime(later))
        year, month, day = (later.year.to_numpy(), later.month.to_numpy(), later.day.to_numpy())
    months = (year - e.dt.year) * 12 + (month - e.dt.month)
    return months - (day < e.dt.day).astype(int)


HISTORY_COLUMNS = ["last_published", "last_rating", "last_rating_score", "months_since_inspection",
                   "n_inspections", "last_rating_note"]


def history_by_month(inspections: pd.DataFrame, months) -> pd.DataFrame:
    """Per month in ``months`` (column ``as_of``) and service inspected by
    then: the last inspection published on or before it, the months since,
    and how many there had been. One as-of join for all months: the
    inspections sorted by (service, date) as integer keys, each month x
    service looks up the last key at or before its own (as
    ``pd.merge_asof(direction="backward")``; tested)."""
    months = pd.DatetimeIndex(to_datetime(pd.Series(list(months)))).unique().sort_values()
    if inspections.empty:
        return pd.DataFrame(columns=["as_of", "yjs_id", *HISTORY_COLUMNS])
    published = to_datetime(inspections["published"]).to_numpy("datetime64[ns]")
    service, ids = pd.factorize(inspections["yjs_id"], sort=True)
    month = months.to_numpy("datetime64[ns]")
    dates, date = np.unique(np.r_[month, published], return_inverse=True)  # dates as ranks: exact
    date = date.reshape(-1)
    # by service, then date, ties in the table's order; the count so far is the place in its service
    order = np.lexsort((date[month.size:], service))
    key = service[order] * (dates.size + 1) + date[month.size:][order]
    first = np.searchsorted(service[order], service[order], side="left")
    # every month x service, months outer; the last inspection on or before the month
    cell_month, cell_service = np.divmod(np.arange(month.size * ids.size), ids.size)
    at = np.searchsorted(key, cell_service * (dates.size + 1) + date[cell_month], side="right") - 1
    found = at >= 0
    found[found] = service[order][at[found]] == cell_service[found]
    at, cell_month, cell_service = at[found], cell_month[found], cell_service[found]
    rows = order[at]
    last = pd.Series(published[rows])
    as_of = month[cell_month]
    return pd.DataFrame({
        "as_of": as_of, "yjs_id": ids.to_numpy()[cell_service],
        "last_published": last,
        "last_rating": inspections["overall_rating"].iloc[rows].to_numpy(),
        "last_rating_score": inspections["rating_score"].to_numpy(float)[rows],
        "months_since_inspection": months_between(last, as_of).to_numpy(),
        "n_inspections": (at - first[at] + 1).astype(int),
        # how the rating was read where it is not as published (ingest.inspections: from its score)
        "last_rating_note": (inspections["rating_note"].to_numpy(object)[rows] if "rating_note" in inspections
                             else np.full(len(rows), None, object)),
    })


def inspection_history(inspections: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per service, the last inspection published on or before ``as_of``."""
    return history_by_month(inspections, [as_of]).drop(columns="as_of")


def concern_terms(df: pd.DataFrame, evidence: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Step 4 of the method for every row of ``df`` (indexed by service, or
    by month and service, with the inspection history's columns), from
    ``evidence`` indexed the same way: adds indicator_evidence,
    inspection_term, time_term, concern_score and its sd, concern_sd, and
    evidenced (any indicator's evidence at all: without it no visit is
    recommended, ``pipeline.rank.targets.recommend``). The arithmetic is
    ``concern_arrays``'."""
    ev = {}
    rows_of = evidence.groupby("indicator", sort=False).indices  # each indicator's rows, in order
    for key in BY_KEY:
        part = evidence[["e", "e_sd"]].iloc[rows_of.get(key, [])].reindex(df.index)  # one look-up for both
        ev[key] = tuple(part[c].astype(float).to_numpy() for c in ("e", "e_sd"))  # typed even when empty
    terms = concern_arrays(ev, df["last_rating_score"].astype(float).to_numpy(),
                           df["months_since_inspection"].astype(float).to_numpy(), weights)
    df = df.copy()
    for c, v in terms.items():
        df[c] = v
    return df


def concern_arrays(evidence: dict[str, tuple[np.ndarray, np.ndarray]], last_rating_score: np.ndarray,
                   months_since_inspection: np.ndarray, weights: dict[str, float]) -> dict[str, np.ndarray]:
    """``concern_terms``' columns as arrays, from arrays of one value per
    row: ``evidence[indicator]`` = (e, e_sd) (NaN: no evidence; an indicator
    not in it has none), the last rating score and the months since it (NaN:
    never inspected). The back-test's rankings (``pipeline.backtest.rankings``)
    call it on every month x service at once: ~2 ms there, against ~15 ms for
    ``concern_terms``' look-ups on a month x service index. The same
    operations in the same order as the pandas they replaced, so the same
    numbers to the last bit."""
    n = len(months_since_inspection)
    num, den, var = np.zeros(n), np.zeros(n), np.zeros(n)
    evidenced = np.zeros(n, dtype=bool)
    none = np.full(n, np.nan)
    for key in BY_KEY:
        e, sd = evidence.get(key, (none, none))
        wt = float(weights.get(key, 0.0))
        known = ~np.isnan(e)
        num = num + _zero_nan(wt * e)
        var = var + _zero_nan(wt**2 * sd**2)
        den = den + wt * known
        evidenced |= known
    safe = np.where(den > 0, den, 1.0)
    indicator_evidence = num / safe
    months = np.asarray(months_since_inspection, float)
    decay = 0.5 ** (months / RATING_HALF_LIFE_MONTHS)
    inspection_term = _zero_nan((np.asarray(last_rating_score, float) - 2.5) / 1.5 * decay)
    time_term = np.clip(months, 0, TIME_CAP_MONTHS) / TIME_CAP_MONTHS - 0.5
    time_term = np.where(np.isnan(time_term), 0.5, time_term)
    return {"indicator_evidence": indicator_evidence, "inspection_term": inspection_term,
            "time_term": time_term,
            "concern_score": (indicator_evidence + weights.get("inspection", 0.0) * inspection_term
                              + weights.get("time_since_inspection", 0.0) * time_term),
            "concern_sd": np.sqrt(var) / safe, "evidenced": evidenced}


def _zero_nan(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN as 0 (pandas' ``fillna(0.0)``)."""
    return np.where(np.isnan(x), 0.0, x)


def concern_scores(services: pd.DataFrame, evidence: pd.DataFrame, history: pd.DataFrame,
                   weights: dict[str, float], n_draws: int | None = None, seed: int = 20121) -> pd.DataFrame:
    """One row per service: concern score (higher = more concern), its sd,
    rank (1 = most concern) and 90% rank interval."""
    ids = services[["yjs_id", "yjs_name"]].drop_duplicates("yjs_id").set_index("yjs_id")
    df = ids.join(history.set_index("yjs_id"), how="left")
    df = concern_terms(df, evidence.set_index("yjs_id"), weights)
    return rank_by_concern(df.reset_index(), n_draws=n_draws, seed=seed)


def rank_by_concern(df: pd.DataFrame, n_draws: int | None = None, seed: int = 20121) -> pd.DataFrame:
    """Sort by ``concern_score`` (ties by yjs_id), rank 1 = most concern, and
    a 90% rank interval simulated from ``concern_sd``, widened where needed
    to contain the rank itself. A service without indicator evidence
    (``evidenced`` False) has the whole list for its interval: its score
    rests on its inspection history alone, known exactly, but where its
    indicators would put it is not known at all."""
    df = df.sort_values(["concern_score", "yjs_id"], ascending=[False, True], ignore_index=True)
    df["rank"] = np.arange(1, len(df) + 1)
    low, high = stats.rank_intervals(df["concern_score"], df["concern_sd"], n_draws=n_draws,
                                     seed=seed)
    unknown = ~df["evidenced"].to_numpy(bool) if "evidenced" in df else np.zeros(len(df), bool)
    df["rank_low"] = np.where(unknown, 1, np.minimum(low, df["rank"]))
    df["rank_high"] = np.where(unknown, len(df), np.maximum(high, df["rank"]))
    return df
