"""Plausibility guards: stop a refresh whose results no real month could produce.

Row-level checks in the readers catch a bad cell; they cannot see a whole
file in the wrong unit (rates per 1,000 given as counts, counts in
thousands) or a services lookup that lost a third of its rows. Those show
at the national level, so before publishing the refresh compares its
results with the published warehouse and with what the indicators have ever
been, and stops (:class:`GuardError`, one line saying what changed) rather
than publish a wrong list that looks right:

- a national rate moved by more than ``max_national_rate_factor`` (either
  way) since the published warehouse, for the same indicator and period, or
  between each side's latest period when they share none; or an indicator
  published before has no rate at all now (every row quarantined). Only the
  published periods this run could see count (those ending by its cut-off,
  as-of date minus the lag): a run as of an earlier date than the published
  one, before any period ended, has lost nothing;
- a national rate outside :data:`PLAUSIBLE_NATIONAL` (checked even on a first
  refresh: England and Wales' published figures 2007-2024 lie well inside);
- a service-period whose count exceeds 10% of its population aged 10-17 in a
  year (real rates are below 1.5%): counts in the wrong unit;
- more than ``max_services_dropped_share`` of the published services gone
  from ``services`` or ``inspection_targets``.

A genuine change (a reorganisation of services) is let through by raising
the limit for one run: factor 0 or share 1 switches a check off.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY, format_rate
from pipeline.report.quality import some_of
from pipeline.settings import Limits  # noqa: F401  (the guards' settings, re-exported)

# indicator -> (lowest, highest) national rate any real year could give, in its unit.
# FTE: 1,900 per 100,000 in 2007 down to ~140 in 2023; custody: ~1.0 per 1,000 in
# 2008 down to ~0.08; proven reoffending: 33-43% (YJB/MoJ Youth Justice Statistics).
PLAUSIBLE_NATIONAL = {"fte": (20.0, 5_000.0), "custody": (0.005, 10.0), "reoffending": (5.0, 90.0)}
MAX_YEARLY_SHARE = 0.10  # of the population aged 10-17, for the count indicators
SHOWN = 3  # services named in a message


class GuardError(RuntimeError):
    """The refresh stopped before publishing; the published warehouse is untouched."""


def check_refresh(new: dict[str, pd.DataFrame], published: dict[str, pd.DataFrame | None],
                  limits: Limits, cutoff=None) -> None:
    """Raise :class:`GuardError` naming every implausible change, else
    return. ``cutoff``: the last period end this run could use, if known."""
    problems = implausible_national_rates(new["indicator_dispersion"])
    problems += implausible_service_counts(new["indicator_values"])
    if limits.max_national_rate_factor:
        problems += national_rate_changes(new["indicator_dispersion"],
                                          published.get("indicator_dispersion"),
                                          limits.max_national_rate_factor, cutoff)
    for table in ("services", "inspection_targets"):
        problems += dropped_services(table, new[table], published.get(table),
                                     limits.max_services_dropped_share)
    if problems:
        raise GuardError("refresh stopped before publishing, the published warehouse is "
                         "unchanged: " + "; ".join(problems))


def _period(row) -> str:
    return f"the {int(row.period_months)} months to {pd.Timestamp(row.period_end):%Y-%m-%d}"


def implausible_national_rates(dispersion: pd.DataFrame) -> list[str]:
    """One line per indicator with national rates outside what any real year gave."""
    out = []
    for indicator, group in dispersion.groupby("indicator", sort=True):
        low, high = PLAUSIBLE_NATIONAL.get(indicator, (0, math.inf))
        rate = group["national_rate"]
        bad = group[np.isfinite(rate) & ((rate < low) | (rate > high))].sort_values("period_end")
        if len(bad):
            last = bad.iloc[-1]
            out.append(f"national {indicator} rate outside the plausible {low:g}-{high:g} in "
                       f"{len(bad)} periods (e.g. {format_rate(indicator, last.national_rate)} for "
                       f"{_period(last)}): are the counts in another unit (rates, thousands)?")
    return out


def implausible_service_counts(values: pd.DataFrame) -> list[str]:
    out = []
    for key, ind in BY_KEY.items():
        if ind.family != "poisson":
            continue
        v = values[(values["indicator"] == key) & (values["denominator"] > 0)]
        yearly = v["numerator"] / v["denominator"] * 12 / v["period_months"]
        bad = v[yearly > MAX_YEARLY_SHARE]
        if len(bad):
            first = bad.iloc[0]
            out.append(f"{key}: {len(bad)} service-periods count more than {MAX_YEARLY_SHARE:.0%} of "
                       f"the population aged 10-17 in a year (e.g. {first.yjs_id}, {_period(first)}: "
                       f"{first.numerator:,.0f} of {first.denominator:,.0f}): rates or thousands "
                       "given as counts?")
    return out


def national_rate_changes(new: pd.DataFrame, old: pd.DataFrame | None, factor: float,
                          cutoff=None) -> list[str]:
    """The largest move per indicator beyond ``factor``, against the published
    rates of the periods ending by ``cutoff`` (all, without one)."""
    if old is not None and cutoff is not None:
        old = old[to_datetime(old["period_end"]) <= pd.Timestamp(cutoff)]
    if old is None or old.empty:
        return []
    out = [f"no national {ind} rate any more (the published warehouse has "
           f"{(old['indicator'] == ind).sum()} periods): are all its rows quarantined, or its files missing?"
           for ind in sorted(set(old["indicator"]) - set(new["indicator"]))]
    keys = ["indicator", "period_end", "period_months"]
    new, old = (d.assign(period_end=to_datetime(d["period_end"])) for d in (new, old))
    pairs = new[keys + ["national_rate"]].merge(old[keys + ["national_rate"]], on=keys,
                                                suffixes=("", "_published"))
    for indicator in set(new["indicator"]) - set(pairs["indicator"]):  # no common period
        n, o = (d[d["indicator"] == indicator].sort_values("period_end") for d in (new, old))
        if len(n) and len(o):
            pairs = pd.concat([pairs, n.tail(1).assign(national_rate_published=o["national_rate"].iloc[-1])])
    ratio = pairs["national_rate"] / pairs["national_rate_published"]
    pairs = pairs.assign(move=np.maximum(ratio, 1 / ratio)).dropna(subset=["move"])
    for indicator, group in pairs[pairs["move"] > factor].groupby("indicator"):
        worst = group.sort_values("move").iloc[-1]
        out.append(f"national {indicator} rate for {_period(worst)} would move from "
                   f"{format_rate(indicator, worst.national_rate_published)} to "
                   f"{format_rate(indicator, worst.national_rate)} (x{worst.national_rate / worst.national_rate_published:.3g}, "
                   f"limit x/÷{factor:g}; {len(group)} periods beyond it): check the "
                   f"{BY_KEY[indicator].source} and population inputs")
    return out


def dropped_services(table: str, new: pd.DataFrame, old: pd.DataFrame | None, share: float) -> list[str]:
    if old is None or old.empty or share >= 1:
        return []
    names = old.drop_duplicates("yjs_id").set_index("yjs_id")["yjs_name"]
    gone = names[~names.index.isin(set(new["yjs_id"]))]
    if len(gone) <= share * len(names):
        return []
    return [f"{len(gone)} of the {len(names)} published services would be dropped from {table} "
            f"({len(gone) / len(names):.0%}, limit {share:.0%}: {some_of(gone, SHOWN)}): check the services/ "
            "lookup and the indicator files"]
