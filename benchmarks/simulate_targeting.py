"""Does the ranked list find the weakest services? A simulation benchmark.

Synthetic services with a known latent quality (higher = weaker), small and
large, a context variable that moves rates without being quality, quality
drifting over time, over-dispersed counts and noisy past ratings. For each
seed we rank as of the end of the simulation and report how many of the full
joint inspection picks are truly among the weakest fifth of eligible
services, for the pipeline and for a raw-rate league table (mean percentile
of the latest year's raw rates).

    .venv/bin/python benchmarks/simulate_targeting.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.model import panel, scores  # noqa: E402
from pipeline.rank import targets  # noqa: E402
from pipeline.settings import RankingRules  # noqa: E402

YEARS = range(2016, 2026)
AS_OF = dt.date(2026, 6, 1)


def simulate(seed: int, n: int = 150, rating_noise: float = 0.8):
    """Tidy tables in the ingest readers' shapes, plus the truth."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    svc = pd.DataFrame({"la_code": [f"E0{i:08d}" for i in range(n)], "la_name": ids,
                        "yjs_name": ids, "yjs_id": ids, "region": "R", "country": "England"})
    pop0 = np.exp(rng.normal(np.log(18_000), 0.8, n)).clip(2_000, 150_000)
    context = rng.normal(0, 1, n)
    q = rng.normal(0, 1, n)
    quality = {}
    pops, fte, cus, reo = [], [], [], []
    for t, year in enumerate(YEARS):
        q = 0.9 * q + rng.normal(0, np.sqrt(1 - 0.81), n)  # stationary drift
        quality[year] = q.copy()
        pop = (pop0 * (1 + 0.01 * t)).astype(int)
        pops += [(c, year, p) for c, p in zip(svc["la_code"], pop)]
        end = pd.Timestamp(f"{year}-12-31")
        noise = lambda s: rng.normal(0, s, n)  # noqa: E731  extra-Poisson variation
        fte_rate = 0.004 * 0.88**t * np.exp(0.25 * q + 0.2 * context + noise(0.15))
        cus_rate = 0.0004 * 0.9**t * np.exp(0.3 * q + 0.3 * context + noise(0.2))
        for i in range(n):
            fte.append((ids[i], ids[i], end, 12, float(rng.poisson(pop[i] * fte_rate[i])), False))
            cus.append((ids[i], ids[i], end, 12, float(rng.poisson(pop[i] * cus_rate[i])), False))
        size = np.maximum(3, rng.poisson(pop * fte_rate * 0.6 / 4))
        for m in (3, 6, 9, 12):
            p = 1 / (1 + np.exp(-(np.log(0.5) + 0.3 * q + 0.15 * context + noise(0.15))))
            k = rng.binomial(size, p)
            cend = pd.Timestamp(f"{year}-{m:02d}-01") + pd.offsets.MonthEnd(0)
            reo += [(ids[i], ids[i], cend, 3, float(size[i]), float(k[i]), float(3 * k[i]), False)
                    for i in range(n)]
    # one past inspection each, 2019-2025, rated noisily from quality then
    when = pd.to_datetime("2019-01-01") + pd.to_timedelta(rng.integers(0, 7 * 365, n), unit="D")
    latent = np.array([quality[min(max(d.year, YEARS[0]), YEARS[-1])][i] for i, d in enumerate(when)])
    score = np.digitize(latent + rng.normal(0, rating_noise, n), [-1.2, 0.3, 1.4]) + 1
    names = {1: "Outstanding", 2: "Good", 3: "Requires improvement", 4: "Inadequate"}
    insp = pd.DataFrame({"yjs_id": ids, "yjs_name": ids, "published": when,
                         "inspection_type": "standard",
                         "overall_rating": [names[s] for s in score], "rating_score": score})
    cols = ["yjs_id", "yjs_name", "period_end", "period_months"]
    tables = {
        "first_time_entrants": pd.DataFrame(fte, columns=cols + ["fte_count", "suppressed"]),
        "custody": pd.DataFrame(cus, columns=cols + ["custodial_sentences", "suppressed"]),
        "reoffending": pd.DataFrame(reo, columns=["yjs_id", "yjs_name", "cohort_end", "cohort_months",
                                                  "cohort_size", "reoffenders", "reoffences",
                                                  "suppressed"]),
    }
    population = pd.DataFrame(pops, columns=["la_code", "year", "population_10_17"])
    truth = pd.Series(quality[YEARS[-1]], index=ids, name="quality")
    return svc, population, tables, insp, truth


def league_table(values: pd.DataFrame) -> pd.Series:
    """Raw-rate league table: mean percentile rank of each indicator's latest
    raw rate (higher = worse)."""
    latest = values[values.groupby("indicator")["period_end"].transform("max") == values["period_end"]]
    pct = latest.groupby("indicator")["rate"].rank(pct=True)
    return pct.groupby(latest["yjs_id"]).mean()


def evaluate(seed: int, rules: RankingRules = RankingRules(), rating_noise: float = 0.8) -> dict:
    svc, pop, tables, insp, truth = simulate(seed, rating_noise=rating_noise)
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, rules.lag_months)
    ev = scores.indicator_evidence(values)
    history = scores.inspection_history(insp, AS_OF)
    ranked = targets.recommend(scores.concern_scores(svc, ev, history, rules.weights), ev, rules, AS_OF)
    eligible = ranked[ranked["eligible"]].set_index("yjs_id")
    weakest = set(truth[eligible.index].nlargest(len(eligible) // 5).index)
    picks = set(eligible.index[eligible["recommendation"] == "full_joint_inspection"])
    raw = league_table(values)[eligible.index].nlargest(rules.n_full_joint).index
    return {"seed": seed, "eligible": len(eligible),
            "pipeline": len(picks & weakest) / len(picks),
            "league_table": len(set(raw) & weakest) / len(raw)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--rating-noise", type=float, default=0.8,
                   help="sd of the noise in past ratings (large = ratings carry no information)")
    args = p.parse_args()
    res = pd.DataFrame([evaluate(s, rating_noise=args.rating_noise) for s in range(1, args.seeds + 1)])
    print(res.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nshare of full-joint-inspection picks truly in the weakest fifth of eligible services, "
          f"mean over {args.seeds} seeds:")
    for m in ("pipeline", "league_table"):
        print(f"  {m:13s} {res[m].mean():.3f}  (sd {res[m].std():.3f})")


if __name__ == "__main__":
    main()
