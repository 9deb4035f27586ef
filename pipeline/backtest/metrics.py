"""How well a ranking found the services later judged adverse.

Each later inspection is scored once per method, by the ranking of the
month before it was published (``outcomes.scored_inspections``). Within that
month every method ranks all services; ties are broken at random *in
expectation* (a tied group straddling a cut-off counts with the share of it
that fits), so a method with many ties ("longest since last inspection",
where every never-inspected service ties) is neither helped nor harmed by an
arbitrary order.

* AUC (Hanley and McNeil 1982): the chance that an adverse inspection's
  service was ranked riskier, in its month, than a non-adverse one's; 0.5 is
  chance. Interval by bootstrap over inspections (Efron and Tibshirani 1993,
  percentile method, 2,000 resamples, fixed seed).
* Catch rate at q (Ofsted's "65% in the riskiest 10%"): the share of adverse
  outcomes whose service was in the riskiest q of all services that month.
* Pick precision: of the inspections whose service was one of the method's
  full-joint-inspection picks that month, the share adverse.
* Proportions get Wilson (1927) score intervals.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from pipeline.model.stats import scipy_special

N_BOOT = 2000
SEED = 20121
SMALL = 20  # fewer outcomes than this behind a figure: flagged in the metrics


def within_month(df: pd.DataFrame, score: str, group: str = "as_of") -> pd.DataFrame:
    """Per row: ``n`` services that month, ``above`` (strictly riskier) and
    ``tied`` (same score, itself included); a missing score ranks last.

    What ``groupby(group)[score].rank(method="min" / "max", ascending=False)``
    gives, by one sort instead of two grouped ranks (:func:`month_positions`)."""
    pos = month_positions(df[score].fillna(-np.inf).to_numpy(float), pd.factorize(df[group])[0])
    return pd.DataFrame(pos, index=df.index)


def month_positions(s: np.ndarray, month: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`within_month` on arrays: the scores ``s`` (no NaN) and each
    row's month as an integer code. In each month's descending order, a run
    of equal scores starting at position p (from 0) has ``above`` = p and
    ``tied`` = its length."""
    n_rows = len(s)
    if not n_rows:
        return {"n": np.zeros(0, np.int64), "above": np.zeros(0), "tied": np.zeros(0)}
    # by month, then riskiest first: a sort by score, then a stable one by month (a radix sort of
    # small integers), twice as fast as np.lexsort; the order within a run of equal scores,
    # which the unstable first sort leaves arbitrary, changes nothing below
    by_score = np.argsort(-s)
    small = month.astype(np.int16) if month.max() < 2 ** 15 else month
    order = by_score[np.argsort(small[by_score], kind="stable")]
    g, v = month[order], s[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n_rows), 0))
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.r_[run_start, n_rows])
    above, tied = np.empty(n_rows), np.empty(n_rows)
    above[order] = run_start[run_id] - group_start
    tied[order] = run_len[run_id]
    return {"n": np.bincount(month)[month], "above": above, "tied": tied}


def share_in_top(pos, k) -> np.ndarray:
    """Probability each row is among the top ``k`` (a count, or an array of
    counts) under random tie-breaking."""
    return np.clip((np.asarray(k, float) - np.asarray(pos["above"])) / np.asarray(pos["tied"]), 0, 1)


def risk_percentile(pos) -> np.ndarray:
    """Share of the month's services ranked below, ties counted half: 1 = riskiest."""
    return (pos["n"] - pos["above"] - (pos["tied"] + 1) / 2) / pos["n"]


def auc(y, score) -> float:
    """Mann-Whitney AUC with ties counted half; NaN without both classes."""
    return float(bootstrap_auc(y, score, np.arange(len(np.asarray(y)))[None, :])[0])


def bootstrap_auc(y, score, idx: np.ndarray) -> np.ndarray:
    """The AUC of each resample (rows of ``idx``, indices into ``y`` and
    ``score``), all resamples at once.

    Mann-Whitney by counting, not by ranking each resample: the scores are
    put in order once; a resample is then its number of draws of each tied
    group of scores, by outcome, and U = sum over groups of (adverse draws) x
    (other draws strictly below + half the other draws tied). That is the
    rank-sum statistic with average ranks exactly (every term is a
    half-integer, so the floating-point sums are exact and the AUC is the
    same number to the last bit: ``_bootstrap_auc_by_ranks``, kept for
    scores with NaN, is the reference in the tests)."""
    y, score, idx = np.asarray(y, bool), np.asarray(score, float), np.asarray(idx, np.intp)
    if idx.ndim != 2 or np.isnan(score).any():
        return _bootstrap_auc_by_ranks(y, score, idx)
    n_boot, size = idx.shape
    _, group = np.unique(score, return_inverse=True)  # tied scores share a group, in score order
    n_groups = int(group.max()) + 1 if len(group) else 1
    cell = group.reshape(-1) * 2 + y  # (group, outcome) of each row
    out = np.empty(n_boot)
    # resamples a few at a time, each chunk's count matrix (resamples x groups x 2) about 0.5 MB:
    # larger temporaries come fresh from the OS on every call, and faulting their pages in
    # cost more than the counting (4.4 ms a call on the demo with the whole 2,000 at once, 1.4 ms so)
    step = max(1, (1 << 16) // (2 * n_groups))
    for start in range(0, n_boot, step):
        rows = idx[start:start + step]
        k = len(rows)
        key = cell[rows] + (np.arange(k) * (2 * n_groups))[:, None]
        counts = np.bincount(key.ravel(), minlength=k * 2 * n_groups).reshape(k, n_groups, 2)
        other, adverse = counts[..., 0], counts[..., 1]
        below = np.cumsum(other, axis=1) - other
        u = (adverse * (below + 0.5 * other)).sum(axis=1)
        n1 = adverse.sum(axis=1)
        n0 = size - n1
        with np.errstate(divide="ignore", invalid="ignore"):
            a = u / (n1 * n0)
        out[start:start + k] = np.where((n1 > 0) & (n0 > 0), a, np.nan)
    return out


def _bootstrap_auc_by_ranks(y, score, idx: np.ndarray) -> np.ndarray:
    """``bootstrap_auc`` by ranking every resample (the reference; a NaN
    score makes its resamples' AUC NaN)."""
    y, score = np.asarray(y, bool)[idx], np.asarray(score, float)[idx]
    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    r = _average_ranks(score)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = ((r * y).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), a, np.nan)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..m along each row of ``x``, ties given the mean of the ranks
    they span, and a row with a NaN all NaN: ``scipy.stats.rankdata(x,
    axis=1)`` (method "average", nan_policy "propagate"), without importing
    scipy.stats. Every rank is a half-integer, so the numbers are the same."""
    x = np.asarray(x, float)
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    pos = np.broadcast_to(np.arange(x.shape[1]), x.shape)
    starts = np.ones(x.shape, bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]  # first of its group of tied values
    ends = np.roll(starts, -1, axis=1)
    ends[:, -1:] = True  # last of its group
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, x.shape[1])[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(x.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    ranks[np.isnan(x).any(axis=1)] = np.nan
    return ranks


def bootstrap_indices(n: int, n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def auc_interval(y, score, idx: np.ndarray | None = None, level: float = 0.95):
    """AUC and its percentile-bootstrap interval (resampling rows)."""
    y, score = np.asarray(y, bool), np.asarray(score, float)
    idx = bootstrap_indices(len(y)) if idx is None else idx
    if not len(y):
        return np.nan, np.nan, np.nan
    return _interval(y, score, bootstrap_auc(y, score, idx), level)


def _interval(y, score, boots: np.ndarray, level: float = 0.95):
    low, high = _quantiles(boots, level)
    return auc(y, score), low, high


def _quantiles(boots: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates: NaN if more than the
    interval's tail share of them, (1 - level) / 2, is not defined (a
    resample without an adverse outcome has no AUC): the interval of the
    others alone would claim a certainty the sample does not have (five
    inspections, one adverse, gave AUC 1.0 (1.0-1.0): the third of the
    resamples without it left out)."""
    a = (1 - level) / 2
    if not len(boots) or np.isnan(boots).mean() > a:
        return np.nan, np.nan
    low, high = np.nanquantile(boots, [a, 1 - a])
    return float(low), float(high)


@functools.lru_cache
def _z(level: float) -> float:
    return scipy_special().ndtri(0.5 + level / 2)  # = scipy.stats.norm.ppf for 0 <= level <= 1


def wilson(x: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for x successes in n (x may be fractional)."""
    if n <= 0:
        return np.nan, np.nan
    z = _z(level)
    p = x / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def method_metrics(scored, method: str, idx: np.ndarray,
                   reference: str | None = None, cache: dict | None = None) -> dict:
    """One method's figures on the scored inspections (columns ``adverse``,
    ``{method}_pct``, ``{method}_top10``, ``{method}_top20``, ``{method}_pick``
    of a DataFrame, or arrays in a dict: the back-test passes arrays, a
    DataFrame per sample and method costing more than the figures).
    ``reference``: another method whose AUC this one's is compared with, on
    the same bootstrap resamples (a paired interval of the difference).
    ``cache``: a dict kept across calls, so that the bootstrap AUCs and
    sums of the same scores and outcomes on the same resamples are computed
    once."""
    y = np.asarray(scored["adverse"], bool)

    def cached(kind: str, v: np.ndarray, compute) -> np.ndarray:
        key = (kind, y.tobytes(), v.tobytes())
        hit = cache.get(key) if cache is not None else None
        if hit is not None and (hit[0] is idx or np.array_equal(hit[0], idx)):
            return hit[1]
        b = compute()
        if cache is not None:
            cache[key] = (idx, b)
        return b

    def boot(m: str) -> np.ndarray:  # the AUC of each resample
        score = np.asarray(scored[f"{m}_pct"], float)
        return cached("auc", score, lambda: bootstrap_auc(y, score, idx))

    def resampled_sum(v: np.ndarray) -> np.ndarray:  # v's sum over each resample
        return cached("sum", v, lambda: v[idx].sum(1))

    pct = np.asarray(scored[f"{method}_pct"], float)
    a, lo, hi = _interval(y, pct, boot(method)) if len(y) else (np.nan, np.nan, np.nan)
    n, n_adv = len(y), int(y.sum())
    row = {"method": method, "n_inspections": n, "n_adverse": n_adv,
           "adverse_share": n_adv / n if n else np.nan, "auc": a, "auc_low": lo, "auc_high": hi}
    for q in ("10", "20"):
        x = float(np.asarray(scored[f"{method}_top{q}"], float)[y].sum())
        row[f"caught_top{q}"] = x / n_adv if n_adv else np.nan
        row[f"caught_top{q}_low"], row[f"caught_top{q}_high"] = wilson(x, n_adv)
    pick = np.asarray(scored[f"{method}_pick"], float)
    n_pick, x_pick = pick.sum(), (pick * y).sum()
    row["n_picked"] = n_pick
    row["pick_precision"] = x_pick / n_pick if n_pick > 0 else np.nan
    row["pick_precision_low"], row["pick_precision_high"] = wilson(x_pick, n_pick)
    for col in ("auc_gain", "caught_top20_gain"):
        row[col] = row[f"{col}_low"] = row[f"{col}_high"] = np.nan
    if reference is not None and n:
        ref = np.asarray(scored[f"{reference}_pct"], float)
        diff = boot(method) - boot(reference)
        row["auc_gain"] = a - auc(y, ref)
        row["auc_gain_low"], row["auc_gain_high"] = _quantiles(diff)
        top, ref_top = (np.asarray(scored[f"{k}_top20"], float) * y for k in (method, reference))
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = (resampled_sum(top) - resampled_sum(ref_top)) / resampled_sum(y)
        row["caught_top20_gain"] = (top.sum() - ref_top.sum()) / n_adv if n_adv else np.nan
        row["caught_top20_gain_low"], row["caught_top20_gain_high"] = _quantiles(gain)
    small = [name for name, count in (("adverse outcomes", n_adv), ("other outcomes", n - n_adv),
                                      ("inspected picks", n_pick)) if count < SMALL]
    row["small_numbers"] = bool(small)
    row["note"] = ("fewer than %d %s: read the interval, not the figure" % (SMALL, " and ".join(small))
                   if small else "")
    if not n:  # nothing to read (an outcome model not fitted scores no month: see its reason)
        row["note"] = "scored no inspection"
    return row


def catch_curve(scored, method: str, grid: int = 101) -> pd.DataFrame:
    """Share of adverse outcomes caught against share of services inspected
    (``scored``: a DataFrame, or its columns adverse, ``{method}_n``,
    ``_above`` and ``_tied`` as arrays in a dict)."""
    adverse = np.asarray(scored["adverse"], bool)
    n, above, tied = (np.asarray(scored[f"{method}_{c}"])[adverse] for c in ("n", "above", "tied"))
    shares = np.linspace(0, 1, grid)
    if adverse.any():  # share_in_top(pos, s * n).mean() at every share s, at once
        k = shares[:, None] * n[None, :]
        caught = np.clip((k - above) / tied, 0, 1).mean(axis=1)
    else:
        caught = np.full(grid, np.nan)
    return pd.DataFrame({"method": method, "share_inspected": shares, "share_caught": caught})
