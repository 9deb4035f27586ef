"""Data-quality rules behind the asset checks (``pipeline.defs.checks``).

Each function takes tables (or, for the published warehouse, a read-only
DuckDB connection) and returns what is wrong as a DataFrame or a list of
sentences (empty = fine), so the rules are testable without Dagster and the
checks only decide pass/fail and severity.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

def some_of(names, shown: int) -> str:
    """The first ``shown`` of ``names`` and how many more: "a, b, c and 4 more"."""
    names = list(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


# Rates outside these are not believable for a youth justice service; they
# mean a wrong denominator or a misread column, not a bad service.
PLAUSIBLE_RATES = {
    "fte": (0.0, 5_000.0),  # per 100,000 aged 10-17 (national ~150-500)
    "reoffending": (0.0, 100.0),  # % of the cohort
    "custody": (0.0, 20.0),  # per 1,000 aged 10-17 (national ~0.1-0.4)
}
GSS_CODE = re.compile(r"^[EW]\d{8}$")

# The key of each published table (one row per ...), from the contract.
TABLE_KEYS = {
    "services": ["yjs_id"],
    "indicator_values": ["yjs_id", "indicator", "period_end", "period_months"],
    "indicator_dispersion": ["indicator", "period_end", "period_months"],
    "indicator_evidence": ["yjs_id", "indicator"],
    "inspection_targets": ["yjs_id"],
    "ranking_history": ["as_of", "yjs_id"],
}


def duplicate_keys(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Key values that occur more than once, with how often."""
    keys = [k for k in keys if k in df.columns]
    dup = df[df.duplicated(keys, keep=False)]
    return dup.groupby(keys, dropna=False).size().rename("rows").reset_index()


def ranked_list_problems(ranked: pd.DataFrame, service_ids) -> list[str]:
    """The ranked list must hold every service once, ranked 1..n, each rank
    inside its interval, each with reasons."""
    problems = []
    ids, expected = set(ranked["yjs_id"]), set(service_ids)
    if missing := sorted(expected - ids):
        problems.append(f"{len(missing)} services missing from the list: {', '.join(missing[:5])}")
    if extra := sorted(ids - expected):
        problems.append(f"{len(extra)} ids not in services: {', '.join(extra[:5])}")
    if (dup := ranked["yjs_id"].duplicated()).any():
        problems.append(f"{int(dup.sum())} services listed twice: "
                        f"{', '.join(ranked.loc[dup, 'yjs_id'].head(5))}")
    if sorted(ranked["rank"].tolist()) != list(range(1, len(ranked) + 1)):
        problems.append("ranks are not 1..n without gaps or ties")
    outside = ranked[(ranked["rank"] < ranked["rank_low"]) | (ranked["rank"] > ranked["rank_high"])]
    if len(outside):
        problems.append(f"{len(outside)} ranks outside their interval: {', '.join(outside['yjs_id'].head(5))}")
    if (ranked["reasons"].fillna("").str.strip() == "").any():
        problems.append("some services have no reasons")
    return problems


def implausible_rates(values: pd.DataFrame) -> pd.DataFrame:
    """Rows whose rate is outside PLAUSIBLE_RATES, or whose counts are
    negative or (for proportions) exceed the cohort."""
    bad = []
    for key, (lo, hi) in PLAUSIBLE_RATES.items():
        v = values[values["indicator"] == key]
        out = v[(v["rate"] < lo) | (v["rate"] > hi)]
        if key == "reoffending":
            out = pd.concat([out, v[v["numerator"] > v["denominator"]]])
        bad.append(out)
    bad.append(values[(values["numerator"] < 0) | (values["denominator"] < 0)])
    cols = ["yjs_id", "indicator", "period_end", "numerator", "denominator", "rate"]
    return pd.concat(bad)[cols].drop_duplicates()


def latest_period_coverage(values: pd.DataFrame, n_services: int) -> pd.DataFrame:
    """Per indicator, its latest period and the share of services reported
    in it. A suppressed cell counts as reported: small services' figures are
    suppressed in every release, while a partial file leaves services out."""
    rows = []
    for key, v in values.groupby("indicator"):
        latest = v[v["period_end"] == v["period_end"].max()]
        reported = latest["yjs_id"].nunique()
        rows.append({"indicator": key, "period_end": str(pd.Timestamp(latest["period_end"].iloc[0]).date()),
                     "services_reported": int(reported), "services": int(n_services),
                     "share": reported / n_services if n_services else 0.0})
    return pd.DataFrame(rows, columns=["indicator", "period_end", "services_reported", "services", "share"])


def unmapped_services(lookup: pd.DataFrame) -> list[str]:
    """The LA-to-service lookup: every service has at least one valid GSS
    code, and no local authority belongs to two services."""
    problems = []
    codes = lookup["la_code"].fillna("").astype(str)
    if (bad := lookup[~codes.str.match(GSS_CODE)]).shape[0]:
        problems.append(f"{len(bad)} rows without a valid GSS code: "
                        f"{', '.join(bad['yjs_id'].astype(str).head(5))}")
    per_la = lookup.groupby("la_code")["yjs_id"].nunique()
    if (shared := per_la[per_la > 1]).shape[0]:
        problems.append(f"local authorities in two services: {', '.join(shared.index[:5])}")
    mapped = set(lookup.loc[codes.str.match(GSS_CODE), "yjs_id"])
    if unmapped := sorted(set(lookup["yjs_id"]) - mapped):
        problems.append(f"services with no local authority: {', '.join(unmapped[:5])}")
    return problems


# --- the published warehouse (a read-only DuckDB connection) ---------------

def published_duplicate_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per published table (TABLE_KEYS), how many key values occur more than once."""
    counts = {}
    for table, keys in TABLE_KEYS.items():
        counts[table] = int(con.execute(f"SELECT count(*) FROM (SELECT {', '.join(keys)} FROM {table} "
                                        "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0])
    return counts


def services_without_la_or_population(services: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Published services with no local authority codes, and with no population aged 10-17."""
    no_la = services.loc[services["la_codes"].fillna("").str.strip() == "", "yjs_id"].tolist()
    no_pop = services.loc[services["population_10_17"].isna(), "yjs_id"].tolist()
    return no_la, no_pop


def view_row_counts(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[str]]:
    """Rows of every (non-internal) view, and one line per view that fails to answer."""
    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                      "AND database_name = current_database()").fetchall()]
    rows, problems = {}, []
    for view in views:
        try:
            rows[view] = int(con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0])
        except duckdb.Error as exc:
            problems.append(f"{view}: {str(exc).splitlines()[0]}")
    return rows, problems
