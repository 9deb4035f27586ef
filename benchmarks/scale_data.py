"""Synthetic inputs at a multiple of the demo's indicator rows, for the scale run.

The demo is read once with the project's own readers, then written back in
the contract's plain long layouts with more services (copies of every
service and local authority under new names and codes) and more periods
(annual first-time entrant and custody counts split into quarterly or
half-yearly periods; reoffending cohorts repeated further back in time).
The indicator rows (periods x services, what the statistics score) grow by
the scale: at 100x, 25 copies of every service with quarterly periods. The
population estimates are annual, by area, so they grow with the services
only, as do the lookup and the inspections: all the input rows grow 6x at
10x and 41x at 100x. Scale 1 goes through the same writer, so growth
factors compare like with like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import ingest

PLAN = {1: (1, 1), 10: (5, 2), 100: (25, 4)}  # scale -> (service copies, periods per year)
ROWS_PER_FILE = 200_000  # a multiple of 8, the ages 10-17 of one area and year


def _names(df: pd.DataFrame, j: int, col: str = "yjs_name") -> pd.DataFrame:
    return df.assign(**{col: df[col] + ("" if j == 0 else f" Copy{j}")})


def _month(ts) -> pd.Series:
    return pd.to_datetime(ts).dt.strftime("%Y-%m")


def _split(df: pd.DataFrame, count: str, parts: int) -> pd.DataFrame:
    """An annual count split into ``parts`` sub-periods (sums preserved)."""
    if parts == 1:
        return df
    out = []
    for i in range(parts):
        share = np.floor(df[count] / parts) + (df[count] % parts > i)
        end = pd.to_datetime(df["period_end"]) - pd.DateOffset(months=12 // parts * (parts - 1 - i))
        out.append(df.assign(**{count: share, "period_end": end + pd.offsets.MonthEnd(0),
                                "period_months": 12 // parts}))
    return pd.concat(out, ignore_index=True)


def scaled_copy(demo: Path, out: Path, scale: int) -> Path:
    copies, parts = PLAN[scale]
    svc = ingest.read_services(demo).table
    read = {n: f(demo, svc).table for n, f in [
        ("population", ingest.read_population), ("first_time_entrants", ingest.read_first_time_entrants),
        ("reoffending", ingest.read_reoffending), ("custody", ingest.read_custody),
        ("inspections", ingest.read_inspections)]}
    codes = {c: i for i, c in enumerate(sorted(svc["la_code"]))}

    def code(c: str, j: int) -> str:
        return c if j == 0 else f"{c[0]}9{j:02d}{codes[c]:05d}"

    tables = {k: [] for k in ["services", *read]}
    for j in range(copies):
        s = _names(_names(svc, j), j, "la_name").assign(la_code=svc["la_code"].map(lambda c: code(c, j)))
        tables["services"].append(s[["la_code", "la_name", "yjs_name", "region", "country"]])
        pop = read["population"].assign(la_code=read["population"]["la_code"].map(lambda c: code(c, j)))
        ages = pd.concat([pop.assign(age=a, population=(pop["population_10_17"] // 8
                                                        + (a < pop["population_10_17"] % 8)))
                          for a in range(10, 18)])
        tables["population"].append(ages[["la_code", "year", "age", "population"]])
        for name, count in (("first_time_entrants", "fte_count"), ("custody", "custodial_sentences")):
            t = _split(_names(read[name], j), count, parts)
            t = t.assign(period_end=_month(t["period_end"]),
                         **{count: t[count].map(lambda v: "*" if pd.isna(v) else str(int(v)))})
            tables[name].append(t[["yjs_name", "period_end", "period_months", count]])
        for back in range(parts):
            r = _names(read["reoffending"], j)
            r = r.assign(cohort_end=_month(pd.to_datetime(r["cohort_end"]) - pd.DateOffset(years=8 * back)))
            cols = ["cohort_size", "reoffenders", "reoffences"]
            r[cols] = r[cols].apply(lambda c: c.map(lambda v: "*" if pd.isna(v) else str(int(v))))
            tables["reoffending"].append(r[["yjs_name", "cohort_end", "cohort_months", *cols]])
        tables["inspections"].append(_names(read["inspections"], j)[
            ["yjs_name", "published", "inspection_type", "overall_rating"]])
    for name, parts_ in tables.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        table = pd.concat(parts_, ignore_index=True)
        if name == "population":  # an area's ages in one file (the reader checks 10-17 are complete)
            table = table.sort_values(["la_code", "year", "age"], ignore_index=True)
        # several files per folder, each under the readers' per-file row limit
        for i, start in enumerate(range(0, max(len(table), 1), ROWS_PER_FILE)):
            table.iloc[start:start + ROWS_PER_FILE].to_csv(out / name / f"{name}_{i:02d}.csv", index=False)
    return out
