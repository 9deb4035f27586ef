"""Data-quality rules behind the asset checks (``pipeline.defs.checks``).

Each function takes tables (or, for the published warehouse, a read-only
DuckDB connection) and returns what is wrong as a DataFrame or a list of
sentences (empty = fine), so the rules are testable without Dagster and the
checks only decide pass/fail and severity.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY
from pipeline.ingest import BY_DESIGN, OUTSIDE_LOOKUP
from pipeline.ingest.tables import NOTE_PROBLEM


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
# A source with more than this share of its rows quarantined, and at least MIN_QUARANTINED rows,
# stops the refresh (rows set aside by design, or outside the lookup, not counted): a file in another
# layout, a column of unreadable values. Below it, one bad file among good ones (the demo's newer FTE
# file is 46% of its rows), or a small file with a few bad rows, goes on with its rows in the quarantine.
MAX_QUARANTINED_SHARE, MIN_QUARANTINED = 0.5, 20
# a lookup of this many services or more is a national one: a source none of whose names it knows is misnamed
NATIONAL_LOOKUP = 20

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


RANKED_LIST_COLUMNS = ["yjs_id", "rank", "rank_low", "rank_high", "reasons"]  # what it reads


def ranked_list_problems(ranked: pd.DataFrame, service_ids) -> list[str]:
    """The ranked list must hold every service once, ranked 1..n, each rank
    inside its interval, each with reasons (``RANKED_LIST_COLUMNS``)."""
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


def describe_implausible(bad: pd.DataFrame, names: dict[str, str] | None = None, shown: int = 3) -> str:
    """What :func:`implausible_rates` found, on one line: how many rows, the
    first ``shown`` (indicator, service, period end, numerator of
    denominator = rate) and the folders their figures come from (the panel
    keeps no file or row of its own: the quarantine and ``source_files``
    name those)."""
    names = names or {}

    def one(r) -> str:
        low, high = PLAUSIBLE_RATES.get(r.indicator, (0.0, float("inf")))
        figures = f"{_figure(r.numerator)} of {_figure(r.denominator)} = {_figure(r.rate)}"
        if r.indicator in BY_KEY:
            unit = BY_KEY[r.indicator].unit
            figures += unit if unit == "%" else f" {unit}"
        return (f"{r.indicator} {names.get(r.yjs_id, r.yjs_id)} {pd.Timestamp(r.period_end):%Y-%m-%d}: {figures} "
                f"(plausible {low:,g}-{high:,g})")

    folders = []
    for indicator in dict.fromkeys(bad["indicator"]):
        ind = BY_KEY.get(indicator)
        if ind is not None:
            folders += [f"{ind.source}/"] + (["population/"] if ind.family == "poisson" else [])
    rows = [one(r) for r in bad.head(shown).itertuples()]
    more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
    return (f"{len(bad)} implausible row{'s' if len(bad) != 1 else ''}: {'; '.join(rows)}{more}; the figures "
            f"come from {', '.join(dict.fromkeys(folders)) or 'the indicator folders'}: a count in another unit, "
            "a wrong population, or a misread column?")


def _figure(value) -> str:
    """A number as the messages show it: 1,234 or 12.5; none at all is 'none'."""
    if value is None or pd.isna(value):
        return "none"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


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
    cols = ["yjs_id", "indicator", "period_end", "period_months", "numerator", "denominator", "rate"]
    bad = pd.concat(bad)
    return bad[[c for c in cols if c in bad.columns]].drop_duplicates()



# months from an indicator's latest period end to the run's cut-off (as-of minus the lag) after which
# the check warns: FTE and custody are published for the year to March or December some 6-9 months
# on, so the newest is at most ~21 months old at the cut-off; a reoffending cohort is followed for
# 12 months and 6 more for the proven offences, so its newest is ~2 years old. Beyond these, a
# year's release has been missed (a file missing, or its rows all quarantined).
STALE_MONTHS = {"fte": 24, "custody": 24, "reoffending": 36}


def stale_latest_periods(values: pd.DataFrame, cutoff) -> list[str]:
    """One line per indicator whose latest period with a figure ended more
    than :data:`STALE_MONTHS` before ``cutoff``."""
    cutoff = pd.Timestamp(cutoff)
    out = []
    rated = values[values["rate"].notna()]
    for indicator, ends in rated.groupby("indicator")["period_end"]:
        latest = pd.Timestamp(ends.max())
        months = (cutoff.year - latest.year) * 12 + cutoff.month - latest.month
        limit = STALE_MONTHS.get(indicator)
        if limit is not None and months > limit:
            folder = BY_KEY[indicator].source if indicator in BY_KEY else indicator
            out.append(f"{indicator}: its latest period ends {latest:%Y-%m-%d}, {months} months before the "
                       f"cut-off {cutoff:%Y-%m-%d} (a warning beyond {limit}): is a newer {folder}/ file missing, "
                       "or its rows quarantined?")
    return out


def _on_main_grid(v: pd.DataFrame) -> np.ndarray:
    """Which of one indicator's rows are of periods on the grid of its best-covered
    period (the most services; the latest on a tie): of its length, ending
    a whole number of those lengths from it. One service's years ending in
    June among everyone's ending in December, or its 12-month cohort among
    3-month ones, are not a partial release of the latest period: they
    are compared with no national rate (:func:`pipeline.model.panel.fewest_for_national`)
    and set aside from the evidence, while the December years are whole."""
    if "period_months" not in v.columns or v.empty:
        return np.ones(len(v), bool)
    end = to_datetime(v["period_end"])
    length = v["period_months"].astype("int64").clip(lower=1)
    per_period = v.groupby([end.rename("end"), length.rename("length")])["yjs_id"].nunique()
    best_end, best_length = per_period.reset_index().sort_values(["yjs_id", "end"]).iloc[-1][["end", "length"]]
    month_no = end.dt.year * 12 + end.dt.month
    best_no = best_end.year * 12 + best_end.month
    return (length == best_length).to_numpy() & ((month_no - best_no) % best_length == 0).to_numpy()


def latest_period_coverage(values: pd.DataFrame, n_services: int) -> pd.DataFrame:
    """Per indicator, its latest period and the share of services reported
    in it. A suppressed cell counts as reported: small services' figures are
    suppressed in every release, while a partial file leaves services out.
    The latest period on the grid of the indicator's best-covered one
    (:func:`_on_main_grid`), ``on_grid``; and a later one off it, if any
    (``on_grid`` False): a few services' periods ending in other months are
    compared with no national rate and not ranked on, so they are not a
    partial release of the periods that are; ``compared``: whether the
    period has a national rate (and so may be ranked on, whatever its grid)."""
    rows = []
    for key, everything in values.groupby("indicator"):
        grid = _on_main_grid(everything)
        v = everything[grid]
        for on_grid, part in ((True, v), (False, everything[~grid])):
            if part.empty or (not on_grid and part["period_end"].max() <= v["period_end"].max()):
                continue  # (off the grid: only a period later than the grid's latest)
            latest = part[part["period_end"] == part["period_end"].max()]
            reported = latest["yjs_id"].nunique()
            compared = bool(latest["national_rate"].notna().any()) if "national_rate" in latest else True
            rows.append({"indicator": key, "period_end": str(pd.Timestamp(latest["period_end"].iloc[0]).date()),
                         "services_reported": int(reported), "services": int(n_services),
                         "share": reported / n_services if n_services else 0.0, "on_grid": on_grid,
                         "compared": compared})
    return pd.DataFrame(rows, columns=["indicator", "period_end", "services_reported", "services", "share",
                                       "on_grid", "compared"])


def unusable_source(source: str, quarantine: pd.DataFrame, files: pd.DataFrame,
                    services: int | None = None) -> list[str]:
    """A source whose files hold no data rows at all (headers only), or
    most of whose rows were quarantined: more than
    :data:`MAX_QUARANTINED_SHARE` of them and at least
    :data:`MIN_QUARANTINED`, of the rows that could have been used. Either
    way the refresh would rank on the rest as if the source were complete:
    inspections gone make services "never inspected", an indicator gone is
    left out of every score.

    Rows set aside by design (:data:`pipeline.ingest.BY_DESIGN`: a table's
    rows for boys or girls, a merged service's parts beside its total, an
    area's row for one sex beside its persons row, notes under a table) are
    neither faults nor rows to use, so they count on neither side; nor do
    rows for services or areas the lookup does not list
    (:data:`pipeline.ingest.OUTSIDE_LOOKUP`): a lookup of a few services
    reads national files, and a lookup that lost services is the
    dropped-services guard's to judge. But a source none of whose rows could
    be used stops the refresh: for a fault, or for names the lookup does not
    know where it lists :data:`NATIONAL_LOOKUP` services or more (its
    ``services``): every inspection named as the lookup does not name it
    left every service "none on record". A lookup of a few services may
    well find none of them in a national file."""
    if files.empty:
        return []
    names = files["file"].astype(str).tolist()
    read = int(files["rows"].sum())
    if read == 0:
        return [f"{source}/: no data rows in any file ({some_of(names, 5)}: a header only): an export cut short, "
                "or the wrong file?"]
    if quarantine.empty and {"file", "row_number", "problem"} <= set(quarantine.columns):
        return []  # none set aside, so none of the tests below can fail (~0.5-2 ms a source saved)
    rows = quarantine.drop_duplicates(["file", "row_number"])
    problem = rows["problem"].astype(str)
    note = problem.str.contains(re.escape(NOTE_PROBLEM))  # notes under a table: never counted as rows read
    outside = problem.str.contains("|".join(map(re.escape, OUTSIDE_LOOKUP)))
    data = rows[~note]
    if len(data) >= read and (not outside[~note].all() or (services or 0) >= NATIONAL_LOOKUP):  # not one row used
        kinds = problem[~note].str.replace(r"'[^']*'", "'...'", regex=True).value_counts()
        first = data.iloc[0]
        return [f"{source}: none of its {read:,} rows could be used ({some_of([f'{n:,}: {k}' for k, n in kinds.items()], 2)}); "
                f"the first, {first['file']} row {first['row_number']}: {first['problem']}"]
    design = outside | problem.str.contains("|".join(map(re.escape, BY_DESIGN)))
    bad = rows[~design]
    usable = read - int((design & ~note).sum())
    if len(bad) < MIN_QUARANTINED or len(bad) <= MAX_QUARANTINED_SHARE * usable:
        return []
    per_file = bad["file"].value_counts()
    first = bad.iloc[0]
    return [f"{source}: {len(bad):,} of its {usable:,} rows quarantined ({len(bad) / max(usable, 1):.0%}, more "
            f"than {MAX_QUARANTINED_SHARE:.0%}): {some_of([f'{n:,} in {f}' for f, n in per_file.items()], 3)}; "
            f"the first, {first['file']} row {first['row_number']}: {first['problem']}"]


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

def _duplicate_keys_sql(table: str, keys: list[str]) -> str:
    return f"SELECT count(*) FROM (SELECT {', '.join(keys)} FROM {table} GROUP BY ALL HAVING count(*) > 1)"


def _counts_in_one_query(con: duckdb.DuckDBPyConnection, queries: list[str]) -> dict[int, int] | None:
    """The one-number answers of ``queries`` from one query (a row each:
    position -> answer), or None where it fails (a table or view missing or
    broken), for the caller to run them one at a time, each failing as it
    fails."""
    if not queries:
        return {}
    combined = " UNION ALL ".join(f"SELECT {i} AS i, ({sql}) AS n" for i, sql in enumerate(queries))
    try:
        return dict(con.execute(combined).fetchall())
    except duckdb.Error:
        return None


def published_duplicate_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per published table (TABLE_KEYS), how many key values occur more than
    once. One query for all the tables (a row each, in order: ~3 ms where a
    query each took ~6-8 ms, run twice a refresh); where it fails (a table
    missing), one query a table, to fail as each query fails."""
    found = _counts_in_one_query(con, [_duplicate_keys_sql(table, keys) for table, keys in TABLE_KEYS.items()])
    counts = {}
    for i, (table, keys) in enumerate(TABLE_KEYS.items()):
        n = found[i] if found is not None else con.execute(_duplicate_keys_sql(table, keys)).fetchone()[0]
        counts[table] = int(n)
    return counts


def duplicate_key_problems(counts: dict[str, int]) -> list[str]:
    """One sentence per table of :func:`published_duplicate_keys` with keys twice."""
    return [f"{t}: {n} duplicated keys" for t, n in counts.items() if n]


def published_list_problems(con: duckdb.DuckDBPyConnection) -> tuple[int, list[str]]:
    """Rows of the published ``inspection_targets``, and what
    :func:`ranked_list_problems` finds in it against the published services."""
    # the columns the checks read, not all twenty: half the time
    ranked = con.execute(f"SELECT {', '.join(RANKED_LIST_COLUMNS)} FROM inspection_targets").df()
    ids = con.execute("SELECT yjs_id FROM services").df()["yjs_id"]
    return len(ranked), ranked_list_problems(ranked, ids)


def publication_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What the blocking checks on the published file (keys unique, one row
    per service) find in the warehouse at ``con``. The refresh runs them on
    its staging copy before the swap: the checks themselves run after it, on
    the published file, when a failure could no longer keep the last good
    warehouse (they then pass, on the same file)."""
    return duplicate_key_problems(published_duplicate_keys(con)) + published_list_problems(con)[1]


def services_without_la_or_population(services: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Published services with no local authority codes, and with no
    population aged 10-17: none, or 0 (no rate can be made of it either:
    their first-time-entrant and custody rates are NULL)."""
    no_la = services.loc[services["la_codes"].fillna("").str.strip() == "", "yjs_id"].tolist()
    population = pd.to_numeric(services["population_10_17"], errors="coerce")
    no_pop = services.loc[population.isna() | (population <= 0), "yjs_id"].tolist()
    return no_la, no_pop


def view_row_counts(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[str]]:
    """Rows of every (non-internal) view, and one line per view that fails to
    answer. One query for all the views (:func:`_counts_in_one_query`), as
    :func:`published_duplicate_keys`; where it fails, one query a view, each
    failing with its own error."""
    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                      "AND database_name = current_database()").fetchall()]
    queries = ['SELECT count(*) FROM "' + view.replace('"', '""') + '"' for view in views]
    found = _counts_in_one_query(con, queries)
    rows, problems = {}, []
    for i, (view, sql) in enumerate(zip(views, queries)):
        try:
            rows[view] = int(found[i] if found is not None else con.execute(sql).fetchone()[0])
        except duckdb.Error as exc:
            problems.append(f"{view}: {str(exc).splitlines()[0]}")
    return rows, problems
