"""Past inspections, drawn noisily from the same latent quality.

A service's inspection finding is a noisy reading of its quality:
``score = (-quality + noise) / sd`` (standard normal, higher = worse), with
``noise ~ N(0, RATING_NOISE_SD)``, fresh at every inspection. So worse
services tend to get worse ratings, but not always: there is something to
learn, not a lookup.

- 2012-2017: full joint inspections (FJI) and short quality screenings (SQS) of
  30 services, targeted (noisily) at weaker services, old four-point scale.
- 2018-2024: every service once (``small`` for the smallest fifth by
  population), paused for COVID-19 from March 2020 to February 2021. The score
  becomes points out of 36 and the rating follows the published bands
  (0-6 Inadequate, 7-18 Requires improvement, 19-30 Good, 31-36 Outstanding).
- 2025-2026: re-inspections of about 12% of services, weighted towards those
  rated Requires improvement or Inadequate, all published before 2026-11-01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.demo.latent import stream

RATING_NOISE_SD = 0.8
OLD_SCALE = ["good", "satisfactory", "unsatisfactory", "poor"]
OLD_CUTS = [-0.8, 0.2, 1.1]  # score cut points between the old ratings
NEW_BANDS = [(31, "Outstanding"), (19, "Good"), (7, "Requires improvement"), (0, "Inadequate")]
POINTS_CENTRE, POINTS_PER_SD = 20.5, 8.0
N_OLD, N_SQS, OLD_TARGETING = 30, 6, 0.6
SMALL_SHARE = 0.2
N_REINSPECTED = 18
REINSPECTION_WEIGHT = {
    "Outstanding": 0.2, "Good": 0.5, "Requires improvement": 2.0, "Inadequate": 6.0,
}
OLD_WINDOWS = [("2012-10-01", "2017-12-15")]
CYCLE_WINDOWS = [("2018-06-01", "2020-03-13"), ("2021-03-01", "2024-12-13")]
REINSPECTION_WINDOW = ("2025-01-06", "2026-10-30")
MIN_GAP_DAYS = 400  # a re-inspection follows the cycle's by more than a year


def _score(quality: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, RATING_NOISE_SD, len(quality))
    return (-quality + noise) / np.sqrt(1 + RATING_NOISE_SD**2)


def _points(score: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(POINTS_CENTRE - POINTS_PER_SD * score), 0, 36).astype(int)


def new_rating(points: int) -> str:
    return next(rating for floor, rating in NEW_BANDS if points >= floor)


def _weekday(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Saturdays move back to Friday, Sundays on to Monday."""
    shift = np.select([dates.dayofweek == 5, dates.dayofweek == 6], [-1, 1], 0)
    return dates + pd.to_timedelta(shift, unit="D")


def _spread(windows, n: int, rng: np.random.Generator) -> pd.DatetimeIndex:
    """``n`` dates spread evenly over the windows, jittered by a few days."""
    starts = [pd.Timestamp(a) for a, _ in windows]
    lengths = np.array([(pd.Timestamp(b) - pd.Timestamp(a)).days for a, b in windows])
    pos = (np.arange(n) + 0.5) / n * lengths.sum() + rng.uniform(-4, 4, n)
    pos = np.clip(pos, 0, lengths.sum() - 1)
    window = np.searchsorted(np.cumsum(lengths), pos, side="right")
    offset = pos - np.concatenate([[0], np.cumsum(lengths)])[window]
    dates = [starts[w] + pd.Timedelta(days=int(d)) for w, d in zip(window, offset)]
    return _weekday(pd.DatetimeIndex(dates))


def build_inspections(latent: pd.DataFrame, population_10_17: pd.Series,
                      seed: int) -> pd.DataFrame:
    """yjs_name, published, inspection_type, overall_rating, points, phase."""
    rng = stream(seed, "inspections")
    names = latent.index.to_numpy()
    quality = latent["quality"].to_numpy()
    n = len(names)

    weights = np.exp(-OLD_TARGETING * quality)
    old = rng.choice(n, N_OLD, replace=False, p=weights / weights.sum())
    old_types = np.array(["FJI"] * N_OLD, dtype=object)
    old_types[rng.choice(N_OLD, N_SQS, replace=False)] = "SQS"
    old_frame = pd.DataFrame({
        "yjs_name": names[old],
        "published": _spread(OLD_WINDOWS, N_OLD, rng),
        "inspection_type": old_types,
        "overall_rating": np.array(OLD_SCALE)[np.searchsorted(OLD_CUTS, _score(quality[old], rng))],
        "points": pd.NA,
        "phase": "2012-2017",
    })

    order = rng.permutation(n)
    small = population_10_17.loc[names].to_numpy() < population_10_17.quantile(SMALL_SHARE)
    points = _points(_score(quality[order], rng))
    cycle = pd.DataFrame({
        "yjs_name": names[order],
        "published": _spread(CYCLE_WINDOWS, n, rng),
        "inspection_type": np.where(small[order], "small", "standard"),
        "overall_rating": [new_rating(p) for p in points],
        "points": points,
        "phase": "2018-2024",
    })

    weights = cycle["overall_rating"].map(REINSPECTION_WEIGHT).to_numpy()
    again = cycle.iloc[rng.choice(n, N_REINSPECTED, replace=False, p=weights / weights.sum())]
    again = again.sort_values("published", kind="stable")
    # spread over the window, the longest-ago inspected first, and never
    # within MIN_GAP_DAYS of the cycle's inspection
    earliest = again["published"] + pd.Timedelta(days=MIN_GAP_DAYS)
    spread = _spread([REINSPECTION_WINDOW], len(again), rng)
    dates = _weekday(pd.DatetimeIndex(np.maximum(spread.to_numpy(), earliest.to_numpy())))
    points = _points(_score(latent.loc[again["yjs_name"], "quality"].to_numpy(), rng))
    repeat = pd.DataFrame({
        "yjs_name": again["yjs_name"].to_numpy(),
        "published": dates,
        "inspection_type": again["inspection_type"].to_numpy(),
        "overall_rating": [new_rating(p) for p in points],
        "points": points,
        "phase": "2025-2026",
    })
    history = pd.concat([old_frame, cycle, repeat], ignore_index=True)
    return history.sort_values(["published", "yjs_name"], kind="stable").reset_index(drop=True)
