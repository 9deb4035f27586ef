"""Small tidy tables built in code, shaped like the ingest readers' output."""

from __future__ import annotations

import numpy as np
import pandas as pd


def services(n: int = 30) -> pd.DataFrame:
    ids = [f"svc-{i:02d}" for i in range(n)]
    return pd.DataFrame({
        "la_code": [f"E0600{i:04d}" for i in range(n)], "la_name": [f"LA {i}" for i in range(n)],
        "yjs_name": [f"Service {i}" for i in range(n)], "yjs_id": ids,
        "region": "London", "country": "England",
    })


def population(svc: pd.DataFrame, years=range(2018, 2025), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.integers(5_000, 120_000, len(svc))
    rows = [(code, y, int(b * (1 + 0.01 * (y - 2018)))) for code, b in zip(svc["la_code"], base)
            for y in years]
    return pd.DataFrame(rows, columns=["la_code", "year", "population_10_17"])


def indicator_tables(svc: pd.DataFrame, pop: pd.DataFrame, quality: np.ndarray, seed: int = 0,
                     years=range(2018, 2025)) -> dict[str, pd.DataFrame]:
    """FTE and custody per calendar year, reoffending in 3-month cohorts;
    higher ``quality`` (one value per service) means worse rates."""
    rng = np.random.default_rng(seed)
    p = pop.merge(svc[["la_code", "yjs_id", "yjs_name"]], on="la_code")
    fte, cus, reo = [], [], []
    for _, r in p[p["year"].isin(years)].iterrows():
        q = quality[int(r["yjs_id"][-2:])]
        end = pd.Timestamp(f"{r['year']}-12-31")
        mult = np.exp(0.4 * q)
        fte.append((r["yjs_id"], r["yjs_name"], end, 12,
                    float(rng.poisson(r["population_10_17"] * 0.002 * mult)), False))
        cus.append((r["yjs_id"], r["yjs_name"], end, 12,
                    float(rng.poisson(r["population_10_17"] * 0.0002 * mult)), False))
        for m in (3, 6, 9, 12):
            n = max(5, int(r["population_10_17"] / 800))
            pr = 1 / (1 + np.exp(-(np.log(0.5) + 0.4 * q)))
            k = rng.binomial(n, pr)
            reo.append((r["yjs_id"], r["yjs_name"], pd.Timestamp(f"{r['year']}-{m:02d}-01")
                        + pd.offsets.MonthEnd(0), 3, float(n), float(k), float(3 * k), False))
    cols = ["yjs_id", "yjs_name", "period_end", "period_months"]
    return {
        "first_time_entrants": pd.DataFrame(fte, columns=cols + ["fte_count", "suppressed"]),
        "custody": pd.DataFrame(cus, columns=cols + ["custodial_sentences", "suppressed"]),
        "reoffending": pd.DataFrame(reo, columns=["yjs_id", "yjs_name", "cohort_end", "cohort_months",
                                                  "cohort_size", "reoffenders", "reoffences",
                                                  "suppressed"]),
    }


def inspections(rows) -> pd.DataFrame:
    """rows: (yjs_id, 'YYYY-MM-DD', rating, score)."""
    return pd.DataFrame([
        {"yjs_id": i, "yjs_name": i, "published": pd.Timestamp(d), "inspection_type": "standard",
         "overall_rating": r, "rating_score": s} for i, d, r, s in rows
    ], columns=["yjs_id", "yjs_name", "published", "inspection_type", "overall_rating", "rating_score"])
