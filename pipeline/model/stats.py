"""Statistics for comparing institutions: funnel plots with over-dispersion,
empirical-Bayes shrinkage and rank intervals.

Plain functions on numpy arrays and DataFrames; nothing here knows Dagster.
Each method names its source.

Conventions: every indicator is worse when higher. Counts per population
(first-time entrants, custody) are Poisson with expected E = national rate x
population; proportions (reoffending) are binomial with n = cohort size.
Both are put on a variance-stabilised scale before z-scores and
over-dispersion are computed, as in Spiegelhalter (2005):

* Poisson ratio O/E: y = sqrt(O/E), target 1, standard error 1/(2 sqrt(E));
* proportion p = O/n: y = asin(sqrt(p)), target asin(sqrt(p0)), s.e. 1/(2 sqrt(n)).

References
----------
Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance.
    Statistics in Medicine 24:1185-1202.
Spiegelhalter DJ (2005). Handling over-dispersion of performance indicators.
    Quality and Safety in Health Care 14:347-351.
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials.
    Controlled Clinical Trials 7:177-188.
Goldstein H, Spiegelhalter DJ (1996). League tables and their limitations.
    JRSS A 159:385-443 (rank intervals by simulation).
"""

from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975) (tests/test_stats.py)
Z998 = 3.090232306167813  # scipy.stats.norm.ppf(0.999)

BANDS = ("high_99.8", "high_95", "within", "low_95", "low_99.8")


def transformed(observed, denominator, p0, family: str):
    """Variance-stabilised value, target and standard error (Spiegelhalter 2005).

    ``denominator`` is the expected count E for ``family="poisson"`` (then
    ``p0`` is ignored: the target is 1) and the cohort size n for
    ``family="binomial"`` (``p0`` the national proportion). Zero numerators
    are fine on both scales.
    """
    o = np.asarray(observed, dtype=float)
    d = np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "poisson":
            y = np.sqrt(o / d)
            target = np.ones_like(y)
            se = 1.0 / (2.0 * np.sqrt(d))
        elif family == "binomial":
            y = np.arcsin(np.sqrt(np.clip(o / d, 0.0, 1.0)))
            target = np.broadcast_to(np.arcsin(np.sqrt(np.asarray(p0, float))), y.shape).astype(float)
            se = 1.0 / (2.0 * np.sqrt(d))
        else:
            raise ValueError(f"unknown family {family!r}")
    bad = ~(d > 0) | ~np.isfinite(o)
    y = np.where(bad, np.nan, y)
    se = np.where(bad, np.nan, se)
    return y, target, se


def winsorised_phi(z, tail: float = 0.10) -> float:
    """Multiplicative over-dispersion: mean of squared z after Winsorising
    ``tail`` of each end (Spiegelhalter 2005, QSHC, eq. 1). NaNs are ignored."""
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if z.size == 0:
        return float("nan")
    lo, hi = np.quantile(z, [tail, 1.0 - tail], method="linear")
    return float(np.mean(np.clip(z, lo, hi) ** 2))


def overdispersed(phi: float, n: int, alpha: float = 0.05) -> bool:
    """Whether phi exceeds its noise level: n*phi against chi-square(n-1)
    at level ``alpha`` (Spiegelhalter 2005, QSHC)."""
    if n < 3 or not np.isfinite(phi):
        return False
    return bool(n * phi > _chi2_ppf(1.0 - alpha, n - 1))


def dl_tau2(z, se, phi: float | None = None) -> float:
    """Additive between-area variance tau^2 by DerSimonian and Laird (1986),
    with the Winsorised phi in place of Cochran's Q / n (Spiegelhalter 2005):

        tau^2 = max(0, (n*phi - (n-1)) / (sum w - sum w^2 / sum w)),  w = 1/se^2.
    """
    z = np.asarray(z, float)
    se = np.asarray(se, float)
    ok = np.isfinite(z) & np.isfinite(se) & (se > 0)
    n = int(ok.sum())
    if n < 3:
        return 0.0
    if phi is None:
        phi = winsorised_phi(z[ok])
    w = 1.0 / se[ok] ** 2
    denom = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (n * phi - (n - 1)) / denom)) if denom > 0 else 0.0


def random_effects_tau2(y, target, se) -> float:
    """tau^2 for shrinkage: the standard DerSimonian-Laird moment estimate
    (phi = mean z^2, not Winsorised), which counts genuine outliers as part
    of the spread of true values. The Winsorised phi is right for control
    limits (a robust in-control spread) but, with a few real outliers, drives
    tau^2 to 0 and would shrink those outliers onto the target."""
    y, target, se = (np.asarray(a, float) for a in (y, target, se))
    z = (y - target) / se
    ok = np.isfinite(z)
    return dl_tau2(z[ok], se[ok], float(np.mean(z[ok] ** 2))) if ok.sum() >= 3 else 0.0


def dispersion(y, target, se, alpha: float = 0.05) -> dict:
    """Over-dispersion of one indicator in one period: phi, tau^2 and whether
    the additive adjustment applies (only when phi exceeds its noise level)."""
    y, target, se = (np.asarray(a, float) for a in (y, target, se))
    z = (y - target) / se
    ok = np.isfinite(z)
    phi = winsorised_phi(z[ok])
    n = int(ok.sum())
    adjust = overdispersed(phi, n, alpha)
    tau2 = dl_tau2(z[ok], se[ok], phi) if adjust else 0.0
    return {"n_services": n, "phi": phi, "tau2": tau2, "adjusted": adjust}


def dispersions(y, target, se, group, n_groups: int, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """``dispersion`` of each group of areas at once (``group``: each area's,
    0 .. n_groups-1), as arrays by group; each group's figures are those of
    ``dispersion`` of its areas alone, to the bit (the sums, quantiles and
    means below are numpy's own arithmetic per group), and its random-effects
    ``tau2_shrinkage`` (``random_effects_tau2``) and median se^2
    (``median_var``, NaN where no se) come with them. The chi-square noise
    levels of all groups are one call."""
    y, target, se = (np.asarray(a, float) for a in (y, target, se))
    group = np.asarray(group, np.intp)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (y - target) / se
    ok = np.isfinite(z)
    z_ok, g_ok = z[ok], group[ok]
    n = np.bincount(g_ok, minlength=n_groups)
    phi = _winsorised_phis(z_ok, g_ok, n_groups)
    with np.errstate(invalid="ignore"):
        adjust = (n >= 3) & np.isfinite(phi) & (n * phi > _chi2_ppf(1.0 - alpha, n - 1))
        phi_re = _group_sums(z_ok**2, g_ok, n_groups) / n  # random_effects_tau2's phi: mean z^2
    w_ok = ok & np.isfinite(se) & (se > 0)  # dl_tau2's areas
    return {"n_services": n, "phi": phi, "tau2": _dl_tau2s(se[w_ok], group[w_ok], n_groups, phi, adjust),
            "adjusted": adjust,
            "tau2_shrinkage": _dl_tau2s(se[w_ok], group[w_ok], n_groups, phi_re, n >= 3),
            "median_var": _group_medians(se**2, group, n_groups)}


def _group_sums(v: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """``v[group == g].sum()`` for each g (0 where empty), each group's
    values summed in their order by ``np.add.reduce``, to the bit what
    ``sum`` and ``mean`` give (numpy's pairwise summation; ``np.bincount``
    and ``np.add.reduceat`` sum in other orders)."""
    x = v[np.argsort(group, kind="stable")]
    ends = np.cumsum(np.bincount(group, minlength=n_groups)).tolist()
    return np.array([np.add.reduce(x[a:b]) if b > a else 0.0 for a, b in zip([0, *ends[:-1]], ends)])


def _sorted_groups(v: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Each group's values (no NaN), sorted, as a row of a matrix padded with
    NaN (one small sort per row); and each group's count."""
    n = np.bincount(group, minlength=n_groups)
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.cumsum(n)[:-1]]
    rows = np.full((n_groups, int(n.max(initial=0))), np.nan)
    rows[group[order], np.arange(group.size) - np.repeat(starts, n)] = v[order]
    return np.sort(rows, axis=1), n


def _winsorised_phis(z: np.ndarray, group: np.ndarray, n_groups: int, tail: float = 0.10) -> np.ndarray:
    """``winsorised_phi`` of each group's (finite) ``z``: the group's
    ``np.quantile(z, [tail, 1 - tail], method="linear")`` from its sorted
    values (numpy's virtual index (n-1)q and its lerp), then the mean of the
    clipped squares; NaN for an empty group."""
    rows, n = _sorted_groups(z, group, n_groups)
    if not z.size:
        return np.full(n_groups, np.nan)
    bounds, every = [], np.arange(n_groups)
    for q in (tail, 1.0 - tail):
        at = (n - 1) * q
        below = np.floor(at)
        last = at >= n - 1  # numpy takes the largest value there, with its index -1
        a = rows[every, np.where(last, n - 1, below).astype(np.intp).clip(0)]
        b = rows[every, np.where(last, n - 1, below + 1).astype(np.intp).clip(0)]
        gamma = at - np.where(last, -1, below)
        diff = b - a
        bounds.append(np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma))
    clipped = np.clip(z, bounds[0][group], bounds[1][group])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, _group_sums(clipped**2, group, n_groups) / n, np.nan)


def _dl_tau2s(se: np.ndarray, group: np.ndarray, n_groups: int, phi: np.ndarray, where: np.ndarray):
    """``dl_tau2`` of each group's areas (``se`` finite and > 0 only) with
    its ``phi``, where ``where``; 0 elsewhere."""
    n = np.bincount(group, minlength=n_groups)
    w = 1.0 / se**2
    sw = _group_sums(w, group, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = sw - _group_sums(w**2, group, n_groups) / sw
        tau2 = (n * phi - (n - 1)) / denom
    return np.where(where & (n >= 3) & (denom > 0) & (tau2 > 0), tau2, 0.0)


def _group_medians(v: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """``np.nanmedian(v[group == g])`` for each g: the middle value, or the
    mean of the middle two, of the group's sorted non-NaN values."""
    keep = ~np.isnan(v)
    rows, n = _sorted_groups(v[keep], group[keep], n_groups)
    if not rows.size:
        return np.full(n_groups, np.nan)
    every = np.arange(n_groups)
    a, b = rows[every, ((n - 1) // 2).clip(0)], rows[every, n // 2 - (n == 0)]
    return np.where(n > 0, np.where(n % 2 == 1, a, (a + b) / 2), np.nan)


def adjusted_z(y, target, se, tau2: float):
    """z-score with the additive random-effects adjustment:
    (y - target) / sqrt(se^2 + tau^2) (Spiegelhalter 2005)."""
    y, target, se = (np.asarray(a, float) for a in (y, target, se))
    return (y - target) / np.sqrt(se**2 + tau2)


def funnel_band(z) -> np.ndarray:
    """Funnel band of each z: beyond 99.8% / 95% control limits (two-sided,
    z 3.09 and 1.96), high = worse. NaN z (suppressed) gives None."""
    z = np.atleast_1d(np.asarray(z, float))
    out = np.full(z.shape, None, dtype=object)
    out[z > Z998] = "high_99.8"
    out[(z > Z95) & (z <= Z998)] = "high_95"
    out[(z >= -Z95) & (z <= Z95)] = "within"
    out[(z < -Z95) & (z >= -Z998)] = "low_95"
    out[z < -Z998] = "low_99.8"
    return out


def shrink(y, target, se, tau2):
    """Empirical-Bayes (normal-normal) estimate of each area's underlying value
    on the variance-stabilised scale: the posterior mean
    target + B (y - target) and sd sqrt(B) se, with B = tau^2/(tau^2 + se^2)
    (Efron and Morris 1975; Spiegelhalter 2005). With tau^2 = 0 every area is
    shrunk to the target. ``tau2`` is one value, or one per area (areas of
    several groups shrunk at once, each to its group's tau^2)."""
    y, target, se, tau2 = (np.asarray(a, float) for a in (y, target, se, tau2))
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(tau2 > 0, tau2 / (tau2 + se**2), 0.0)
    return target + b * (y - target), np.sqrt(b) * se


# Draws for rank intervals and pick probabilities: with 2,000 an interval's endpoint moved by up to 6
# ranks between seeds (155 services), with 10,000 by up to 2. A list of thousands of services gets
# fewer (never under 2,000), so that each draws x services matrix stays under 8 million cells (64 MB):
# at 3,875 services, 10,000 draws had taken 1.2 GB more and seconds of sorting.
MAX_DRAWS, MIN_DRAWS, DRAW_CELLS = 10_000, 2_000, 8_000_000
# The draws are made and used a chunk of rows at a time, in one buffer of about this many cells
# (512 KB) that stays in cache: the whole matrix at once (12 MB at 155 services) was fresh memory
# on every call, page-faulted in, and so were its argsort and temporaries.
CHUNK_CELLS = 65_536


def draws_for(n_areas: int) -> int:
    """How many draws to simulate for ``n_areas`` (see :data:`MAX_DRAWS`)."""
    return int(min(MAX_DRAWS, max(MIN_DRAWS, DRAW_CELLS // max(n_areas, 1))))


def rank_intervals(mean, sd, n_draws: int | None = None, level: float = 0.90, seed: int = 20121):
    """Interval for each area's rank (1 = highest value) by simulation from
    independent normal posteriors (Goldstein and Spiegelhalter 1996).

    Returns (rank_low, rank_high) arrays of ints: the (1-level)/2 and
    (1+level)/2 quantiles of the simulated ranks. Vectorised by chunks of
    draws (``_draws``): each chunk's argsort (``_argsort_rows`` where no two
    areas are certain and tied) gives each area's histogram of ranks
    directly (``_rank_counts``), summed over the chunks.

    Areas with no uncertainty (sd 0 or NaN: no evidence) and the same mean
    draw the same value every time, so nothing orders them: each takes, in
    every draw, the whole block of ranks they share (low from its first,
    high from its last), not the place the sort happened to give it.
    """
    mean = np.asarray(mean, float)
    sd = np.nan_to_num(np.asarray(sd, float))
    q = (1.0 - level) / 2.0
    certain = np.sort(mean[sd == 0])
    tied = bool((certain[1:] == certain[:-1]).any())  # ties of exactly equal draws
    # without ties each draw's rank is one place, not a block: one histogram serves both ends
    place = np.arange(1, mean.size + 1)[None, :]
    low = np.zeros((mean.size, mean.size), np.intp)
    high = np.zeros((mean.size, mean.size), np.intp) if tied else low
    # a NaN mean would draw NaNs, which the packed sort would not put last as argsort does
    argsort = _argsort_rows if not tied and np.isfinite(mean).all() else lambda d: np.argsort(d, axis=1)
    for draws in _draws(-mean, -sd, n_draws, seed):  # negated (see _draws): ascending is highest first
        order = argsort(draws)
        if tied:
            first, last = _tie_blocks(np.take_along_axis(draws, order, axis=1))
            low += _rank_counts(order, first)
            high += _rank_counts(order, last)
        else:
            low += _rank_counts(order, place)
    return _rank_quantile(low, q, np.floor), _rank_quantile(high, 1.0 - q, np.ceil)


def _draws(mean: np.ndarray, sd: np.ndarray, n_draws: int | None, seed: int):
    """The (draws x areas) values from independent normal posteriors, the
    same for the rank intervals and the pick probabilities at the same seed,
    in consecutive chunks of rows (the same numbers as one matrix): mean + sd
    x standard normal, made in one buffer that each chunk overwrites (use a
    chunk before asking for the next). A chunk has at least as many rows as
    there are areas, so that a histogram of ranks per chunk (areas x areas)
    costs no more than the chunk. ``-mean, -sd`` give the same values negated
    (IEEE rounding is symmetric: -sd x z + -mean = -(sd x z + mean), up to
    the sign of a zero)."""
    total, n = n_draws or draws_for(mean.size), mean.size
    rows = min(total, max(CHUNK_CELLS // max(n, 1), n, 1))
    buffer = np.empty((rows, n))
    rng = np.random.default_rng(seed)
    for start in range(0, total, rows):
        chunk = buffer[:min(rows, total - start)]
        rng.standard_normal(out=chunk)
        chunk *= sd
        chunk += mean
        yield chunk


_MAGNITUDE = np.int64(0x7FFF_FFFF_FFFF_FFFF)  # a float64's bits but the sign


def _argsort_rows(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=1)`` of float64 rows without NaNs, by a sort
    of int64 keys (twice as fast as an argsort, which sorts pairs): each
    value as an int64 in the same order (its magnitude's bits, negated for a
    negative value: -0.0 and 0.0 alike), the lowest bits of which are
    replaced by its column, so that the sorted keys carry their columns. A
    row where two keys agree above those bits (equal values, or values within
    ~1e-14 of each other: ~1e-10 of the rows of random draws) is left to
    ``np.argsort``: elsewhere the values differ, so that there is one order."""
    n = values.shape[1]
    bits = max((n - 1).bit_length(), 1)
    raw = values.view(np.int64)
    negative = raw >> 63  # -1 where the sign bit is set, else 0
    keys = raw & _MAGNITUDE
    keys ^= negative
    keys -= negative  # -magnitude where negative: (m ^ -1) + 1
    column = (1 << bits) - 1
    keys &= ~column
    keys |= np.arange(n)
    keys.sort(axis=1)
    order = keys & column
    keys >>= bits
    clash = (keys[:, 1:] == keys[:, :-1]).any(axis=1)
    if clash.any():
        order[clash] = np.argsort(values[clash], axis=1)
    return order


def top_k_probability(mean, sd, k: int, n_draws: int | None = None, seed: int = 20121) -> np.ndarray:
    """For each area, the share of draws from the same independent normal
    posteriors as ``rank_intervals`` in which it is among the ``k`` highest:
    how sure a pick of the top ``k`` is (Goldstein and Spiegelhalter 1996).
    Areas tied at the k-th value (known exactly, so drawn alike) share the
    places left among them, so that the shares add up to ``k`` (counting
    each tie as in had given 48 for 38 picks)."""
    mean = np.asarray(mean, float)
    if k <= 0 or mean.size == 0:
        return np.zeros(mean.size)
    if k >= mean.size:
        return np.ones(mean.size)
    n, draws_in, count = mean.size, 0, np.zeros(mean.size, np.intp)
    shared = np.zeros(mean.size)  # the ties' shares of places, where any
    for draws in _draws(mean, np.nan_to_num(np.asarray(sd, float)), n_draws, seed):
        kth = np.partition(draws, n - k, axis=1)[:, n - k]  # the k-th highest of each draw
        above, at = draws > kth[:, None], draws == kth[:, None]
        count += above.sum(axis=0)
        tied = at.sum(axis=1)
        if (tied > 1).any():  # k - (areas above) places left for the tied
            share = (k - above.sum(axis=1)) / tied
            one = tied == 1  # a draw's lone k-th area is simply in
            count += at[one].sum(axis=0)
            shared += (at[~one] * share[~one, None]).sum(axis=0)
        else:
            count += at.sum(axis=0)
        draws_in += len(draws)
    return (count + shared) / draws_in  # without ties, the mean of the in/out flags: their sums are exact


def _rank_counts(order: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """(areas x ranks) histogram: how many draws give each area each rank
    1..n, where ``order[d, p]`` is the area sorted to position ``p`` of draw
    ``d`` and ``ranks[d, p]`` (broadcast) the rank it takes there."""
    n = order.shape[1]
    cells = order * n  # in place from here: a large temporary is fresh memory, page-faulted in
    cells += ranks  # order * n + rank - 1, shifted by one: the first bin is dropped
    return np.bincount(cells.ravel(), minlength=n * n + 1)[1:].reshape(n, n)


def _rank_quantile(counts: np.ndarray, q: float, whole) -> np.ndarray:
    """``whole(np.quantile(ranks, q, axis=0))`` (linear interpolation) as
    ints, from each area's histogram of ranks 1..n (``_rank_counts``) rather
    than a sort of each column: the order statistics x[i] and x[i+1]
    (i = floor((N-1)q)) are the smallest ranks whose cumulative count passes
    i and i+1."""
    cum = np.cumsum(counts, axis=1)
    draws = int(cum[0, -1]) if cum.size else 0
    h = (draws - 1) * q
    i = int(np.floor(h))
    below = (cum < i + 1).sum(axis=1) + 1
    above = (cum < min(i + 2, draws)).sum(axis=1) + 1
    return whole(below + (h - i) * (above - below)).astype(int)


def _tie_blocks(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``ordered`` (sorted, highest first), the first and
    last rank (1-based) of the block of equal values each position is in."""
    n = ordered.shape[1]
    ranks = np.arange(1, n + 1)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(ordered.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, ranks, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, ranks, n + 1)[:, ::-1], axis=1)[:, ::-1]
    return first, last


def funnel_limits(denominator, p0: float, family: str, z: float, tau2: float = 0.0):
    """Control limits on the rate scale (as a proportion or count per head)
    for a funnel plot: the target +/- z * sqrt(se^2 + tau^2) on the
    variance-stabilised scale, transformed back (Spiegelhalter 2005).

    ``denominator`` is the population (Poisson: expected = p0 * population)
    or the cohort size (binomial). Returns (lower, upper) arrays; a limit
    below zero on the transformed scale is 0.
    """
    d = np.asarray(denominator, float)
    if family == "poisson":
        se = 1.0 / (2.0 * np.sqrt(p0 * d))
        half = z * np.sqrt(se**2 + tau2)
        return p0 * np.clip(1.0 - half, 0, None) ** 2, p0 * (1.0 + half) ** 2
    if family == "binomial":
        se = 1.0 / (2.0 * np.sqrt(d))
        half = z * np.sqrt(se**2 + tau2)
        t0 = np.arcsin(np.sqrt(p0))
        lo = np.sin(np.clip(t0 - half, 0, np.pi / 2)) ** 2
        hi = np.sin(np.clip(t0 + half, 0, np.pi / 2)) ** 2
        return lo, hi
    raise ValueError(f"unknown family {family!r}")


def scipy_special():
    """``scipy.special``, imported on first use, so that loading the Dagster
    definitions (what ``dagster dev`` does first) does not pay for it. The
    distributions below are built on it rather than on ``scipy.stats``,
    whose import costs the refresh 0.6-0.8 s more (``scipy.special`` alone
    about 0.2 s)."""
    import scipy.special

    return scipy.special


# scipy.stats (1.17) distributions, bit for bit, on scipy.special's ufuncs:
# the ufunc calls of poisson_gen / binom_gen (scipy/stats/_discrete_distns.py)
# and norm_gen / chi2_gen (_continuous_distns.py) inside the edge handling of
# rv_discrete.cdf/sf/pmf and rv_continuous.sf/ppf/isf (_distn_infrastructure.py).
# tests/test_stats_special.py compares them with scipy.stats.


def _discrete(what: str, family: str, k, mean, n=None):
    """``scipy.stats.poisson.<what>(k, mean)`` or ``binom.<what>(k, n, mean)``
    for ``what`` "cdf", "sf" or "pmf": NaN for invalid parameters or NaN k;
    outside the support 0..n (n = inf for Poisson) cdf 0 below and 1 above,
    sf the reverse, pmf 0 (also at non-integer k); inside, the ufunc (at
    floor(k) for cdf and sf) clipped to [0, 1]."""
    sp = scipy_special()
    k, mean = np.asarray(k, float), np.asarray(mean, float)
    if family == "poisson":
        args, top, valid = (mean,), np.inf, mean >= 0  # poisson_gen._argcheck
        # poisson_gen._cdf, _sf, and _pmf = exp(_logpmf)
        ufunc = {"cdf": sp.pdtr, "sf": sp.pdtrc,
                 "pmf": lambda k, mu: np.exp(_log_pmf(family, k, mu))}[what]
    else:
        n = np.asarray(n, float)
        args, top = (n, mean), n
        valid = (n >= 0) & (n == np.round(n)) & (mean >= 0) & (mean <= 1)  # binom_gen._argcheck
        ufunc = getattr(sp._ufuncs, "_binom_" + what)  # what binom_gen calls
    with np.errstate(all="ignore"):  # the ufunc also runs where its value is not used
        if what == "pmf":
            inside = (k >= 0) & (k <= top) & (np.floor(k) == k)
            value, outside = ufunc(k, *args), 0.0
        else:
            inside = (k >= 0) & (k < top)
            value = ufunc(np.floor(k), *args)
            outside = np.where(k >= top, 1.0, 0.0) if what == "cdf" else np.where(k < 0, 1.0, 0.0)
        out = np.where(valid & inside, np.clip(value, 0, 1), outside)
    return np.where(valid & ~np.isnan(k), out, np.nan)


def _norm_ppf(q):
    """``scipy.stats.norm.ppf``: ndtri(q) + loc (0.0, which turns -0.0 into
    0.0) for q in [0, 1], else scipy's NaN (not a NaN input's own bits)."""
    q = np.asarray(q, float)
    return np.where((q >= 0) & (q <= 1), scipy_special().ndtri(q) + 0.0, np.nan)


def _norm_isf(s):
    """``scipy.stats.norm.isf``: -ndtri(s) + loc, as ``_norm_ppf``."""
    s = np.asarray(s, float)
    return np.where((s >= 0) & (s <= 1), -scipy_special().ndtri(s) + 0.0, np.nan)


def _norm_sf(z):
    """``scipy.stats.norm.sf``: ndtr(-z), scipy's NaN at NaN."""
    z = np.asarray(z, float)
    return np.where(np.isnan(z), np.nan, scipy_special().ndtr(-z))


def _chi2_ppf(q, df):
    """``scipy.stats.chi2.ppf``: 2 gammaincinv(df/2, q) for 0 < q < 1, 0 at
    q = 0, inf at q = 1; NaN for q outside [0, 1] or df not > 0."""
    q, df = np.asarray(q, float), np.asarray(df, float)
    with np.errstate(all="ignore"):
        x = 2 * scipy_special().gammaincinv(df / 2, q) + 0.0
    x = np.where((q > 0) & (q < 1), x, np.where(q == 0, 0.0, np.where(q == 1, np.inf, np.nan)))
    return np.where(df > 0, x, np.nan)


def _mid_p(k, mean, n, family: str):
    """Mid-p lower tail P(X < k) + P(X = k)/2 of the count k (0 below 0)."""
    k = np.asarray(k, float)
    pmf = _discrete("pmf", family, k, mean, n)
    return np.where(k < 0, 0.0, _discrete("cdf", family, k - 1, mean, n) + 0.5 * pmf)


def _mid_q(k, mean, n, family: str):
    """Mid-p upper tail P(X > k) + P(X = k)/2, computed from the survival
    function so that it stays accurate far in the tail."""
    k = np.asarray(k, float)
    pmf = _discrete("pmf", family, k, mean, n)
    return np.where(k < 0, 1.0, _discrete("sf", family, k, mean, n) + 0.5 * pmf)


def _smallest_k(holds, lo, hi, guess=None):
    """Smallest integer k in [lo, hi] for which the monotone predicate
    ``holds(k, i)`` (of the elements at positions ``i``) is true,
    elementwise; ``hi`` where it never holds. With a ``guess`` the bracket
    is first narrowed by probes: the guess, its neighbour on the side the
    answer lies (the answer is most often the guess or next to it, which
    closes the bracket after two evaluations), and, for the elements still
    open, a step beyond; then vectorised bisection of the elements still
    open only, about log2(width) evaluations. The answer does not depend on
    the guess, only the number of evaluations does."""
    lo = np.floor(np.asarray(lo, float))
    hi = np.ceil(np.asarray(hi, float))
    lo, hi = (a.copy() for a in np.broadcast_arrays(lo, hi))
    if guess is not None and lo.size:
        probe = np.clip(np.round(np.nan_to_num(guess, nan=0.0)), lo, hi)
        down = holds(probe, np.arange(lo.size))  # the answer is the guess or below it
        hi = np.where(down, np.minimum(hi, probe), hi)
        lo = np.where(down, lo, np.maximum(lo, probe + 1))
        reach = 3.0 + np.ceil(0.1 * np.sqrt(np.abs(probe)))
        for step in (np.ones_like(reach), reach):  # the neighbour, then a step beyond
            i = np.flatnonzero(hi > lo)
            if not i.size:
                break
            at = np.clip(np.where(down[i], probe[i] - step[i], probe[i] + step[i]), lo[i], hi[i])
            ok = holds(at, i)
            hi[i] = np.where(ok, at, hi[i])
            lo[i] = np.where(ok, lo[i], at + 1)
            probe[i] = at
    for _ in range(64):
        i = np.flatnonzero(hi > lo)
        if not i.size:
            break
        mid = np.floor((lo[i] + hi[i]) / 2)
        ok = holds(mid, i)
        hi[i] = np.where(ok, mid, hi[i])
        lo[i] = np.where(ok, lo[i], mid + 1)
    return hi


def _search_range(mean, n):
    """Counts to search: 0 up to the cohort size (binomial), or far enough
    past a Poisson mean to reach tail probabilities of 1e-300."""
    if n is not None:
        return 0.0, np.asarray(n, float)
    m = np.asarray(mean, float)
    return 0.0, m + 40.0 * np.sqrt(m) + 200.0


def _tail(family: str, which: str, mean, n, shape):
    """``f(k, i)``: the distribution's ``which`` ("cdf" or "sf") at counts
    ``k`` for the elements at positions ``i``."""
    mean = np.broadcast_to(np.asarray(mean, float), shape)
    if family == "poisson":
        return lambda k, i: _discrete(which, family, k, mean[i])
    n = np.broadcast_to(np.asarray(n, float), shape)
    return lambda k, i: _discrete(which, family, k, mean[i], n[i])


def _normal_guess(family: str, z, mean, n):
    """Cornish-Fisher approximation of the count whose tail is Phi(z)
    (a starting point for ``_smallest_k``)."""
    if family == "poisson":
        mu, sd, skew = mean, np.sqrt(mean), 1.0 / np.sqrt(np.maximum(mean, 1e-12))
    else:
        mu, sd = n * mean, np.sqrt(n * mean * (1 - mean))
        skew = (1 - 2 * mean) / np.maximum(sd, 1e-12)
    return mu + z * sd + (z**2 - 1) * skew * sd / 6


def _ppf(family: str, q, mean, n):
    """Smallest k with P(X <= k) >= q (scipy's ppf, by bisection)."""
    lo, hi = _search_range(mean, n)
    shape = np.broadcast_shapes(np.shape(q), np.shape(lo), np.shape(hi))
    cdf, q = _tail(family, "cdf", mean, n, shape), np.broadcast_to(q, shape)
    guess = _normal_guess(family, _norm_ppf(q), mean, n)
    return _smallest_k(lambda k, i: cdf(k, i) >= q[i], lo, hi, guess)


def _isf(family: str, s, mean, n):
    """Smallest k with P(X > k) <= s, from the survival function so that it
    stays exact far in the tail (s ~ 1e-20, met when over-dispersion widens
    the limits of small areas), where scipy's own isf returns NaN."""
    lo, hi = _search_range(mean, n)
    shape = np.broadcast_shapes(np.shape(s), np.shape(lo), np.shape(hi))
    sf, s = _tail(family, "sf", mean, n, shape), np.broadcast_to(s, shape)
    guess = _normal_guess(family, _norm_isf(s), mean, n)
    return _smallest_k(lambda k, i: sf(k, i) <= s[i], lo, hi, guess)


def exact_z(observed, denominator, p0, family: str):
    """z-score from the exact mid-p tail probability of the observed count:
    Phi^-1(P(X < O) + P(X = O)/2) with X ~ Poisson(E) (``denominator`` = E)
    or Binomial(n, p0) (``denominator`` = n). Correct for small and zero
    counts, where the normal approximation is not (Spiegelhalter 2005,
    Stat Med, appendix: exact limits for discrete data)."""
    o = np.asarray(observed, float)
    d = np.asarray(denominator, float)
    lower, upper = _mid_tails(o, d, p0, family)
    return _far_z(_z_of_tails(lower, upper, o, d), o, d, p0, family)


def _mid_tails(o, d, p0, family: str):
    """The mid-p lower and upper tails of the count ``o`` (see ``exact_z``):
    ``_mid_p`` and ``_mid_q``, sharing P(X = O)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, n = (d, None) if family == "poisson" else (p0, np.where(d > 0, d, 1))
        pmf = _discrete("pmf", family, o, mean, n)
        lower = np.where(o < 0, 0.0, _discrete("cdf", family, o - 1, mean, n) + 0.5 * pmf)
        upper = _discrete("sf", family, o, mean, n) + 0.5 * pmf
    return lower, upper


def _z_of_tails(lower, upper, o, d):
    """z from whichever mid-p tail is the smaller (accurate far out)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(lower < 0.5, _norm_ppf(lower), _norm_isf(upper))
    return np.where((d > 0) & np.isfinite(o), z, np.nan)


def _flat_at(a, shape, positions: np.ndarray) -> np.ndarray:
    """``a`` (a scalar or an array broadcast to ``shape``) as floats, at the
    flat ``positions`` of that shape."""
    return np.broadcast_to(np.asarray(a, float), shape).reshape(-1)[positions]


FAR_TERMS = 512  # terms of the far-tail series summed before its geometric bound


def _log_pmf(family: str, k, mean, n=None):
    """log P(X = k) of Poisson(mean) or Binomial(n, mean), finite where the
    probability itself underflows (scipy.stats' logpmf formulas)."""
    sp = scipy_special()
    with np.errstate(all="ignore"):
        if family == "poisson":
            return sp.xlogy(k, mean) - sp.gammaln(k + 1) - mean
        return (sp.gammaln(n + 1) - sp.gammaln(k + 1) - sp.gammaln(n - k + 1)
                + sp.xlogy(k, mean) + sp.xlog1py(n - k, -mean))


def _log_mid_tail(family: str, side: str, k, mean, n=None):
    """log of the mid-p tail of whole counts ``k`` on ``side`` "lower"
    (P(X < k) + P(X = k)/2) or "upper" (P(X > k) + P(X = k)/2), for a tail
    too small for a double (under ~1e-308, where ``_mid_tails`` gives 0).

    log P(X = k) + log(1/2 + sum_m r_1 ... r_m), r_i the ratio of each
    probability to the one before it, moving away from k into the tail:
    j/mean (Poisson) or j(1 - p)/((n - j + 1)p) (binomial) going down from
    j = k; mean/(j + 1) or (n - j)p/((j + 1)(1 - p)) going up. Past the mode
    the ratios fall, so the ``FAR_TERMS`` summed are followed by at most the
    last term times r/(1 - r), r the next ratio, which is added (a bound,
    below 1e-16 of the sum for counts up to ~10^5 events). A ratio is 0 past
    the support (j = 0 going down, j = n going up), ending the series."""
    k, mean = np.asarray(k, float), np.asarray(mean, float)
    n = None if n is None else np.asarray(n, float)
    out = np.empty(k.shape)
    for lo in range(0, k.size, 4096):  # rows of FAR_TERMS ratios, 16 MiB at most
        part = slice(lo, lo + 4096)
        kk, mm = k[part, None], mean[part, None]
        nn = None if n is None else n[part, None]
        step = np.arange(FAR_TERMS + 1)
        with np.errstate(all="ignore"):
            if side == "lower":
                j = kk - step
                r = j / mm if nn is None else j * (1 - mm) / ((nn - j + 1) * mm)
            else:
                j = kk + step
                r = mm / (j + 1) if nn is None else (nn - j) * mm / ((j + 1) * (1 - mm))
            r = np.clip(r, 0, None)
            terms = np.cumprod(r[:, :-1], axis=1)
            last, nxt = terms[:, -1], r[:, -1]  # the last term summed, the ratio after it
            rest = np.where(last == 0, 0.0, np.where(nxt < 1, last * nxt / (1 - nxt), np.inf))
            total = 0.5 + terms.sum(axis=1) + rest
            out[part] = _log_pmf(family, k[part], mean[part], None if n is None else n[part]) + np.log(total)
    return out


def _far_z(z, o, d, p0, family: str):
    """``z`` with its infinite values, where the smaller mid-p tail
    underflowed to 0 (0 events against ~745 or more expected, or a count
    many times too large), recomputed from the tail's logarithm: the
    inverse of log Phi (``scipy.special.ndtri_exp``) of ``_log_mid_tail``,
    interpolated as ``effective_exact_z`` interpolates (linearly in the
    tail between the whole counts either side of a fractional ``o``). An
    impossible count (a proportion p0 of 0 or 1) stays infinite."""
    z = np.array(z, float)
    far = np.flatnonzero(np.isinf(z) & (np.broadcast_to(d, z.shape) > 0)
                         & np.isfinite(np.broadcast_to(o, z.shape)))
    if not far.size:
        return z

    oo, dd, zz = _flat_at(o, z.shape, far), _flat_at(d, z.shape, far), z.reshape(-1)[far]
    mean, n = (dd, None) if family == "poisson" else (_flat_at(p0, z.shape, far), dd)
    below, frac = np.floor(oo), oo - np.floor(oo)
    for side, sign in (("lower", 1.0), ("upper", -1.0)):
        i = np.flatnonzero((zz < 0) == (side == "lower"))
        if not i.size:
            continue
        ni = None if n is None else n[i]
        log_tail = _log_mid_tail(family, side, below[i], mean[i], ni)
        f = frac[i]
        if (f > 0).any():
            with np.errstate(divide="ignore"):
                log_tail = np.logaddexp(np.log1p(-f) + log_tail,
                                        np.log(f) + _log_mid_tail(family, side, below[i] + 1, mean[i], ni))
        zz[i] = sign * scipy_special().ndtri_exp(log_tail)
    flat = z.reshape(-1)
    flat[far] = zz
    return flat.reshape(z.shape)


def effective_exact_z(observed, denominator, p0, family: str):
    """``exact_z`` of a weighted pool of periods, given as its effective
    count and size (O_eff = O_w E_w / sum w^2 E, E_eff = E_w^2 / sum w^2 E
    for counts; likewise with n for proportions), which are not whole
    numbers. The mid-p tails are interpolated linearly between the whole
    counts either side, as ``exact_limits`` interpolates the count at a
    tail; a binomial's size is rounded to a whole number (at least 1), its
    count scaled to keep the proportion. Whole counts and sizes give
    ``exact_z`` itself. So a pool of zero or few events is judged as one
    period of that size would be, not by the normal approximation, which
    calls 0 events out of 3.3 expected 'significantly low' (z -3.6 before
    any over-dispersion)."""
    o = np.asarray(observed, float)
    d = np.asarray(denominator, float)
    if family == "binomial":
        n = np.maximum(np.round(d), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            o = np.clip(o * n / d, 0, n)
        d = np.where(d > 0, n, d)
    below = np.floor(o)
    frac = o - below
    lower, upper = _mid_tails(below, d, p0, family)
    part = np.flatnonzero(np.nan_to_num(frac) > 0)
    if part.size:
        lo1, up1 = _mid_tails(below.reshape(-1)[part] + 1, _flat_at(d, o.shape, part),
                              _flat_at(p0, o.shape, part) if p0 is not None else None,
                              family)
        f = frac.reshape(-1)[part]
        lower, upper = lower.astype(float).reshape(-1), upper.astype(float).reshape(-1)
        lower[part] = (1 - f) * lower[part] + f * lo1
        upper[part] = (1 - f) * upper[part] + f * up1
        lower, upper = lower.reshape(o.shape), upper.reshape(o.shape)
    return _far_z(_z_of_tails(lower, upper, o, d), o, d, p0, family)


def overdispersion_factor(se, tau2: float):
    """sqrt(1 + tau^2 / se^2): how much the additive random-effects
    adjustment widens the limits of an area with standard error ``se`` on the
    variance-stabilised scale (Spiegelhalter 2005, QSHC)."""
    se = np.asarray(se, float)
    return np.sqrt(1.0 + tau2 / se**2)


def exact_limits(denominator, p0: float, family: str, z):
    """Control limits on the rate scale (proportion, or count per head) at
    which the exact mid-p z of ``exact_z`` equals -z and +z: the count at
    which the mid-p cumulative probability crosses Phi(+-z), interpolated
    linearly between integer counts, divided by the denominator.

    ``denominator`` is the population (Poisson, expected = p0 x population)
    or the cohort size (binomial). ``z`` may be an array (over-dispersion
    widens it per area: z * ``overdispersion_factor``).

    The limits are a function of (denominator, p0, z) alone, elementwise, and
    areas of one size in one period share all three: each distinct triple
    (alike to the bit) is searched for once and its limits given to all."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.asarray(denominator, float)
        shape = np.broadcast_shapes(d.shape, np.shape(p0), np.shape(z))
        d, p0, z = (np.broadcast_to(a, shape).reshape(-1) for a in (d, np.asarray(p0, float),
                                                                     np.asarray(z, float)))
        first, again = _distinct(d, p0, z)
        lower, upper = _exact_limits(d[first], p0[first], family, z[first])
        return lower[again].reshape(shape), upper[again].reshape(shape)


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the float ``columns`` alike to the bit: the position of one
    row of each group, and each row's group (a sort, then neighbours
    compared; cheaper than ``np.unique`` of the rows)."""
    order = np.lexsort(columns[::-1])
    bits = [c[order].view(np.int64) for c in columns]
    new = np.zeros(order.size, dtype=bool)
    new[:1] = True
    for b in bits:
        new[1:] |= b[1:] != b[:-1]
    group = np.empty(order.size, dtype=np.intp)
    group[order] = np.cumsum(new) - 1
    return order[new], group


def _exact_limits(d, p0, family, z):
    z = np.broadcast_to(np.asarray(z, float), d.shape)
    mean, n = (p0 * d, None) if family == "poisson" else (p0, d)
    top = np.inf if family == "poisson" else n

    def lower_count(q):  # count where the mid-p lower tail rises through q
        k0 = _ppf(family, q, mean, n)  # smallest k with P(X <= k) >= q
        at = _mid_p(k0, mean, n, family)
        past = at >= q  # crossed between k0-1 and k0, else between k0 and k0+1
        lo_k = np.where(past, k0 - 1, k0)
        other = _mid_p(np.where(past, k0 - 1, k0 + 1), mean, n, family)
        a, b = np.where(past, other, at), np.where(past, at, other)
        return np.clip(lo_k + (q - a) / np.where(b > a, b - a, 1), 0, top)

    def upper_count(s):  # count where the mid-p upper tail falls through s
        k0 = _isf(family, s, mean, n)  # smallest k with P(X > k) <= s
        at = _mid_q(k0, mean, n, family)
        past = at <= s
        lo_k = np.where(past, k0 - 1, k0)
        other = _mid_q(np.where(past, k0 - 1, k0 + 1), mean, n, family)
        a, b = np.where(past, other, at), np.where(past, at, other)
        return np.clip(lo_k + (a - s) / np.where(a > b, a - b, 1), 0, top)

    tail = _norm_sf(z)
    upper = upper_count(tail) / d
    lower = lower_count(tail) / d
    return lower, upper


def rate_interval(observed, denominator, family: str, level: float = 0.95):
    """Confidence interval for each area's own rate (proportion or count per
    head): exact Poisson (Garwood 1936, via chi-square) for counts, Wilson
    (1927) score interval for proportions."""
    o = np.asarray(observed, float)
    d = np.asarray(denominator, float)
    a = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        if family == "poisson":
            # 0 at a count of 0; none for a suppressed (missing) count, as for its rate
            lo = np.where(o > 0, _chi2_ppf(a / 2, 2 * o) / 2, np.where(o == 0, 0.0, np.nan))
            hi = _chi2_ppf(1 - a / 2, 2 * o + 2) / 2
            return lo / d, hi / d
        z = _norm_ppf(1 - a / 2)
        p = o / d
        centre = (p + z**2 / (2 * d)) / (1 + z**2 / d)
        half = z / (1 + z**2 / d) * np.sqrt(p * (1 - p) / d + z**2 / (4 * d**2))
        # at 0 (or all) of n the bound is 0 (or 1) exactly, not 2.8e-15 of rounding; none of none (an
        # empty or missing cohort) has no interval, as it has no rate
        return (np.where((o == 0) & (d > 0), 0.0, centre - half),
                np.where((o == d) & (d > 0), 1.0, centre + half))
