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
- an indicator whose latest period (with a national rate) ends earlier
  than the published warehouse's latest one the run could see: a newer file
  missing, or its rows quarantined, leaves the indicator years stale while
  every other check passes. Switched off with the rate check (factor 0);
- more than ``max_services_dropped_share`` of the published services gone
  from ``services`` or ``inspection_targets``;
- more than ``max_inspections_lost_share`` (default 10%) of the published
  inspections gone: those of services the refresh still has, published by
  its as-of date. A lost inspections file, or one whose ratings are all
  unreadable, turns recently inspected services into "never inspected" ones
  and puts them at the top of the list; a correction of a few (a date put
  right, a duplicate removed) is not that, and goes through.

A genuine change (a reorganisation of services, a corrected inspection
list) is let through by raising the limit for one run: factor 0 or share 1
switches a check off.
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
                  limits: Limits, cutoff=None, as_of=None, recent_months: int = 12) -> None:
    """Raise :class:`GuardError` naming every implausible change, else
    return. ``cutoff``: the last period end this run could use, if known;
    ``as_of``: the run's as-of date (inspections published later do not
    count); ``recent_months``: the exclusion window, within which a lost
    inspection makes its service eligible again. ``new`` and ``published``
    map table names to frames; the
    inspection and staleness guards need ``inspections`` and
    ``source_files`` (and ``quarantine``, to say what was set aside), and
    are passed over where a caller has none."""
    problems = implausible_national_rates(new["indicator_dispersion"])
    problems += implausible_service_counts(new["indicator_values"])
    if limits.max_national_rate_factor:
        problems += national_rate_changes(new["indicator_dispersion"],
                                          published.get("indicator_dispersion"),
                                          limits.max_national_rate_factor, cutoff)
        if "source_files" in new:  # it names the files read
            problems += stale_indicators(new["indicator_dispersion"], published.get("indicator_dispersion"),
                                         cutoff, new["source_files"], published.get("source_files"),
                                         new.get("quarantine"))
    for table in ("services", "inspection_targets"):
        problems += dropped_services(table, new[table], published.get(table),
                                     limits.max_services_dropped_share)
    if "inspections" in new:
        problems += lost_inspections(new["inspections"], published.get("inspections"), new["services"],
                                     limits.max_inspections_lost_share, as_of, new.get("source_files"),
                                     published.get("source_files"), new.get("quarantine"), recent_months,
                                     old_services=published.get("services"))
    if problems:
        raise GuardError("refresh stopped before publishing, the published warehouse is "
                         "unchanged: " + "; ".join(problems) + _another_data_dir(new, published))


def _another_data_dir(new: dict, published: dict) -> str:
    """Where the published warehouse was built from another data dir: say so,
    as what the guards call lost or changed may be a switch of data, not a
    fault (the demo's warehouse refreshed from real files)."""
    was, now = (t["data_dir"].iloc[0] if t is not None and "data_dir" in t and len(t) else None
                for t in (published.get("run_metadata"), new.get("run_metadata")))
    if was is None or now is None or str(was) == str(now):
        return ""
    return (f". The published warehouse was built from the data dir {was}, this run reads {now}: to start "
            "afresh from it, publish to a new warehouse (--warehouse), or switch the guards named off for one run")


def _period(row) -> str:
    return f"the {int(row.period_months)} months to {pd.Timestamp(row.period_end):%Y-%m-%d}"


def implausible_national_rates(dispersion: pd.DataFrame) -> list[str]:
    """One line per indicator with national rates outside what any real year gave."""
    bounds = [PLAUSIBLE_NATIONAL.get(i, (0, math.inf)) for i in dispersion["indicator"].tolist()]
    rate = dispersion["national_rate"].to_numpy(dtype=float)
    low, high = np.array(bounds, dtype=float).reshape(-1, 2).T
    if not (np.isfinite(rate) & ((rate < low) | (rate > high))).any():
        return []  # every rate checked on arrays; the frames below only to say which are out
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
    """One line per count indicator with service-periods counting more than
    ``MAX_YEARLY_SHARE`` of the population in a year."""
    counted = values["indicator"].isin([k for k, ind in BY_KEY.items() if ind.family == "poisson"]).to_numpy()
    numerator, denominator, months = (values[c].to_numpy(dtype=float)
                                      for c in ("numerator", "denominator", "period_months"))
    with np.errstate(invalid="ignore", divide="ignore"):
        if not (counted & (denominator > 0) & (numerator / denominator * 12 / months > MAX_YEARLY_SHARE)).any():
            return []  # every row checked on arrays; the frames below only to say which are out
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


def _files(files: pd.DataFrame | None, source: str) -> list[str]:
    """The files of ``source`` in a ``source_files`` table (none without one)."""
    if files is None or files.empty:
        return []
    return sorted(files.loc[files["source"] == source, "file"].astype(str))


def _what_was_read(source: str, new_files: pd.DataFrame | None, old_files: pd.DataFrame | None,
                   quarantine: pd.DataFrame | None) -> str:
    """The files of ``source`` this refresh read, those the published
    warehouse read that it no longer does, and how many of its rows it
    quarantined, with the first: where to look for what went missing."""
    parts = []
    if new_files is not None:
        now = _files(new_files, source)
        parts.append(f"files read: {', '.join(now) or 'none'}")
        if gone := [f for f in _files(old_files, source) if f not in now]:
            parts.append(f"no longer read: {', '.join(gone)}")
    if quarantine is not None and len(mine := quarantine[quarantine["source"] == source]):
        first, rows = mine.iloc[0], f"{len(mine):,} row{'s' if len(mine) != 1 else ''}"
        parts.append(f"{rows} of {source}/ quarantined, e.g. {first['file']} row {first['row_number']}: "
                     f"{first['problem']}")
    return "; ".join(parts)


def _latest_periods(dispersion: pd.DataFrame | None) -> pd.Series:
    """Per indicator, the end of its latest period with a national rate."""
    if dispersion is None or dispersion.empty:
        return pd.Series(dtype="datetime64[ns]")
    rated = dispersion[dispersion["national_rate"].notna()]
    return to_datetime(rated["period_end"]).groupby(rated["indicator"]).max()


def stale_indicators(new: pd.DataFrame, old: pd.DataFrame | None, cutoff=None,
                     new_files: pd.DataFrame | None = None, old_files: pd.DataFrame | None = None,
                     quarantine: pd.DataFrame | None = None) -> list[str]:
    """One line per indicator whose latest period ends earlier than the
    published warehouse's latest for it, among the published periods ending
    by ``cutoff`` (a backfill of an earlier month is no loss), naming both
    ends and the files read. An indicator with no rate at all any more is
    :func:`national_rate_changes`' to report."""
    if old is not None and cutoff is not None:
        old = old[to_datetime(old["period_end"]) <= pd.Timestamp(cutoff)]
    before, now = _latest_periods(old), _latest_periods(new)
    out = []
    for indicator in sorted(set(before.index) & set(now.index)):
        if now[indicator] < before[indicator]:
            source = BY_KEY[indicator].source if indicator in BY_KEY else indicator
            read = _what_was_read(source, new_files, old_files, quarantine)
            out.append(f"{indicator}: its latest period would end {now[indicator]:%Y-%m-%d}, where the published "
                       f"warehouse's ends {before[indicator]:%Y-%m-%d} ({read or f'see {source}/'}): is a newer "
                       f"{source}/ file missing, or its rows quarantined? (--max-national-rate-factor 0 lets a "
                       "withdrawn period through)")
    return out


def lost_inspections(new: pd.DataFrame, old: pd.DataFrame | None, services: pd.DataFrame, limit: float,
                     as_of=None, new_files: pd.DataFrame | None = None, old_files: pd.DataFrame | None = None,
                     quarantine: pd.DataFrame | None = None, recent_months: int = 12,
                     old_services: pd.DataFrame | None = None) -> list[str]:
    """A line if more than the share ``limit`` of the inspections of the
    published warehouse (published by ``as_of``) are gone from the
    refresh's ``new`` inspections, naming the latest :data:`SHOWN` of them
    (service, date, rating) and the files read; or if, below that share, any
    published in the ``recent_months`` before ``as_of`` is gone, as that
    makes a service just inspected eligible for a visit again. Gone: no
    inspection of the service within :data:`SAME_INSPECTION_DAYS` of it (a
    date put right is no loss). A ``limit`` of 1 switches both off.
    An inspection of a service the refresh no longer has counts as its local
    authorities' service's now (``old_services``, the published lookup, and
    ``services``: :func:`successors`), so a service renamed in the lookup
    does not lose the inspections still listed under its old name, unless
    that service has a later inspection of its own (its last is what the
    ranking reads: ``scores.inspection_history``); those of
    a service whose authorities no service serves any more are
    :func:`dropped_services`' to report."""
    if old is None or old.empty:
        return []
    current = set(services["yjs_id"])
    now = successors(old_services, services)
    if now:  # one row for each service now serving its authorities: each must still have it
        old = old.assign(now=old["yjs_id"].map(now)).explode("now", ignore_index=True)
        old = old.assign(yjs_id=old["now"].fillna(old["yjs_id"]))
    old = old[old["yjs_id"].isin(current)]
    if as_of is not None:
        old = old[to_datetime(old["published"]) <= pd.Timestamp(as_of)]
    old = old.drop_duplicates(["yjs_id", "published"])
    gone = _gone(old, new)
    if "now" in gone:  # an inherited inspection older than the successor's own latest changes nothing
        published = to_datetime(new["published"])
        mine = published <= pd.Timestamp(as_of) if as_of is not None else published.notna()
        own = gone["yjs_id"].map(published[mine].groupby(new.loc[mine, "yjs_id"]).max())
        gone = gone[~(gone["now"].notna() & (own > to_datetime(gone["published"])))]
    if limit >= 1 or gone.empty:
        return []
    names = dict(zip(services["yjs_id"], services["yjs_name"])) if "yjs_name" in services else {}
    if len(gone) <= limit * len(old):
        if as_of is None:
            return []
        gone = gone[to_datetime(gone["published"]) > pd.Timestamp(as_of) - pd.DateOffset(months=recent_months)]
        if gone.empty:
            return []
        read = _what_was_read("inspections", new_files, old_files, quarantine)
        return [f"{len(gone)} of the inspections published in the {recent_months} months before {as_of} would be "
                f"lost: {some_of(_shown(gone, names), SHOWN)}{f' ({read})' if read else ''}: just inspected, those "
                "services would be eligible for a visit again; is an inspections/ file cut short, or are its rows "
                "quarantined? (--max-inspections-lost-share 1 publishes it anyway)"]
    read = _what_was_read("inspections", new_files, old_files, quarantine)
    return [f"{len(gone)} of the {len(old)} published inspections would be lost ({len(gone) / len(old):.0%}, "
            f"limit {limit:.0%}), latest first: "
            f"{some_of(_shown(gone, names), SHOWN)}{f' ({read})' if read else ''}: those services would count as "
            "never or long ago inspected; is an inspections/ file missing, or are its rows quarantined? "
            "(--max-inspections-lost-share 1 publishes it anyway)"]


SAME_INSPECTION_DAYS = 31  # a published inspection with one of its service this near in the refresh is kept


def _las(codes) -> set[str]:
    return {c.strip() for c in str(codes).split(",") if c.strip()} if isinstance(codes, str) else set()


def successors(old_services: pd.DataFrame | None, services: pd.DataFrame) -> dict[str, list[str]]:
    """For each published service (``old_services``) the refresh no longer
    has, the services now serving its local authorities (``la_codes``), if
    any: one for a rename in the lookup (Kingston and Richmond's two LAs
    listed as Achieving for Children) or a merger into a larger service,
    several for a split (each inherits its last inspection)."""
    if old_services is None or old_services.empty or "la_codes" not in old_services or "la_codes" not in services:
        return {}
    serving = {la: i for i, codes in zip(services["yjs_id"], services["la_codes"]) for la in _las(codes)}
    current, out = set(services["yjs_id"]), {}
    for i, codes in zip(old_services["yjs_id"], old_services["la_codes"]):
        if i not in current and (now := sorted({serving[la] for la in _las(codes) if la in serving})):
            out[i] = now
    return out


def _gone(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The ``old`` inspections with no inspection of the same service in
    ``new`` within :data:`SAME_INSPECTION_DAYS` of them."""
    pairs = old[["yjs_id", "published"]].reset_index().merge(
        new[["yjs_id", "published"]].rename(columns={"published": "again"}), on="yjs_id")
    near = (to_datetime(pairs["published"]) - to_datetime(pairs["again"])).abs() <= pd.Timedelta(
        days=SAME_INSPECTION_DAYS)
    return old.drop(index=pairs.loc[near, "index"].unique())


def _shown(gone: pd.DataFrame, names: dict[str, str] | None = None) -> list[str]:
    """Lost inspections as "Reading 2026-10-15 Inadequate", latest first;
    one of a service since renamed as "Kingston and Richmond (now
    Achieving for Children) ..." (``names``: the refresh's, by yjs_id)."""
    gone = gone.sort_values(["published", "yjs_id"], ascending=[False, True])
    name = gone["yjs_name"] if "yjs_name" in gone else gone["yjs_id"]
    if "now" in gone and names:
        name = [n if pd.isna(i) else f"{n} (now {names.get(i, i)})" for n, i in zip(name, gone["now"])]
    return [f"{n} {pd.Timestamp(d):%Y-%m-%d} {r}" for n, d, r in
            zip(name, gone["published"], gone["overall_rating"].fillna("no rating"))]

