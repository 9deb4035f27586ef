"""The indicator panel: one row per service x indicator x period, with rates,
expected counts, over-dispersion-adjusted z-scores and funnel bands.

This is the ``indicator_values`` table of the contract. The as-of rule lives
here: only periods that ended on or before as_of minus the publication lag
are used, so nothing later can leak into a ranking.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY, INDICATORS, Indicator
from pipeline.model import stats

# the columns and their types (an empty table's too: a list as of a date before any figure
# publishes its numbers as numbers, not as DuckDB's VARCHAR of an untyped column)
PANEL_TYPES = {
    "yjs_id": "object", "indicator": "object", "period_end": "datetime64[ns]", "period_months": "int64",
    **dict.fromkeys(["numerator", "denominator", "rate", "national_rate", "expected", "z_unadjusted", "z_score"],
                    "float64"),
    "funnel_band": "object", "suppressed": "bool",
    **dict.fromkeys(["rate_low", "rate_high", "limit_95_low", "limit_95_high", "limit_998_low", "limit_998_high"],
                    "float64"),
}
PANEL_COLUMNS = list(PANEL_TYPES)
DISPERSION_TYPES = {
    "indicator": "object", "period_end": "datetime64[ns]", "period_months": "int64", "n_services": "int64",
    "national_rate": "float64", "phi": "float64", "tau2": "float64", "adjusted": "bool",
}
DISPERSION_COLUMNS = list(DISPERSION_TYPES)


def typed_empty(types: dict[str, str]) -> pd.DataFrame:
    """A table with no rows whose columns have the given dtypes (a table of
    figures with none still has numeric columns)."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in types.items()})


def indicator_cutoff(as_of, lag_months: int):
    """The last period end an analyst could have seen on ``as_of``: a
    Timestamp for a date, a DatetimeIndex for an array of dates (the
    back-test's months, at once)."""
    offset = pd.DateOffset(months=lag_months)
    return pd.DatetimeIndex(as_of) - offset if np.ndim(as_of) else pd.Timestamp(as_of) - offset


def service_population(services: pd.DataFrame, population: pd.DataFrame, years) -> pd.DataFrame:
    """Population aged 10-17 per service and year.

    Per local authority, the year asked for when published, else the LA's
    latest year published before it (the contract's "latest year
    available", as of that year: a figure of 2013 takes no estimate of
    2025, whichever date the list is as of, so a back-test month's rates
    are those of a list as of that month), else, for a year before its
    first, its earliest (the nearest); then summed over the service's LAs.
    A service with an LA that has no population in any year has none: the
    sum of its other LAs would understate it and overstate its rates (an
    upper-tier file alone gives a unitary's figure but not the districts' of
    the county it is served with). Returns yjs_id, year, population_10_17,
    ordered by service and year.

    Worked on an LA x year grid in numpy (a pivot, merge and group-by on
    frames this small cost more in pandas overhead than in work). The
    figures keep their type (the contract's int64) where every LA has every
    year asked for, else they are float64, as a pivot with gaps gives.
    """
    if population.empty:
        return pd.DataFrame(columns=["yjs_id", "year", "population_10_17"])
    rows = population[population["la_code"].notna() & population["year"].notna()]
    la_of_row, las = pd.factorize(rows["la_code"], sort=True)
    year_of_row, published = pd.factorize(rows["year"], sort=True)
    values = rows["population_10_17"].to_numpy()
    if values.dtype.kind == "f":
        values = np.nan_to_num(values, nan=0.0)  # a missing figure adds nothing, as in a sum
    grid = np.zeros((len(las), len(published)), values.dtype)
    np.add.at(grid, (la_of_row, year_of_row), values)  # an LA's rows of one year summed
    seen = np.zeros(grid.shape, bool)
    seen[la_of_row, year_of_row] = True
    wanted = np.array(sorted(set(int(y) for y in years) | set(published.tolist())), dtype=np.int64)
    gaps = not seen.all() or len(wanted) > len(published)
    # each LA and year wanted: the column of the year itself where published, else of the LA's
    # latest year before it, else of its earliest (every LA here has a year)
    at = np.full((len(las), len(wanted)), -1, np.intp)
    columns = np.searchsorted(wanted, published.to_numpy())
    at[:, columns] = np.where(seen, np.arange(len(published)), -1)
    at = np.maximum.accumulate(at, axis=1)
    at = np.where(at < 0, np.argmax(seen, axis=1)[:, None], at)
    full = np.take_along_axis(grid, at, axis=1).astype(np.float64 if gaps else grid.dtype)
    # each service's LAs (each once); a service with an LA outside the grid has none
    service_of_row, ids = pd.factorize(services["yjs_id"], sort=True)
    la_of_service_row = las.get_indexer(services["la_code"])
    named = service_of_row >= 0
    incomplete = np.zeros(len(ids), bool)
    incomplete[service_of_row[named & (la_of_service_row < 0)]] = True
    known = named & (la_of_service_row >= 0)
    pairs = np.unique(service_of_row[known] * len(las) + la_of_service_row[known])
    service, la = np.divmod(pairs, len(las))
    keep = ~incomplete[service]
    totals = np.zeros((len(ids), len(wanted)), full.dtype)
    np.add.at(totals, service[keep], full[la[keep]])
    listed = np.unique(service[keep])
    return pd.DataFrame({"yjs_id": np.repeat(ids.to_numpy()[listed], len(wanted)),
                         "year": np.tile(wanted, len(listed)),
                         "population_10_17": totals[listed].ravel()})


def _counts(ind: Indicator, table: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """Numerator and denominator per service and period for one indicator.

    Rows of one service and period are summed (a merged service reported by
    its former parts); if any part is suppressed the total is suppressed.
    Returns yjs_id, period_end, period_months, numerator, denominator,
    suppressed and indicator, one row per service and period in key order
    (rows with a missing key left out); a suppressed total has no numerator,
    a zero or missing denominator (an empty cohort) none either.

    Grouped in numpy, as a pandas group-by would (sums of what is given, NaN
    where nothing is; the figures keep their type unless a missing value is
    set in them), but without its overhead on these small frames. A rate's
    denominator is its service's population in the period's year (``pop``,
    from :func:`service_population`). ``table`` is not changed.
    """
    if ind.family == "binomial":
        ends, months = table["cohort_end"], table["cohort_months"]
        numerator, denominator = table["reoffenders"].to_numpy(), table["cohort_size"].to_numpy()
    else:
        ends, months = table["period_end"], table["period_months"]
        numerator = table[{"fte": "fte_count", "custody": "custodial_sentences"}[ind.key]].to_numpy()
        denominator = _population_of(table["yjs_id"], to_datetime(ends).dt.year, pop)
    suppressed = table["suppressed"].astype(bool).to_numpy() | pd.isna(numerator)
    service, ids = pd.factorize(table["yjs_id"], sort=True)
    end, end_values = pd.factorize(ends, sort=True)
    month, month_values = pd.factorize(months, sort=True)
    keyed = np.flatnonzero((service >= 0) & (end >= 0) & (month >= 0))  # a missing key: in no group
    key = (service[keyed] * len(end_values) + end[keyed]) * len(month_values) + month[keyed]
    groups, group = np.unique(key, return_inverse=True)  # in key order, as a sorted group-by
    service, rest = np.divmod(groups, len(end_values) * len(month_values))
    end, month = np.divmod(rest, len(month_values))
    suppressed = np.bincount(group, weights=suppressed[keyed], minlength=len(groups)) > 0
    numerator = _missing_where(_group_sum(numerator[keyed], group, len(groups)), suppressed)
    denominator = _group_sum(denominator[keyed], group, len(groups))
    # a zero or missing denominator (an empty cohort) has no rate
    denominator = _missing_where(denominator, ~_positive(denominator))
    return pd.DataFrame({"yjs_id": ids.to_numpy()[service], "period_end": end_values[end],
                         "period_months": month_values[month], "numerator": numerator,
                         "denominator": denominator, "suppressed": suppressed, "indicator": ind.key})


def _positive(values: np.ndarray) -> np.ndarray:
    """``values > 0``, False where missing (also in an object column)."""
    if values.dtype == object:
        return (pd.Series(values) > 0).to_numpy()
    with np.errstate(invalid="ignore"):
        return values > 0


def _missing_where(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``values`` with NaN where ``missing``, as pandas' ``.loc[missing] =
    NaN`` on a column gives: a column that cannot hold NaN (integers)
    becomes float64 whenever it has rows, even where none is set."""
    if len(values) and values.dtype.kind in "iub":
        values = values.astype(np.float64)
    if missing.any():
        values = values.copy()
        values[missing] = np.nan
    return values


def _population_of(services: pd.Series, years: pd.Series, pop: pd.DataFrame) -> np.ndarray:
    """Each row's service's population in its year (``pop`` holds one row per
    service and year), NaN where there is none, as a left merge gives: in
    ``pop``'s type if every row has one, else float64."""
    ids, known = pd.factorize(pd.concat([pop["yjs_id"], services], ignore_index=True))
    ids = ids + 1.0  # 0 for a missing id, which a merge matches with a missing id
    span = len(known) + 1  # a key per service and year: id + span x year
    at = pd.Index(ids[:len(pop)] + span * pop["year"].to_numpy(dtype=float)).get_indexer(
        ids[len(pop):] + span * years.to_numpy(dtype=float, na_value=np.nan))
    values = pop["population_10_17"].to_numpy()
    if (at >= 0).all():
        return values[at]
    out = np.full(len(at), np.nan, dtype=object if values.dtype == object else np.float64)
    out[at >= 0] = values[at[at >= 0]]
    return out


def _group_sum(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Each group's sum of its values given (a missing one adds nothing), NaN
    where none is given: a group-by's ``sum(min_count=1)``, in the values'
    type unless a group has none. Whole counts add up exactly either way."""
    if values.dtype == object:  # no population at all: its empty column's type
        return pd.Series(values).groupby(group).sum(min_count=1).reindex(range(groups)).to_numpy()
    if values.dtype.kind != "f":
        out = np.zeros(groups, values.dtype)
        np.add.at(out, group, values)
        return out
    given = ~np.isnan(values)
    out = np.bincount(group, weights=np.where(given, values, 0.0), minlength=groups)
    return np.where(np.bincount(group, weights=given, minlength=groups) > 0, out, np.nan)


# A period is compared with a national rate only if it holds at least this
# share of the services of the indicator's best-covered period up to it.
NATIONAL_SHARE = 0.5
MIN_NATIONAL_SERVICES = 2  # and never fewer: one service compared with itself is always "within"


def fewest_for_national(counts: pd.DataFrame) -> pd.Series:
    """Per period of one indicator (period_end, period_months), the fewest
    services with a count it needs for a national rate: :data:`NATIONAL_SHARE`
    of the most any of its periods ending by then has (of any length), and
    at least :data:`MIN_NATIONAL_SERVICES`. A
    period of a few services, one service's years ending in June among
    everyone's ending in December, or its 12-month cohort among everyone's
    3-month ones, has no national figure: its "national" rate would be its
    own (z 0, within the limits) and its dispersion that of one service.
    Such rows keep their rates, with no comparison. Only periods up to each
    count, so a panel as of an earlier month (the back-test's) compares
    what a refresh as of then compared: early years fewer services reported
    are not set aside for the services that came later."""
    usable = counts["numerator"].notna() & (counts["denominator"] > 0)
    per_period = counts[usable].groupby(["period_end", "period_months"]).size()
    if per_period.empty:
        return per_period.astype(float)
    by_end = per_period.groupby(level="period_end").max().cummax()
    fewest = NATIONAL_SHARE * by_end.reindex(per_period.index.get_level_values("period_end")).to_numpy()
    return pd.Series(np.maximum(fewest, MIN_NATIONAL_SERVICES), index=per_period.index, dtype=float)


def _score_indicator(counts: pd.DataFrame, ind: Indicator, fewest: pd.Series) -> tuple[pd.DataFrame, list[dict]]:
    """National rate, expected, z-scores, bands, control limits and
    confidence intervals for every period of one indicator, vectorised.

    Each period is compared with its own national rate, if it has at least
    ``fewest`` services with a count (per period, :func:`fewest_for_national`
    of the indicator's whole table: a part scored elsewhere is given it).
    z is exact (mid-p,
    ``stats.exact_z``) so small and zero counts are right; over-dispersion
    (phi, tau^2) is estimated per period on the variance-stabilised scale and,
    where phi exceeds its noise level, widens each area's limits by
    ``stats.overdispersion_factor``. The band, the adjusted z and the
    published limits therefore agree by construction.
    """
    keys = ["period_end", "period_months"]
    g = counts.reset_index(drop=True)
    usable = g["numerator"].notna() & (g["denominator"] > 0)
    sums = g[usable].groupby(keys)[["numerator", "denominator"]].agg(["sum", "size"])
    p0_by_period = (sums[("numerator", "sum")] / sums[("denominator", "sum")]).where(
        sums[("numerator", "size")] >= fewest.reindex(sums.index)).rename("p0")
    p0 = g.join(p0_by_period, on=keys)["p0"].to_numpy()
    m = ind.multiplier
    g["rate"] = g["numerator"] / g["denominator"] * m
    g["national_rate"] = p0 * m
    g["expected"] = p0 * g["denominator"]
    scale = (g["expected"] if ind.family == "poisson" else g["denominator"]).to_numpy()
    y, target, se = stats.transformed(g["numerator"], scale, p0, ind.family)
    periods = g.groupby(keys).indices
    period = np.full(len(g), len(periods))  # a row without a period (none in practice) is in none
    for i, idx in enumerate(periods.values()):
        period[idx] = i
    d = stats.dispersions(y, target, se, period, len(periods) + 1)  # every period's at once
    tau2 = d["tau2"][period] * (period < len(periods))
    dispersion = [{"indicator": ind.key, "period_end": period_end, "period_months": months,
                   "n_services": int(d["n_services"][i]), "phi": float(d["phi"][i]),
                   "tau2": float(d["tau2"][i]), "adjusted": bool(d["adjusted"][i]),
                   "national_rate": p0_by_period.get((period_end, months), np.nan) * m}
                  for i, (period_end, months) in enumerate(periods)]
    factor = stats.overdispersion_factor(se, tau2)
    g["z_unadjusted"] = stats.exact_z(g["numerator"], scale, p0, ind.family)
    g["z_score"] = g["z_unadjusted"] / factor
    g["funnel_band"] = stats.funnel_band(g["z_score"])
    for name, z in (("95", stats.Z95), ("998", stats.Z998)):
        lo, hi = stats.exact_limits(g["denominator"], p0, ind.family, z * factor)
        g[f"limit_{name}_low"], g[f"limit_{name}_high"] = lo * m, hi * m
    lo, hi = stats.rate_interval(g["numerator"], g["denominator"], ind.family)
    g["rate_low"], g["rate_high"] = lo * m, hi * m
    return g, dispersion


# A panel this large is shared with the model worker (here and in the
# back-test's rankings); a smaller one is cheaper to process here alone than
# to send.
SHARE_FROM_ROWS = 50_000


def _later_periods(counts: pd.DataFrame, rows: float) -> np.ndarray:
    """Which rows of one indicator's ``counts`` are in its latest periods
    (whole period ends, from the latest back) that together hold at most
    ``rows`` rows; every row if there are that few; at least the latest."""
    if len(counts) <= rows:
        return np.ones(len(counts), bool)
    ends = to_datetime(counts["period_end"]).to_numpy()
    unique, n = np.unique(ends, return_counts=True)
    later = np.cumsum(n[::-1])  # rows in the last 1, 2, ... period ends
    k = max(1, int(np.searchsorted(later, rows, side="right")))
    return ends >= unique[-k]


def _joined(here, there, sent: np.ndarray):
    """One indicator's scored rows and dispersion from its earlier periods
    (``here``; None if none) and later ones (``there``; rows ``sent``), in
    the order and with the dispersion rows that scoring it whole gives."""
    if here is None:
        return there
    values = pd.concat([here[0], there[0]], ignore_index=True)
    values.index = np.r_[np.flatnonzero(~sent), np.flatnonzero(sent)]
    return values.sort_index(), here[1] + there[1]


def build_panel(tables: dict[str, pd.DataFrame], services: pd.DataFrame,
                population: pd.DataFrame, as_of: dt.date, lag_months: int, submit=None):
    """``indicator_values`` and ``indicator_dispersion`` as of ``as_of``.

    ``tables`` maps each indicator's source name to its ingested table.
    The indicators are scored independently: ``submit(fn, *args)``, if
    given, starts ``fn(*args)`` elsewhere (the model worker) and returns a
    function that waits for its result; with SHARE_FROM_ROWS rows or more,
    about half the rows are then scored there while this process scores the
    rest: the largest indicator, or its later periods where it is more than
    half (each period is scored on its own). The result is the same to the
    last bit either way (tested).
    """
    cutoff = indicator_cutoff(as_of, lag_months)
    years = set()
    for ind in INDICATORS:
        t = tables[ind.source]
        col = "cohort_end" if ind.family == "binomial" else "period_end"
        years |= set(to_datetime(t[col]).dt.year.dropna().astype(int))
    # a period with no estimate of its own year takes one of an earlier year (service_population):
    # none published after the as-of date, unless there is none before it at all
    pop = service_population(services, population, years)
    counts = {}
    for ind in INDICATORS:
        c = _counts(ind, tables[ind.source], pop)
        c = c[to_datetime(c["period_end"]) <= cutoff]
        if not c.empty:
            counts[ind.key] = c
    fewest = {key: fewest_for_national(c) for key, c in counts.items()}  # of each whole table, once
    total = sum(map(len, counts.values()))
    shared = None  # (indicator, its rows scored elsewhere, the function that waits for them)
    if submit is not None and total >= SHARE_FROM_ROWS:
        largest = max(counts, key=lambda k: len(counts[k]))
        sent = _later_periods(counts[largest], total / 2)
        if sent.any():
            shared = largest, sent, submit(_score_indicator, counts[largest][sent], BY_KEY[largest],
                                           fewest[largest])
    scored = {}
    for key, c in counts.items():
        if shared is None or key != shared[0]:
            scored[key] = _score_indicator(c, BY_KEY[key], fewest[key])
    if shared is not None:
        key, sent, wait = shared
        c = counts[key]
        here = _score_indicator(c[~sent], BY_KEY[key], fewest[key]) if not sent.all() else None
        scored[key] = _joined(here, wait(), sent)
    panels, disp = [], []
    for key in counts:  # in INDICATORS order
        values, d = scored[key]
        panels.append(values)
        disp += d
    panel = pd.concat(panels, ignore_index=True) if panels else typed_empty(PANEL_TYPES)
    panel["period_end"] = to_datetime(panel["period_end"])
    panel = panel[PANEL_COLUMNS].sort_values(["indicator", "period_end", "yjs_id"], ignore_index=True)
    dispersion = pd.DataFrame(disp, columns=DISPERSION_COLUMNS) if disp else typed_empty(DISPERSION_TYPES)
    return panel, dispersion


def _population_years(services: pd.DataFrame, population: pd.DataFrame, ids: pd.Series) -> pd.Series:
    """For each service in ``ids``, the year its latest population is of:
    each of its LAs' latest year published (``service_population``), the
    earliest of them where they differ (a figure partly that old)."""
    la_year = population.groupby("la_code")["year"].max()  # (a missing code or year: in no group, no max)
    year = services.assign(year=services["la_code"].map(la_year)).groupby("yjs_id")["year"].min()
    return ids.map(year)


def population_as_of(population: pd.DataFrame, year: int | None) -> pd.DataFrame:
    """Each LA's rows of one year: its latest up to ``year`` (a list as of
    then shows no later estimate), else, where it has none that early, its
    earliest (the nearest); None: its latest."""
    rows = population[population["la_code"].notna() & population["year"].notna()]
    years = rows["year"].astype("int64")
    latest = years.groupby(rows["la_code"]).max()
    if year is not None:
        latest = years[years <= year].groupby(rows["la_code"]).max().reindex(latest.index).fillna(
            years.groupby(rows["la_code"]).min())
    return rows[years.to_numpy() == rows["la_code"].map(latest).to_numpy()]


def estimate_year(as_of: dt.date) -> int:
    """The year of the latest mid-year population estimate dated on or
    before ``as_of``: an estimate is of 30 June of its year, so a list as of
    15 January 2025 shows mid-2024's at the latest, not mid-2025's."""
    return as_of.year if (as_of.month, as_of.day) >= (6, 30) else as_of.year - 1


def services_table(services: pd.DataFrame, population: pd.DataFrame, as_of: dt.date | None = None) -> pd.DataFrame:
    """The ``services`` table: one row per service with its local authorities
    and its latest population aged 10-17, as of ``as_of`` (``population_as_of``
    the year of the latest estimate dated by then, :func:`estimate_year`), and the year it is of (``_population_years``; NULL where the
    population is): per service (in order of their
    ids), the first name, country and region given (in order of LA code;
    None where none is) and its LA codes in order, comma-separated. Grouped
    in numpy: the text columns are few and short, a pandas group-by's
    overhead is most of its cost."""
    rows = services.sort_values("la_code")
    service, ids = pd.factorize(rows["yjs_id"], sort=True)
    named = np.flatnonzero(service >= 0)
    out = pd.DataFrame({"yjs_id": ids.to_numpy()})
    for column in ("yjs_name", "country", "region"):
        values = rows[column].to_numpy()
        given = named[pd.notna(values[named])]
        groups, first = np.unique(service[given], return_index=True)  # each service's first given
        out[column] = np.full(len(ids), None, dtype=object)
        out.loc[groups, column] = values[given[first]]
    codes = [[] for _ in range(len(ids))]
    for i, code in zip(service[named].tolist(), rows["la_code"].to_numpy()[named].tolist()):
        codes[i].append(code)
    out["la_codes"] = [",".join(c) for c in codes]
    current = population_as_of(population, estimate_year(as_of) if as_of is not None else None)
    if not current.empty:
        latest_year = int(current["year"].max())  # each LA has one year: the sum of each's (service_population)
        pop = service_population(services, current, [latest_year])
        pop = pop[pop["year"] == latest_year].set_index("yjs_id")["population_10_17"]
        out["population_10_17"] = out["yjs_id"].map(pop).astype("Int64")
        out["population_year"] = _population_years(services, current, out["yjs_id"]).where(
            out["population_10_17"].notna()).astype("Int64")
    else:
        out["population_10_17"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["population_year"] = pd.NA
    return out
