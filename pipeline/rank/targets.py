"""The ranked list: recommendations and their reasons in plain English.

Rules (contract defaults, configurable through ``RankingRules``):

* services inspected in the ``exclusion_months`` before as_of are recommended
  for neither visit;
* ``full_joint_inspection``: the ``n_full_joint`` eligible services with the
  highest concern score among those with indicator figures (a service with
  none, e.g. as of a date before the first published period, is monitored:
  its score would rest on its inspection history alone, and services with
  the same history tie);
* ``benchmark_visit``: among eligible services significantly better than
  national (pooled z below -1.96) on at least two indicators, significantly
  worse on none, and rated Outstanding or Good (or good, 2012-2017 scale) at
  their last inspection or never inspected: the ``n_benchmark`` with the
  lowest concern score. Fewer are recommended when fewer qualify, and the
  list says so rather than lowering the bar;
* everyone else: ``monitor``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.indicators import BY_KEY, format_rate
from pipeline.model.stats import Z95, Z998, top_k_probability
from pipeline.settings import RankingRules

TARGET_COLUMNS = [
    "as_of", "rank", "yjs_id", "yjs_name", "recommendation", "concern_score", "rank_low",
    "rank_high", "months_since_inspection", "last_rating", "reasons", "concern_sd",
    "last_inspected", "eligible",
    # the concern score's parts, weighted: they add up to it
    "concern_indicators", "concern_last_rating", "concern_time", "concern_outcome_model",
    # how sure a full joint pick is: the share of simulations of the scores in which the service
    # is among the n_full_joint highest eligible (NULL: not eligible, or no figures)
    "p_full_joint",
]
CLOSE_CALL = (0.25, 0.75)  # a p_full_joint in here is said in the reasons
GOOD_RATINGS = {"outstanding", "good"}
NO_FIGURES = "no indicator data, so no visit is recommended"  # the reasons of a service without figures
# ... and of one none of whose figures could be compared with national (periods too few services report)
NO_EVIDENCE = "no indicator figures compared with national, so no visit is recommended"
SUPPRESSED = "suppressed (too few to publish)"  # said of figures that are, matched by the CLI's note
BAND_TEXT = {
    "high_99.8": "above the 99.8% limit", "high_95": "above the 95% limit",
    "within": "within the limits", "low_95": "better than the 95% limit",
    "low_99.8": "better than the 99.8% limit",
}


def _window_text(months: int, end: pd.Timestamp) -> str:
    span = f"{months // 12} years" if months % 12 == 0 and months > 12 else f"{months} months"
    return f"{span} to {end:%b %Y}"


def _periods_text(n: int, months: int) -> str:
    """``n`` periods of ``months``: "1 year", "11 quarters", "2 6-month periods"."""
    unit = {12: "year", 3: "quarter", 1: "month"}.get(months, f"{months}-month period")
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _span_text(window_months: int, window_end: pd.Timestamp, used: int, months: int,
               last: pd.Timestamp) -> str:
    """What a service's pooled figure rests on: the window ("3 years to Dec
    2025") where it has every period of it, else how many of the window's
    periods it has, and its latest where that is older ("11 of the 12
    quarters to Dec 2024", "7 of the 12 quarters to Dec 2024, latest Jun
    2024"): the others are suppressed or not published, so its periods need
    not run on without a gap."""
    periods = max(window_months // months, 1)
    if used >= periods and last >= window_end:
        return _window_text(window_months, window_end)
    unit = _periods_text(periods, months).split(" ", 1)[1]
    latest = f", latest {last:%b %Y}" if last < window_end else ""
    return f"{used} of the {periods} {unit} to {window_end:%b %Y}{latest}"


def z_text(z: float) -> str:
    """A z-score to one decimal, or two (cut, not rounded) where one would
    cross a funnel limit the band did not: 1.955 is "1.95" within the limits,
    not "2.0"."""
    shown = f"{z:.1f}"
    if any(abs(float(shown)) >= limit > abs(z) for limit in (Z95, Z998)):
        shown = f"{np.trunc(z * 100) / 100:.2f}"
    return "0.0" if shown == "-0.0" else shown


def indicator_phrases(ev: pd.DataFrame) -> list[str]:
    """One phrase per evidence row: 'proven reoffending 41.2% vs 31.0%
    national (3 years to Dec 2025; z 3.4, above the 99.8% limit), rising
    against national for 3 periods (trend z 2.4)', 'custodial sentences 0.45
    per 1,000 aged 10-17 vs 0.19 national (...)'. The trend is the service's
    rate relative to national (its ratio to expected): a rate falling more
    slowly than the nation's is rising against it. A trend is told only where
    its z is beyond 1.96 (``pipeline.model.scores._trend_sums``)."""
    out, spans = [], {}  # most services share a span: its text is made once (dates format slowly)
    for key, rate, nat, months, end, used, length, last, z, band, tz, rising in zip(
            ev["indicator"], ev["rate"], ev["national_rate"], ev["window_months"], ev["window_end"],
            ev["periods_used"], ev["period_months"], ev["last_period_end"], ev["z"], ev["band"],
            ev["trend_z"], ev["rising_periods"]):
        at = (months, end, used, length, last)
        span = spans[at] if at in spans else spans.setdefault(
            at, _span_text(int(months), end, int(used), int(length), last))
        text = (f"{BY_KEY[key].label} {format_rate(key, rate, months=int(length))} vs "
                f"{format_rate(key, nat, False)} national "
                f"({span}; z {z_text(z)}, {BAND_TEXT.get(band, 'no band')})")
        if tz > Z95:  # a run of rises alone is what noise gives one service in six
            run = f" for {int(rising)} periods" if rising >= 2 else ""
            text += f", rising against national{run} (trend z {tz:.1f})"
        elif tz < -Z95:
            text += f", falling against national (trend z {tz:.1f})"
        out.append(text)
    return out


def _joined(rows: list, key=None, keep=lambda row: True) -> dict:
    """``"; ".join`` of the phrases of each service's evidence ``rows``
    (yjs_id, e, z, band, phrase) that ``keep`` keeps, in the order of
    ``key`` (stable: ties stay in the evidence's order), by service."""
    out: dict = {}
    for row in (sorted(rows, key=key) if key else rows):
        if keep(row):
            out.setdefault(row[0], []).append(row[4])
    return {i: "; ".join(phrases) for i, phrases in out.items()}


def _descending(value: float) -> tuple:
    """Sort key: highest first, NaN last (as ``sort_values(ascending=False)``)."""
    return (True, 0.0) if value != value else (False, -value)


def latest_figures(values: pd.DataFrame | None) -> dict[tuple[str, str], tuple]:
    """Per (service, indicator), its latest row in ``indicator_values``: its
    period's end and length, whether it was compared with a national rate
    (not, for a period too few services report:
    :func:`pipeline.model.panel.fewest_for_national`) and whether it is
    suppressed; and the end and length of its latest published (not
    suppressed) row compared with no national rate, None if none. What the
    reasons say of an indicator a service has no evidence for."""
    if values is None or values.empty:
        return {}
    rows = values[["yjs_id", "indicator", "period_end", "period_months", "national_rate", "suppressed"]]
    rows = rows.assign(period_end=to_datetime(rows["period_end"]),
                       suppressed=rows["suppressed"].fillna(False).astype(bool)).sort_values(
        ["yjs_id", "indicator", "period_end", "period_months"], kind="stable")
    key = ["yjs_id", "indicator"]
    latest = rows.drop_duplicates(key, keep="last")  # one row a service and indicator
    alone = rows[rows["national_rate"].isna() & ~rows["suppressed"]].drop_duplicates(key, keep="last")
    uncompared = {(i, k): (end, int(months)) for i, k, end, months in
                  zip(alone["yjs_id"], alone["indicator"], alone["period_end"], alone["period_months"])}
    return {(i, k): (end, int(months), bool(national), bool(suppressed), uncompared.get((i, k)))
            for i, k, end, months, national, suppressed
            in zip(latest["yjs_id"], latest["indicator"], latest["period_end"], latest["period_months"],
                   latest["national_rate"].notna(), latest["suppressed"])}


def _why_no_evidence(label: str, latest: tuple, window: tuple | None) -> tuple[str, bool]:
    """Why a service with rows of an indicator has no evidence of it, and
    whether because figures of it were compared with no national rate: its
    latest row (:func:`latest_figures`) before the pooled window (``window``:
    its end and length in months), suppressed (unless a published figure
    in the window was not compared), compared with no national rate, or of
    a period the window does not take."""
    end, length, compared, hidden, alone = latest
    start = window[0] - pd.DateOffset(months=int(window[1])) if window is not None else None
    if start is not None and end <= start:
        return f"no {label} figures since {end:%b %Y}", False  # it stopped reporting
    if hidden and alone is not None and (start is None or alone[0] > start):
        end, length, hidden = alone[0], alone[1], False  # a published figure, not compared, behind the latest
    if window is None:  # no service has evidence of it: no period of it has a national rate
        if hidden:
            return f"its {label} figures are {SUPPRESSED}", False
        return (f"its {label} figures are not compared with national: too few services report them for a "
                f"national rate (latest {_window_text(length, end)})"), True
    pooled = f" ({_window_text(int(window[1]), window[0])})"
    if hidden:
        return f"its {label} figures in the years pooled{pooled} are {SUPPRESSED}", False
    if not compared or alone is not None and alone[0] == end:  # (also a figure of the same end, not compared)
        return (f"its {label} figures are not compared with national: their periods (latest "
                f"{_window_text(length, end)}) are not those most services report"), True
    return f"its latest {label} figure ({_window_text(length, end)}) is not of the periods pooled{pooled}", False


def reasons(df: pd.DataFrame, evidence: pd.DataFrame, rules: RankingRules,
            inspections_from: pd.Timestamp | None = None, values: pd.DataFrame | None = None) -> pd.Series:
    """Plain-English reasons for each service's place in the list: the
    indicators above the upper limits, else every indicator worse than
    national (by shrunk evidence ``e``, which weighs a small service's z
    less), else the one nearest national; for a benchmark the indicators
    better than national; then the last inspection; and first, where it
    applies, why the service is not eligible. The indicators that others
    have figures for and the service has none are named (its score rests on
    the rest); "no inspection on record" says from when the inspections read
    start (``inspections_from``), as a list that starts late cannot tell
    never inspected from inspected before it. Where its figures of an
    indicator could be compared with no national rate (``values``, the
    ``indicator_values`` rows: periods of their own, :func:`latest_figures`),
    that is said instead of "no figures" (and, where none of its figures
    could be, the reasons lead with ``NO_EVIDENCE``, not ``NO_FIGURES``);
    where its latest figure is older
    than the window, when it was ("no first-time entrants figures since Dec
    2021": it stopped reporting). Built in plain Python over the
    evidence's few rows a service (pandas' group-bys cost more than the text)."""
    rows = list(zip(evidence["yjs_id"], evidence["e"], evidence["z"], evidence["band"],
                    indicator_phrases(evidence)))
    by_e = sorted(rows, key=lambda row: _descending(row[1]))  # services' order is immaterial
    high = _joined(by_e, keep=lambda row: row[3] in ("high_99.8", "high_95"))
    worse = _joined(by_e, keep=lambda row: row[1] > 0)  # by e, as said: the mid-p z is a hair above 0 at national
    nearest = {}
    for row in sorted(rows, key=lambda row: _descending(row[2])):
        nearest.setdefault(row[0], row[4])
    better = _joined(rows, key=lambda row: (row[2] != row[2], row[2]), keep=lambda row: row[2] < -Z95)
    indicators = set(evidence["indicator"])
    known = [key for key in BY_KEY if key in indicators]  # what others have
    has: dict = {}
    for i, key in zip(evidence["yjs_id"], evidence["indicator"]):
        has.setdefault(i, set()).add(key)
    figures = latest_figures(values)
    windows = {key: (pd.Timestamp(end), months) for key, end, months in zip(
        evidence["indicator"], evidence["window_end"], evidence["window_months"])}  # one window an indicator
    never = "no inspection on record"
    if inspections_from is not None and not pd.isna(inspections_from):
        never += (f" (the inspections on record begin in {pd.Timestamp(inspections_from):%B %Y}: an "
                  "earlier inspection would not show)")
    excluded = f"not eligible: inspected within the last {rules.exclusion_months} months; "
    inspected = df["last_inspected"].notna()
    months = to_datetime(df["last_inspected"]).dt.strftime("%Y-%m")
    notes = df["last_rating_note"] if "last_rating_note" in df else pd.Series(None, index=df.index, dtype=object)
    out = []
    for i, rec, eligible, seen, month, rating, note in zip(
            df["yjs_id"], df["recommendation"], df["eligible"], inspected, months, df["last_rating"], notes):
        if rec == "benchmark_visit":
            text = "better than national on " + better.get(i, "")
        elif i in high:
            text = high[i]
        elif i in worse:
            text = "no indicator above the 95% limit; worse than national: " + worse[i]
        elif i in nearest:
            text = "no indicator worse than national; nearest to it: " + nearest[i]
        else:
            text = None  # no evidence: no figures, or none that could be compared (below)
        absent = [k for k in known if k not in has.get(i, ())]
        missing = [BY_KEY[k].label for k in absent if (i, k) not in figures]
        some = any((i, k) in figures for k in BY_KEY)
        # also of an indicator no service has evidence of
        whys = [_why_no_evidence(BY_KEY[k].label, figures[(i, k)], windows.get(k))
                for k in BY_KEY if (i, k) in figures and k not in has.get(i, ())]
        if text is None:
            text = NO_EVIDENCE if any(alone for _, alone in whys) else NO_FIGURES
        if missing and (len(absent) < len(known) or some):  # some figures, not all that others have
            text += "; no figures for " + " or ".join(missing)
        for why, _ in whys:
            text += "; " + why
        text += "; " + (f"last inspected {month}, {_rating_text(rating, note)}" if seen else never)
        # first, where it decides: a service high on the list may be passed over for this alone
        out.append(text if eligible else excluded + text)
    return pd.Series(out, index=df.index, dtype=object)


def _rating_text(rating, note=None) -> str:
    """A last rating as the reasons give it; missing where the inspection's rows disagree on it
    (``ingest.inspections``); said to be inferred where it has a ``rating_note`` (its rating
    cell could not be read, and its score on the 2018 framework gave it: the one note a read
    rating has), as the published rating is not known for sure (the real scrape's Portsmouth)."""
    if pd.isna(rating):
        return UNKNOWN_RATING
    return str(rating) if note is None or pd.isna(note) else f"{rating} ({INFERRED_RATING})"


UNKNOWN_RATING = "rating unknown (its records disagree: see the inspections' rating_note)"
INFERRED_RATING = "inferred from its score: see the inspections' rating_note"


def close_call_text(df: pd.DataFrame, rules: RankingRules) -> pd.Series:
    """ "; a close call: picked, but among the 8 highest eligible in only 51%
    of simulations" (or "not picked, though ... in 49% ...") where
    ``p_full_joint`` is in ``CLOSE_CALL``: the scores are estimates, and the
    last places of the list may go either way. Picks follow the scores
    themselves, so a service passed over can have the higher share."""
    out = []
    for p, rec in zip(df["p_full_joint"], df["recommendation"]):
        if not CLOSE_CALL[0] <= p < CLOSE_CALL[1]:  # NaN: not a candidate
            out.append("")
        elif rec == "full_joint_inspection":
            out.append(f"; a close call: picked, but among the {rules.n_full_joint} highest eligible "
                       f"in only {p:.0%} of simulations")
        else:
            out.append(f"; a close call: not picked, though among the {rules.n_full_joint} highest "
                       f"eligible in {p:.0%} of simulations")
    return pd.Series(out, index=df.index, dtype=object)


def concern_text(df: pd.DataFrame, uncompared: pd.Series | None = None) -> pd.Series:
    """ "concern 1.05 = indicators +0.88, last rating +0.07, time since
    inspection +0.10": what puts a service above or below its neighbours,
    the weighted parts of its concern score (``recommend``), positive adding
    concern, rounded so that they add up to the total shown; "indicators: no
    data" where the service has no evidence, "indicators: none compared with
    national" where it has figures but none could be (``uncompared``, by row)."""
    names = ["concern_indicators", "concern_last_rating", "concern_time", "concern_outcome_model"]
    labels = ["indicators", "last rating", "time since inspection", "outcome model"]
    out = []
    evidenced = df["evidenced"] if "evidenced" in df else pd.Series(True, index=df.index)
    uncompared = pd.Series(False, index=df.index) if uncompared is None else uncompared
    for total, has, some, *parts in zip(df["concern_score"], evidenced, uncompared, *(df[n] for n in names)):
        cents = [round(p * 100) for p in parts]
        gap = round(total * 100) - sum(cents)  # rounding: the largest part takes the difference
        cents[max(range(len(parts)), key=lambda k: abs(parts[k]))] += gap
        shown = [f"{label} {c / 100:+.2f}" for label, c, p in zip(labels, cents, parts)
                 if label != "outcome model" or abs(p) >= 0.005]
        if not has:
            shown[0] = "indicators: none compared with national" if some else "indicators: no data"
        out.append(f"concern {round(total * 100) / 100:.2f} = " + ", ".join(shown))
    return pd.Series([t.replace("+0.00", "0.00").replace("-0.00", "0.00") for t in out], index=df.index)


def plural(n: int, word: str) -> str:
    """ "1 benchmark visit", "2 benchmark visits", "0 services"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(ranked: pd.DataFrame) -> str:
    """ "155 services, 8 full joint inspections, 2 benchmark visits": a list
    in a line, as the CLI prints it and the run's log says it."""
    picked = ranked["recommendation"].value_counts()
    return (f"{plural(len(ranked), 'service')}, "
            f"{plural(int(picked.get('full_joint_inspection', 0)), 'full joint inspection')}, "
            f"{plural(int(picked.get('benchmark_visit', 0)), 'benchmark visit')}")


def _only(n: int, asked: int, kind: str) -> str:
    return f"No {kind} recommended ({asked} asked)" if n == 0 else \
        f"Only {plural(n, kind)} recommended ({asked} asked)"


def shortfall_notes(ranked: pd.DataFrame, rules: RankingRules) -> list[str]:
    """A sentence for each kind of visit recommended fewer times than asked,
    saying why (the bar is not lowered to fill the list): too few eligible
    services with indicator figures, or too few that qualify as a benchmark.
    ``ranked`` is :func:`recommend`'s table."""
    notes = []
    picked = ranked["recommendation"].value_counts()
    full, bench = int(picked.get("full_joint_inspection", 0)), int(picked.get("benchmark_visit", 0))
    if full < rules.n_full_joint:
        none = ranked["reasons"].str.contains(NO_FIGURES, regex=False)
        uncompared = ranked["reasons"].str.contains(NO_EVIDENCE, regex=False)
        with_figures = int((ranked["eligible"] & ~none & ~uncompared).sum())
        compared = " compared with national" if (ranked["eligible"] & uncompared).any() else ""
        notes.append(f"{_only(full, rules.n_full_joint, 'full joint inspection')}: "
                     f"{plural(with_figures, 'service')} not inspected in the last {rules.exclusion_months} months "
                     f"{'has' if with_figures == 1 else 'have'} indicator figures{compared}.")
    if bench < rules.n_benchmark:
        notes.append(f"{_only(bench, rules.n_benchmark, 'benchmark visit')}: a benchmark must be significantly "
                     "better than national (below the lower 95% limit) on at least two indicators and worse on "
                     "none, last rated Outstanding or Good (good on the 2012-2017 scale) or never inspected, not "
                     f"inspected in the last {rules.exclusion_months} months, and not picked for a full joint "
                     "inspection.")
    return notes


def recommend(scores: pd.DataFrame, evidence: pd.DataFrame, rules: RankingRules,
              as_of: dt.date, inspections_from: pd.Timestamp | None = None,
              values: pd.DataFrame | None = None) -> pd.DataFrame:
    """``inspection_targets``: one row per service, ranked, with a
    recommendation and reasons. ``scores`` is ``scores.concern_scores``'
    output; its ``evidenced`` (any indicator figures) is what the back-test's
    picks use too. ``inspections_from``: the first publication date of the
    inspections read, for the reasons of services with none; ``values``:
    ``indicator_values``, for the reasons of a service whose figures could
    not be compared, or are older than the window (:func:`latest_figures`)."""
    df = scores.rename(columns={"last_published": "last_inspected"}).copy()
    df["eligible"] = ~(df["months_since_inspection"] < rules.exclusion_months)
    df["recommendation"] = "monitor"
    pool = df[df["eligible"] & df["evidenced"]]
    full = pool.nsmallest(rules.n_full_joint, "rank").index
    df.loc[full, "recommendation"] = "full_joint_inspection"
    df["p_full_joint"] = pd.Series(top_k_probability(pool["concern_score"], pool["concern_sd"],
                                                     rules.n_full_joint), index=pool.index)

    counts = evidence.assign(better=evidence["z"] < -Z95, worse=evidence["z"] > Z95) \
        .groupby("yjs_id")[["better", "worse"]].sum()
    # never inspected, or last rated good; not an inspection whose rating is unknown
    good = df["last_inspected"].isna() | df["last_rating"].astype(str).str.strip().str.lower().isin(GOOD_RATINGS)
    candidates = df[df["eligible"] & (df["recommendation"] == "monitor") & good
                    & (df["yjs_id"].map(counts["better"]).fillna(0) >= 2)
                    & (df["yjs_id"].map(counts["worse"]).fillna(0) == 0)]
    bench = candidates.nlargest(rules.n_benchmark, "rank").index
    df.loc[bench, "recommendation"] = "benchmark_visit"
    w = rules.weights
    df["concern_indicators"] = df["indicator_evidence"]
    df["concern_last_rating"] = w.get("inspection", 0.0) * df["inspection_term"]
    df["concern_time"] = w.get("time_since_inspection", 0.0) * df["time_term"]
    df["concern_outcome_model"] = (df["concern_score"] - df["concern_indicators"] - df["concern_last_rating"]
                                   - df["concern_time"]).round(12) + 0.0  # the blend's term (weight 0: none;
    # + 0.0: a remainder rounded from a hair below 0 is -0.0, which the exports would show as -0.0)
    why = reasons(df, evidence, rules, inspections_from, values)
    df["reasons"] = (why + close_call_text(df, rules)
                     + "; " + concern_text(df, uncompared=why.str.contains(NO_EVIDENCE, regex=False)))
    df["as_of"] = pd.Timestamp(as_of)
    df["months_since_inspection"] = df["months_since_inspection"].astype("Int64")
    return df[TARGET_COLUMNS].sort_values("rank", ignore_index=True)
