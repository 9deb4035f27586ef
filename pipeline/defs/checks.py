"""Asset checks, shown on each asset's Checks tab in the UI.

Blocking checks sit on the in-memory assets upstream of ``warehouse``: an
ERROR there skips publication, so a bad month never replaces a good
warehouse. Checks on ``warehouse`` read the published file read-only and gate
the exports; as they run after the swap, the ``warehouse`` asset runs their
blocking rules on its staging copy first (``quality.publication_problems``),
and a failure here after all is one the CLI reports as after publication.
The rules themselves are in ``pipeline.report.quality``.

Checks that read the same inputs run together, one step per group (a
``multi_asset_check``), each still reported under its own name: every step
costs Dagster a start, input loads and events, and the checks on the
published file then open it once. A group runs only the checks selected
(``can_subset``), so each can still be run on its own from the UI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import dagster as dg
import duckdb
import pandas as pd

from pipeline import ingest
from pipeline.defs.metadata import md_table
from pipeline.defs.resources import RefreshSettings
from pipeline.model import panel
from pipeline.publish.warehouse import PublishError, read_only
from pipeline.report import quality as q

SERVICES_MAPPED = "every_service_mapped_to_local_authorities"
UNIQUE_KEYS = "unique_keys"
RATES_PLAUSIBLE = "rates_in_plausible_ranges"
LATEST_PERIOD_COMPLETE = "latest_period_complete"
ONE_ROW_PER_SERVICE = "one_row_per_service"
QUARANTINE_NOT_GROWING = "quarantine_not_growing"
ROWS_USABLE = "most_rows_usable"
LATEST_PERIOD_RECENT = "latest_period_recent"
PUBLISHED_KEYS_UNIQUE = "published_keys_unique"
PUBLISHED_ONE_ROW_PER_SERVICE = "published_one_row_per_service"
PUBLISHED_SERVICES_MAPPED = "published_services_mapped"
PUBLISHED_VIEWS_ANSWER = "published_views_answer"

COMPLETE_WARN, COMPLETE_ERROR = 0.80, 0.50  # share of services with a latest value
SOURCES = ("services", "population", "first_time_entrants", "reoffending", "custody", "inspections")
WARN = dg.AssetCheckSeverity.WARN
# a check's offending rows in the UI: the first 20, numbers as they are
_rows_md = functools.partial(md_table, rows=20, floatfmt="g")


def _result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or ok,
                               metadata=metadata)


def _key(asset: str, name: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(asset), name)


def _run(context, rules: dict[dg.AssetCheckKey, Callable[[], dg.AssetCheckResult]]) -> list[dg.AssetCheckResult]:
    """The selected rules' results, each under its check's asset and name."""
    out = []
    for key, rule in rules.items():
        if key in context.selected_asset_check_keys:
            r = rule()
            out.append(dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=r.passed,
                                           severity=r.severity, description=r.description, metadata=r.metadata))
    return out


# --- the rules on the assets' values ----------------------------------------

def services_mapped(services: ingest.Ingested) -> dg.AssetCheckResult:
    t = services.table
    return _result(q.unmapped_services(t), f"{t['yjs_id'].nunique()} services, {len(t)} LAs")


def indicator_values_unique(indicator_values: pd.DataFrame) -> dg.AssetCheckResult:
    dup = q.duplicate_keys(indicator_values, q.TABLE_KEYS["indicator_values"])
    return dg.AssetCheckResult(passed=dup.empty, metadata={"duplicates": _rows_md(dup)},
                               description=f"{len(dup)} duplicated keys" if len(dup) else "keys unique")


def _names(services: ingest.Ingested | None) -> dict[str, str]:
    t = services.table if services is not None else None
    return {} if t is None or t.empty else t.drop_duplicates("yjs_id").set_index("yjs_id")["yjs_name"].to_dict()


def rates_plausible(indicator_values: pd.DataFrame, services: ingest.Ingested | None = None) -> dg.AssetCheckResult:
    bad = q.implausible_rates(indicator_values)
    return dg.AssetCheckResult(passed=bad.empty, metadata={"rows": _rows_md(bad)},
                               description=q.describe_implausible(bad, _names(services)) if len(bad)
                               else "all plausible")


def latest_period_recent(indicator_values: pd.DataFrame, cutoff) -> dg.AssetCheckResult:
    stale = q.stale_latest_periods(indicator_values, cutoff)
    return dg.AssetCheckResult(passed=not stale, severity=WARN, description="; ".join(stale) or (
        f"every indicator has a period within {min(q.STALE_MONTHS.values())}-{max(q.STALE_MONTHS.values())} "
        f"months of the cut-off {pd.Timestamp(cutoff):%Y-%m-%d}"))


def latest_period_complete(indicator_values: pd.DataFrame, services: ingest.Ingested) -> dg.AssetCheckResult:
    cov = q.latest_period_coverage(indicator_values, services.table["yjs_id"].nunique())
    low = cov[cov["share"] < COMPLETE_WARN]
    # a partial release of the periods ranked on stops publication; a later period off their grid
    # (a few services' years ending in June after everyone's December) is not ranked on: a warning
    # (one compared with a national rate may be ranked on, off the grid or not: it counts as on it)
    ranked = cov["on_grid"] | cov["compared"]
    severity = dg.AssetCheckSeverity.ERROR if (ranked & (cov["share"] < COMPLETE_ERROR)).any() else WARN
    text = "; ".join(f"{r.indicator} {r.period_end}: {r.services_reported} of {r.services} services"
                     + ("" if r.on_grid or r.compared else " (ending off the grid of the periods most services "
                        "report: compared with no national rate, not ranked on)")
                     for r in low.itertuples())
    return dg.AssetCheckResult(passed=low.empty, severity=severity, metadata={"coverage": _rows_md(cov)},
                               description=text or "every latest period is complete")


@functools.lru_cache(maxsize=4)
def _quarantined_per_source(path: str, _inode: int, _size: int, _mtime_ns: int) -> dict[str, int] | None:
    """Rows per source in the quarantine table of the warehouse at ``path``,
    or None when it is not a warehouse of this project (yet). Cached per
    file version (inode, size, mtime: publication swaps a new file in), so
    the quarantine checks read the published file once."""
    try:
        with read_only(path) as con:
            rows = con.execute("SELECT source, count(*) FROM quarantine GROUP BY source").fetchall()
    except (duckdb.Error, PublishError):  # nothing to compare with (the warehouse step says why)
        return None
    return {source: int(n) for source, n in rows}


def _published_quarantine(settings: RefreshSettings, source: str) -> int | None:
    path = settings.warehouse_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    counts = _quarantined_per_source(str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    return None if counts is None else counts.get(source, 0)


def quarantine_not_growing(settings: RefreshSettings, source: str,
                           ingested: ingest.Ingested) -> dg.AssetCheckResult:
    now, before = len(ingested.quarantine), _published_quarantine(settings, source)
    grew = before is not None and now > before
    text = (f"{now} rows quarantined, {before} in the published warehouse" if before is not None
            else f"{now} rows quarantined; no published warehouse to compare with")
    return dg.AssetCheckResult(passed=not grew, severity=WARN, description=text,
                               metadata={"quarantined": now, "published": before if before is not None else -1})


def _quarantine_spec(source: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(QUARANTINE_NOT_GROWING, asset=source, description=(  # a warning: not blocking
        f"Warns (never blocks) when more {source} rows are quarantined than in the published "
        "warehouse, so new rejects are noticed; see the quarantine table for why."))


def rows_usable(source: str, ingested: ingest.Ingested, services: int | None = None) -> dg.AssetCheckResult:
    return _result(q.unusable_source(source, ingested.quarantine, ingested.files, services),
                   f"{int(ingested.files['rows'].sum()):,} rows read, {len(ingested.quarantine):,} quarantined")


def _rows_usable_spec(source: str) -> dg.AssetCheckSpec:
    # the lookup's size says whether a source whose every name it does not know is misnamed
    deps = ["services"] if source != "services" else None
    return dg.AssetCheckSpec(ROWS_USABLE, asset=source, blocking=True, additional_deps=deps, description=(
        f"Stops the refresh when the {source}/ files hold no data rows at all, or when more than half of "
        "its rows (and at least 20) were quarantined, not counting rows set aside by design (rows for boys "
        "or girls, a merged service's parts beside its total, notes) or for services and areas the lookup "
        "does not list: ranking on the rest would pass for a complete source, even on a first publish."))


# --- the checks on the in-memory assets -------------------------------------

@dg.multi_asset_check(name="services_checks", can_subset=True, ins={"services": dg.AssetIn("services")}, specs=[
    dg.AssetCheckSpec(SERVICES_MAPPED, asset="services", blocking=True, description=(
        "Every service has at least one local authority with a valid GSS code; no LA is in two services.")),
    _quarantine_spec("services"),
    _rows_usable_spec("services"),
])
def services_checks(context, settings: RefreshSettings, services: ingest.Ingested) -> Iterator[dg.AssetCheckResult]:
    yield from _run(context, {
        _key("services", SERVICES_MAPPED): lambda: services_mapped(services),
        _key("services", QUARANTINE_NOT_GROWING): lambda: quarantine_not_growing(settings, "services", services),
        _key("services", ROWS_USABLE): lambda: rows_usable("services", services),
    })


@dg.multi_asset_check(name="quarantine_checks", can_subset=True,
                      ins={source: dg.AssetIn(source) for source in SOURCES},
                      specs=[spec(source) for source in SOURCES[1:] for spec in (_quarantine_spec, _rows_usable_spec)])
def quarantine_checks(context, settings: RefreshSettings, services: ingest.Ingested, population: ingest.Ingested,
                      first_time_entrants: ingest.Ingested, reoffending: ingest.Ingested,
                      custody: ingest.Ingested, inspections: ingest.Ingested) -> Iterator[dg.AssetCheckResult]:
    ingested = {"population": population, "first_time_entrants": first_time_entrants,
                "reoffending": reoffending, "custody": custody, "inspections": inspections}
    rules = {}
    for source, value in ingested.items():
        rules[_key(source, QUARANTINE_NOT_GROWING)] = functools.partial(quarantine_not_growing, settings, source, value)
        rules[_key(source, ROWS_USABLE)] = functools.partial(rows_usable, source, value,
                                                             services.table["yjs_id"].nunique())
    yield from _run(context, rules)


@dg.multi_asset_check(
    name="indicator_values_checks", can_subset=True,
    ins={"indicator_values": dg.AssetIn("indicator_values"), "services": dg.AssetIn("services")}, specs=[
        dg.AssetCheckSpec(UNIQUE_KEYS, asset="indicator_values", blocking=True, description=(
            "One row per service x indicator x period.")),
        dg.AssetCheckSpec(RATES_PLAUSIBLE, asset="indicator_values", blocking=True, description=(
            "Rates within believable ranges (FTE 0-5,000 per 100,000; reoffending 0-100%; custody 0-20 "
            "per 1,000); counts not negative; reoffenders not more than the cohort.")),
        dg.AssetCheckSpec(LATEST_PERIOD_COMPLETE, asset="indicator_values", blocking=True,
                          additional_deps=["services"], description=(
            "Most services have a value in each indicator's latest period: a warning below 80%, "
            "an error (publication stopped) below 50%, which means a partial file.")),
        dg.AssetCheckSpec(LATEST_PERIOD_RECENT, asset="indicator_values", description=(
            "Warns (never blocks) when an indicator's latest period ended long before the run's cut-off "
            "(as-of minus the lag): more than 24 months for FTE and custody, 36 for reoffending, "
            "which means a year's release missed.")),
    ])
def indicator_values_checks(context, settings: RefreshSettings, indicator_values: pd.DataFrame,
                            services: ingest.Ingested) -> Iterator[dg.AssetCheckResult]:
    values = indicator_values
    cutoff = panel.indicator_cutoff(settings.as_of_date(), settings.rules().lag_months)
    yield from _run(context, {
        _key("indicator_values", UNIQUE_KEYS): lambda: indicator_values_unique(values),
        _key("indicator_values", RATES_PLAUSIBLE): lambda: rates_plausible(values, services),
        _key("indicator_values", LATEST_PERIOD_COMPLETE): lambda: latest_period_complete(values, services),
        _key("indicator_values", LATEST_PERIOD_RECENT): lambda: latest_period_recent(values, cutoff),
    })


@dg.asset_check(asset="inspection_targets", name=ONE_ROW_PER_SERVICE, blocking=True,
                additional_ins={"services": dg.AssetIn("services")}, description=(
    "Every service ranked exactly once, ranks 1..n, each inside its 90% interval, with reasons."))
def one_row_per_service(inspection_targets: pd.DataFrame, services: ingest.Ingested) -> dg.AssetCheckResult:
    problems = q.ranked_list_problems(inspection_targets, services.table["yjs_id"].unique())
    return _result(problems, f"{len(inspection_targets)} services ranked once each")


# --- the checks on the published file: one read-only connection -------------

def _published_keys_unique(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    counts = q.published_duplicate_keys(con)
    return _result(q.duplicate_key_problems(counts), "every key unique", **counts)


def _published_one_row_per_service(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    rows, problems = q.published_list_problems(con)
    return _result(problems, f"{rows} services ranked once each")


def _published_services_mapped(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    s = con.execute("SELECT yjs_id, la_codes, population_10_17 FROM services").df()
    no_la, no_pop = q.services_without_la_or_population(s)
    problems = ([f"{len(no_la)} services with no local authority: {q.some_of(no_la, 5)}"] if no_la else []) + \
               ([f"{len(no_pop)} services with no population, or 0 (FTE and custody rates need one): "
                 f"{q.some_of(no_pop, 5)}"] if no_pop else [])
    return _result(problems, f"{len(s)} services mapped", without_la=len(no_la), without_population=len(no_pop))


def _published_views_answer(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    rows, problems = q.view_row_counts(con)
    return _result(problems, f"{len(rows)} views answer", **rows)


@dg.multi_asset_check(name="published_warehouse_checks", can_subset=True, specs=[
    dg.AssetCheckSpec(PUBLISHED_KEYS_UNIQUE, asset="warehouse", blocking=True, description=(
        "Each published table has one row per key (services, indicator_values, indicator_dispersion, "
        "indicator_evidence, inspection_targets, ranking_history).")),
    dg.AssetCheckSpec(PUBLISHED_ONE_ROW_PER_SERVICE, asset="warehouse", blocking=True, description=(
        "The published inspection_targets ranks every service in services exactly once.")),
    dg.AssetCheckSpec(PUBLISHED_SERVICES_MAPPED, asset="warehouse", description=(
        "Every published service lists its local authorities (la_codes) and has a population aged 10-17.")),
    dg.AssetCheckSpec(PUBLISHED_VIEWS_ANSWER, asset="warehouse", description=(
        "Every view in the published warehouse (sql/views/) answers a query.")),
])
def published_warehouse_checks(context, settings: RefreshSettings) -> Iterator[dg.AssetCheckResult]:
    with read_only(settings.warehouse_path()) as con:
        results = _run(context, {
            _key("warehouse", PUBLISHED_KEYS_UNIQUE): lambda: _published_keys_unique(con),
            _key("warehouse", PUBLISHED_ONE_ROW_PER_SERVICE): lambda: _published_one_row_per_service(con),
            _key("warehouse", PUBLISHED_SERVICES_MAPPED): lambda: _published_services_mapped(con),
            _key("warehouse", PUBLISHED_VIEWS_ANSWER): lambda: _published_views_answer(con),
        })
    yield from results
