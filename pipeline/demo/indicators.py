"""Synthetic counts of the three national indicators, per service.

Each service's expected count is the national rate (``trends``) times its
population, times its relative risk from ``latent`` (calibrated so that the
national rate comes out as set); the count is then Poisson (FTE, custody) or
binomial (reoffenders). Names here are the canonical service names; the
published spellings, suppression and formatting are applied by ``quirks``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.demo import trends
from pipeline.demo.latent import persistent_shift, shifts, stream

FTE_YEARS = list(range(2013, 2026))
COHORTS_12_MONTH = [(year, 3) for year in range(2013, 2017)]
COHORTS_3_MONTH = [(year, month) for year in range(2017, 2025) for month in (3, 6, 9, 12)]
FINANCIAL_YEAR_ENDS = list(range(2014, 2026))  # 2013-14 ... 2024-25
# (type, share of the tier); Section 91 became Section 250 (Sentencing Act 2020)
OUTCOME_TYPES = {
    "Pre-court": [("Youth Caution", 0.7), ("Youth Conditional Caution", 0.3)],
    "First-tier": [("Referral Order", 1.0)],
    "Community": [("Youth Rehabilitation Order", 1.0)],
    "Custody": [("Detention and Training Order", 0.85), ("Section 250", 0.15)],
}
COHORT_VOLUME_ELASTICITY = 0.8  # cohorts grow with the area's FTE volume


def _calibrated(pop: np.ndarray, rate: np.ndarray, log_shift: np.ndarray) -> np.ndarray:
    """Expected counts: population x national rate x relative risk, with the
    relative risks scaled so that the national total matches the rate."""
    rr = np.exp(log_shift)
    scale = (pop * rr).sum(axis=0) / pop.sum(axis=0)
    return pop * rate[None, :] * rr / scale[None, :]


def _calibrated_proportion(weights: np.ndarray, target: np.ndarray,
                           logit_shift: np.ndarray) -> np.ndarray:
    """Per-service proportions whose weighted national mean is ``target``
    (the intercept per period found by bisection)."""
    w = weights + 1.0
    lo, hi = np.full(len(target), -6.0), np.full(len(target), 6.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        p = 1 / (1 + np.exp(-(mid[None, :] + logit_shift)))
        too_high = (w * p).sum(axis=0) / w.sum(axis=0) > target
        hi, lo = np.where(too_high, mid, hi), np.where(too_high, lo, mid)
    return 1 / (1 + np.exp(-((lo + hi)[None, :] / 2 + logit_shift)))


def first_time_entrants(pop: pd.DataFrame, latent: pd.DataFrame, seed: int) -> pd.DataFrame:
    """yjs_name, year, fte_count: calendar years 2013-2025."""
    rng = stream(seed, "first_time_entrants")
    p = pop.loc[latent.index, FTE_YEARS].to_numpy(dtype=float)
    rate = trends.at(trends.FTE_PER_100K, FTE_YEARS) / 1e5
    counts = rng.poisson(_calibrated(p, rate, shifts(latent, "fte", len(FTE_YEARS), rng)))
    frame = pd.DataFrame(counts, index=latent.index, columns=FTE_YEARS)
    return frame.stack().rename("fte_count").rename_axis(["yjs_name", "year"]).reset_index()


def reoffending(pop: pd.DataFrame, latent: pd.DataFrame, seed: int) -> pd.DataFrame:
    """yjs_name, cohort_year, cohort_month, cohort_months, cohort_size,
    reoffenders, reoffences: 12-month cohorts 2013-2016, 3-month 2017-2024."""
    rng = stream(seed, "reoffending")
    volume = COHORT_VOLUME_ELASTICITY * persistent_shift(latent, "fte")
    quality = latent["quality"].to_numpy()
    parts = []
    for months, ends in ((12, COHORTS_12_MONTH), (3, COHORTS_3_MONTH)):
        years = [y for y, _ in ends]
        t = np.array([y + (m - 0.5) / 12 for y, m in ends])
        shape = (len(latent), len(ends))
        per_100k = (trends.at(trends.COHORT_PER_100K_YEAR, years) if months == 12
                    else trends.at(trends.COHORT_PER_100K_QUARTER, t))
        p = pop.loc[latent.index, years].to_numpy(dtype=float)
        size = rng.poisson(_calibrated(
            p, per_100k / 1e5, volume[:, None] + rng.normal(0.0, 0.05, shape)))
        share = _calibrated_proportion(
            size, trends.at(trends.REOFFENDING_PCT, t) / 100,
            shifts(latent, "reoffending", len(ends), rng))
        reoffenders = rng.binomial(size, share)
        per_reoffender = trends.at(trends.REOFFENCES_PER_REOFFENDER, t)[None, :] * np.exp(
            -0.05 * quality[:, None] + rng.normal(0.0, 0.08, shape))
        reoffences = reoffenders + rng.poisson(reoffenders * (per_reoffender - 1))
        parts.append(pd.DataFrame({
            "yjs_name": np.repeat(latent.index.to_numpy(), len(ends)),
            "cohort_year": np.tile(years, len(latent)),
            "cohort_month": np.tile([m for _, m in ends], len(latent)),
            "cohort_months": months,
            "cohort_size": size.ravel(),
            "reoffenders": reoffenders.ravel(),
            "reoffences": reoffences.ravel(),
        }))
    return pd.concat(parts, ignore_index=True)


def outcomes(pop: pd.DataFrame, latent: pd.DataFrame, seed: int) -> pd.DataFrame:
    """yjs_name, fy_end, tier, type, count: the YJB outcome table, financial
    years 2013-14 to 2024-25. Zero counts of the rarer custody type are left
    out, as in the published tables; every other cell is written."""
    rng = stream(seed, "outcomes")
    p = pop.loc[latent.index, FINANCIAL_YEAR_ENDS].to_numpy(dtype=float)
    n_years = len(FINANCIAL_YEAR_ENDS)
    parts = []
    for tier, types in OUTCOME_TYPES.items():
        rate = trends.at(trends.OUTCOMES_PER_1000[tier], FINANCIAL_YEAR_ENDS) / 1000
        indicator = "custody" if tier == "Custody" else "fte"
        remaining = rng.poisson(_calibrated(p, rate, shifts(latent, indicator, n_years, rng)))
        left_share = 1.0
        for i, (kind, share) in enumerate(types):
            last = i == len(types) - 1
            count = remaining if last else rng.binomial(remaining, share / left_share)
            remaining, left_share = remaining - count, left_share - share
            names = np.full(count.shape, kind, dtype=object)
            if kind == "Section 250":
                names[:, np.array(FINANCIAL_YEAR_ENDS) <= 2020] = "Section 91"
            parts.append(pd.DataFrame({
                "yjs_name": np.repeat(latent.index.to_numpy(), n_years),
                "fy_end": np.tile(FINANCIAL_YEAR_ENDS, len(latent)),
                "tier": tier,
                "type": names.ravel(),
                "count": count.ravel(),
            }))
    table = pd.concat(parts, ignore_index=True)
    rare = table["type"].isin(["Section 250", "Section 91"]) & (table["count"] == 0)
    return table[~rare].reset_index(drop=True)
