"""Asset checks, shown on each asset's Checks tab in the UI.

Blocking checks sit on the in-memory assets upstream of ``warehouse``: an
ERROR there skips publication, so a bad month never replaces a good
warehouse. Checks on ``warehouse`` read the published file read-only and gate
the exports. The rules themselves are in ``pipeline.report.quality``.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd

from pipeline import ingest
from pipeline.defs.resources import RefreshSettings
from pipeline.report import quality as q

SERVICES_MAPPED = "every_service_mapped_to_local_authorities"
UNIQUE_KEYS = "unique_keys"
RATES_PLAUSIBLE = "rates_in_plausible_ranges"
LATEST_PERIOD_COMPLETE = "latest_period_complete"
ONE_ROW_PER_SERVICE = "one_row_per_service"
QUARANTINE_NOT_GROWING = "quarantine_not_growing"
PUBLISHED_KEYS_UNIQUE = "published_keys_unique"
PUBLISHED_ONE_ROW_PER_SERVICE = "published_one_row_per_service"
PUBLISHED_SERVICES_MAPPED = "published_services_mapped"
PUBLISHED_VIEWS_ANSWER = "published_views_answer"

COMPLETE_WARN, COMPLETE_ERROR = 0.80, 0.50  # share of services with a latest value
SOURCES = ("services", "population", "first_time_entrants", "reoffending", "custody", "inspections")
WARN = dg.AssetCheckSeverity.WARN


def _md(df: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(20).to_markdown(index=False) if len(df) else "none")


def _result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or ok,
                               metadata=metadata)


@dg.asset_check(asset="services", name=SERVICES_MAPPED, blocking=True, description=(
    "Every service has at least one local authority with a valid GSS code; no LA is in two services."))
def services_mapped(services: ingest.Ingested) -> dg.AssetCheckResult:
    t = services.table
    return _result(q.unmapped_services(t), f"{t['yjs_id'].nunique()} services, {len(t)} LAs")


@dg.asset_check(asset="indicator_values", name=UNIQUE_KEYS, blocking=True, description=(
    "One row per service x indicator x period."))
def indicator_values_unique(indicator_values: pd.DataFrame) -> dg.AssetCheckResult:
    dup = q.duplicate_keys(indicator_values, q.TABLE_KEYS["indicator_values"])
    return dg.AssetCheckResult(passed=dup.empty, metadata={"duplicates": _md(dup)},
                               description=f"{len(dup)} duplicated keys" if len(dup) else "keys unique")


@dg.asset_check(asset="indicator_values", name=RATES_PLAUSIBLE, blocking=True, description=(
    "Rates within believable ranges (FTE 0-5,000 per 100,000; reoffending 0-100%; custody 0-20 "
    "per 1,000); counts not negative; reoffenders not more than the cohort."))
def rates_plausible(indicator_values: pd.DataFrame) -> dg.AssetCheckResult:
    bad = q.implausible_rates(indicator_values)
    return dg.AssetCheckResult(passed=bad.empty, metadata={"rows": _md(bad)},
                               description=f"{len(bad)} implausible rows" if len(bad) else "all plausible")


@dg.asset_check(asset="indicator_values", name=LATEST_PERIOD_COMPLETE, blocking=True,
                additional_ins={"services": dg.AssetIn("services")}, description=(
    "Most services have a value in each indicator's latest period: a warning below 80%, "
    "an error (publication stopped) below 50%, which means a partial file."))
def latest_period_complete(indicator_values: pd.DataFrame, services: ingest.Ingested) -> dg.AssetCheckResult:
    cov = q.latest_period_coverage(indicator_values, services.table["yjs_id"].nunique())
    low = cov[cov["share"] < COMPLETE_WARN]
    severity = dg.AssetCheckSeverity.ERROR if (cov["share"] < COMPLETE_ERROR).any() else WARN
    text = "; ".join(f"{r.indicator} {r.period_end}: {r.services_reported} of {r.services} services"
                     for r in low.itertuples())
    return dg.AssetCheckResult(passed=low.empty, severity=severity, metadata={"coverage": _md(cov)},
                               description=text or "every latest period is complete")


@dg.asset_check(asset="inspection_targets", name=ONE_ROW_PER_SERVICE, blocking=True,
                additional_ins={"services": dg.AssetIn("services")}, description=(
    "Every service ranked exactly once, ranks 1..n, each inside its 90% interval, with reasons."))
def one_row_per_service(inspection_targets: pd.DataFrame, services: ingest.Ingested) -> dg.AssetCheckResult:
    problems = q.ranked_list_problems(inspection_targets, services.table["yjs_id"].unique())
    return _result(problems, f"{len(inspection_targets)} services ranked once each")


def _published_quarantine(settings: RefreshSettings, source: str) -> int | None:
    path = settings.warehouse_path()
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute("SELECT count(*) FROM quarantine WHERE source = ?", [source]).fetchone()[0]
    except duckdb.Error:  # not a warehouse of this project (yet): nothing to compare with
        return None


def _quarantine_check(source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=source, name=QUARANTINE_NOT_GROWING, blocking=True, description=(
        f"Warns (never blocks) when more {source} rows are quarantined than in the published "
        "warehouse, so new rejects are noticed; see the quarantine table for why."))
    def _check(settings: RefreshSettings, ingested: ingest.Ingested) -> dg.AssetCheckResult:
        now, before = len(ingested.quarantine), _published_quarantine(settings, source)
        grew = before is not None and now > before
        text = (f"{now} rows quarantined, {before} in the published warehouse" if before is not None
                else f"{now} rows quarantined; no published warehouse to compare with")
        return dg.AssetCheckResult(passed=not grew, severity=WARN, description=text,
                                   metadata={"quarantined": now, "published": before if before is not None else -1})
    return _check


quarantine_checks = [_quarantine_check(source) for source in SOURCES]


def _published(settings: RefreshSettings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        return con.execute(sql).df()


@dg.asset_check(asset="warehouse", name=PUBLISHED_KEYS_UNIQUE, blocking=True, description=(
    "Each published table has one row per key (services, indicator_values, indicator_dispersion, "
    "indicator_evidence, inspection_targets, ranking_history)."))
def published_keys_unique(settings: RefreshSettings) -> dg.AssetCheckResult:
    counts = {}
    for table, keys in q.TABLE_KEYS.items():
        cols = ", ".join(keys)
        counts[table] = int(_published(settings, f"SELECT count(*) AS n FROM (SELECT {cols} FROM {table} "
                                                 f"GROUP BY ALL HAVING count(*) > 1)")["n"].iloc[0])
    problems = [f"{t}: {n} duplicated keys" for t, n in counts.items() if n]
    return _result(problems, "every key unique", **{t: n for t, n in counts.items()})


@dg.asset_check(asset="warehouse", name=PUBLISHED_ONE_ROW_PER_SERVICE, blocking=True, description=(
    "The published inspection_targets ranks every service in services exactly once."))
def published_one_row_per_service(settings: RefreshSettings) -> dg.AssetCheckResult:
    ranked = _published(settings, "SELECT * FROM inspection_targets")
    ids = _published(settings, "SELECT yjs_id FROM services")["yjs_id"]
    return _result(q.ranked_list_problems(ranked, ids), f"{len(ranked)} services ranked once each")


@dg.asset_check(asset="warehouse", name=PUBLISHED_SERVICES_MAPPED, description=(
    "Every published service lists its local authorities (la_codes) and has a population aged 10-17."))
def published_services_mapped(settings: RefreshSettings) -> dg.AssetCheckResult:
    s = _published(settings, "SELECT yjs_id, la_codes, population_10_17 FROM services")
    no_la = s.loc[s["la_codes"].fillna("").str.strip() == "", "yjs_id"].tolist()
    no_pop = s.loc[s["population_10_17"].isna(), "yjs_id"].tolist()
    problems = ([f"no local authority: {', '.join(no_la[:5])}"] if no_la else []) + \
               ([f"no population: {', '.join(no_pop[:5])}"] if no_pop else [])
    return _result(problems, f"{len(s)} services mapped", without_la=len(no_la), without_population=len(no_pop))


@dg.asset_check(asset="warehouse", name=PUBLISHED_VIEWS_ANSWER, description=(
    "Every view in the published warehouse (sql/views/) answers a query."))
def published_views_answer(settings: RefreshSettings) -> dg.AssetCheckResult:
    views = _published(settings, "SELECT view_name FROM duckdb_views() WHERE NOT internal")["view_name"]
    problems, rows = [], {}
    for view in views:
        try:
            rows[view] = int(_published(settings, f'SELECT count(*) AS n FROM "{view}"')["n"].iloc[0])
        except duckdb.Error as exc:
            problems.append(f"{view}: {str(exc).splitlines()[0]}")
    return _result(problems, f"{len(rows)} views answer", **rows)
