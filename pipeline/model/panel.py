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

PANEL_COLUMNS = [
    "yjs_id", "indicator", "period_end", "period_months", "numerator", "denominator",
    "rate", "national_rate", "expected", "z_unadjusted", "z_score", "funnel_band", "suppressed",
    "rate_low", "rate_high", "limit_95_low", "limit_95_high", "limit_998_low", "limit_998_high",
]
DISPERSION_COLUMNS = [
    "indicator", "period_end", "period_months", "n_services", "national_rate", "phi", "tau2",
    "adjusted",
]


def indicator_cutoff(as_of: dt.date, lag_months: int) -> pd.Timestamp:
    """The last period end an analyst could have seen on ``as_of``."""
    return pd.Timestamp(as_of) - pd.DateOffset(months=lag_months)


def service_population(services: pd.DataFrame, population: pd.DataFrame, years) -> pd.DataFrame:
    """Population aged 10-17 per service and year.

    Per local authority, the year asked for when published, else the LA's
    latest year available (contract); then summed over the service's LAs.
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
    latest = grid[np.arange(len(las)), len(published) - 1 - np.argmax(seen[:, ::-1], axis=1)]
    wanted = np.array(sorted(set(int(y) for y in years) | set(published.tolist())), dtype=np.int64)
    gaps = not seen.all() or len(wanted) > len(published)
    full = np.repeat(latest[:, None], len(wanted), axis=1).astype(np.float64 if gaps else grid.dtype)
    full[:, np.searchsorted(wanted, published.to_numpy())] = np.where(seen, grid, latest[:, None])
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
    """
    if ind.family == "binomial":
        df = table.rename(columns={"cohort_end": "period_end", "cohort_months": "period_months",
                                   "reoffenders": "numerator", "cohort_size": "denominator"})
    else:
        count_col = {"fte": "fte_count", "custody": "custodial_sentences"}[ind.key]
        df = table.rename(columns={count_col: "numerator"})
        df["year"] = to_datetime(df["period_end"]).dt.year
        df = df.merge(pop, on=["yjs_id", "year"], how="left")
        df = df.rename(columns={"population_10_17": "denominator"})
    df = df[["yjs_id", "period_end", "period_months", "numerator", "denominator", "suppressed"]]
    df = df.assign(suppressed=df["suppressed"].astype(bool) | df["numerator"].isna())
    keys = ["yjs_id", "period_end", "period_months"]
    gb = df.groupby(keys)
    agg = gb[["numerator", "denominator"]].sum(min_count=1)
    agg["suppressed"] = gb["suppressed"].any()
    agg = agg.reset_index()
    agg.loc[agg["suppressed"], "numerator"] = np.nan
    # a zero or missing denominator (an empty cohort) has no rate
    agg.loc[~(agg["denominator"] > 0), "denominator"] = np.nan
    agg["indicator"] = ind.key
    return agg


def _score_indicator(counts: pd.DataFrame, ind: Indicator) -> tuple[pd.DataFrame, list[dict]]:
    """National rate, expected, z-scores, bands, control limits and
    confidence intervals for every period of one indicator, vectorised.

    Each period is compared with its own national rate. z is exact (mid-p,
    ``stats.exact_z``) so small and zero counts are right; over-dispersion
    (phi, tau^2) is estimated per period on the variance-stabilised scale and,
    where phi exceeds its noise level, widens each area's limits by
    ``stats.overdispersion_factor``. The band, the adjusted z and the
    published limits therefore agree by construction.
    """
    keys = ["period_end", "period_months"]
    g = counts.reset_index(drop=True)
    usable = g["numerator"].notna() & (g["denominator"] > 0)
    sums = g[usable].groupby(keys)[["numerator", "denominator"]].sum()
    p0_by_period = (sums["numerator"] / sums["denominator"]).rename("p0")
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
    pop = service_population(services, population, years)
    counts = {}
    for ind in INDICATORS:
        c = _counts(ind, tables[ind.source].copy(), pop)
        c = c[to_datetime(c["period_end"]) <= cutoff]
        if not c.empty:
            counts[ind.key] = c
    total = sum(map(len, counts.values()))
    shared = None  # (indicator, its rows scored elsewhere, the function that waits for them)
    if submit is not None and total >= SHARE_FROM_ROWS:
        largest = max(counts, key=lambda k: len(counts[k]))
        sent = _later_periods(counts[largest], total / 2)
        if sent.any():
            shared = largest, sent, submit(_score_indicator, counts[largest][sent], BY_KEY[largest])
    scored = {}
    for key, c in counts.items():
        if shared is None or key != shared[0]:
            scored[key] = _score_indicator(c, BY_KEY[key])
    if shared is not None:
        key, sent, wait = shared
        c = counts[key]
        here = _score_indicator(c[~sent], BY_KEY[key]) if not sent.all() else None
        scored[key] = _joined(here, wait(), sent)
    panels, disp = [], []
    for key in counts:  # in INDICATORS order
        values, d = scored[key]
        panels.append(values)
        disp += d
    panel = pd.concat(panels, ignore_index=True) if panels else pd.DataFrame(columns=PANEL_COLUMNS)
    panel["period_end"] = to_datetime(panel["period_end"])
    panel = panel[PANEL_COLUMNS].sort_values(["indicator", "period_end", "yjs_id"], ignore_index=True)
    dispersion = pd.DataFrame(disp, columns=DISPERSION_COLUMNS)
    return panel, dispersion


def services_table(services: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The ``services`` table: one row per service with its local authorities
    and its latest population aged 10-17: per service (in order of their
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
    if not population.empty:
        latest_year = int(population["year"].max())
        pop = service_population(services, population, [latest_year])
        pop = pop[pop["year"] == latest_year].set_index("yjs_id")["population_10_17"]
        out["population_10_17"] = out["yjs_id"].map(pop).astype("Int64")
        out["population_year"] = latest_year
    else:
        out["population_10_17"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["population_year"] = pd.NA
    return out
