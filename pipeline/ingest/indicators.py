"""The three per-service indicators: first-time entrants, reoffending, custody.

They share one shape (a service, a period, some counts that may be
suppressed), so one reader driven by an :class:`Indicator` definition reads
all three; only custody has a second layout, the YJB local-level
``Outcome_Table``, whose custody rows are summed per service and year.
That table lists the cautions and sentences each service gave in a year, so
a service and year it lists with no custody row gave no custodial sentence:
its other rows count as parts of 0, and the year's count is 0, not missing
(missing would drop the services with the least custody from the national
rate and from their own evidence).

Counts a file gives for *parts* of one service are summed: the local
authorities of a merged service listed separately (Bury and Rochdale before
their merger), or the custody rows of the outcome table, one per sentence
type. A part suppressed anywhere makes the sum suppressed: adding up only the
published parts would understate the count and flatter the service. For the
same reason parts must make the whole service, once: a file's rows for some
of a service's local authorities but not all (one of them unnamed or
unreadable), or beside the whole service's own figure, are quarantined
(:func:`_part_problems`). Two rows for the same local authorities are a
duplicate, not parts, however they are named ("Hull YOS" and
"Kingston-upon-Hull"); so are two rows of an outcome table equal in every
cell (a download pasted twice into one file), where rows that differ in a
column not read (the sentence type, an age group) are parts.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import (
    BARE_FINANCIAL_YEAR_HINT, Distinct, RowProblem, bare_financial_year, financial_year_end, month_end, period_length,
    plausible_date, parse_count, parse_int,
)
from pipeline.ingest.names import NAME_HEADERS, ServiceMatcher
from pipeline.ingest.population import PERSONS
from pipeline.ingest.results import (
    ROW_FILE, Collector, Ingested, Record, first_of_groups, group_rows, resolve_duplicate_rows, resolve_duplicates,
    row_by_row,
)
from pipeline.ingest.tables import Block, Col, Layout, Row, Sheet, key, read_source

NAME = Col("yjs_name", NAME_HEADERS)
# what the quarantine says of rows set aside by design, not for a fault (see pipeline.ingest.BY_DESIGN)
NOT_ALL_CHILDREN = "is not all children; of a table by sex only the rows for all children"
PART_BESIDE_WHOLE = "whose figure for the whole service this file also gives for this period"
# A table broken down by sex: only its rows for all children are read (see _all_children)
SEX = Col("sex", ("gender", "sex_name", "gender_name"), required=False)


@dataclass(frozen=True)
class Indicator:
    source: str
    period: str  # column holding the last month of the period
    months: str  # column holding the period's length in months
    counts: tuple[str, ...]
    default_months: int | None = 12  # None: the months column is required
    allowed_months: tuple[int, ...] | None = None
    at_most: tuple[tuple[str, str], ...] = ()  # (a, b): a count a may not exceed b
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (column, its other headers) as publishers write them
    # the counts the rate is made of, whose missing value makes the row ``suppressed``; None: all of them
    rate_counts: tuple[str, ...] | None = None

    @property
    def suppressing(self) -> tuple[str, ...]:
        """The counts a missing value of which suppresses the row's rate (a
        missing count outside the rate is missing alone)."""
        return self.rate_counts or self.counts

    @property
    def layout(self) -> Layout:
        other = dict(self.aliases)
        months = Col(self.months, other.get(self.months, ()), required=self.default_months is None)
        return Layout("standard", (NAME, Col(self.period, other.get(self.period, ())), months,
                                   *(Col(c, other.get(c, ())) for c in self.counts), SEX))

    @property
    def columns(self) -> dict[str, str]:
        return {"yjs_id": "object", "yjs_name": "object", self.period: "datetime64[ns]",
                self.months: "int64", **{c: "float64" for c in self.counts}, "suppressed": "bool"}

    @property
    def values(self) -> list[str]:
        """A parsed row's values, in the order the row path holds them."""
        return [*self.columns, "_file", "_part", "_unit", "_fy", "_totals"]


FIRST_TIME_ENTRANTS = Indicator("first_time_entrants", "period_end", "period_months", ("fte_count",))
REOFFENDING = Indicator(
    "reoffending", "cohort_end", "cohort_months", ("cohort_size", "reoffenders", "reoffences"),
    default_months=None, allowed_months=(3, 12),
    at_most=(("reoffenders", "cohort_size"), ("reoffenders", "reoffences")),
    rate_counts=("cohort_size", "reoffenders"),  # the rate is reoffenders / cohort size: reoffences play no part
    # the YJB's and MoJ's proven reoffending tables: "Number of children in cohort", "Number of reoffenders",
    # "Number of reoffences" (also "re-offenders"); MoJ's geographical data tool: "offenders", "Cohort"
    aliases=(("cohort_end", ("cohort",)),
             ("cohort_size", ("number_of_children_in_cohort", "number_of_offenders_in_cohort", "number_in_cohort",
                              "offenders")),
             ("reoffenders", ("number_of_reoffenders",)), ("reoffences", ("number_of_reoffences",))),
)
CUSTODY = Indicator("custody", "period_end", "period_months", ("custodial_sentences",))
# Every caution and sentence type of every service and year; custody rows are summed, the
# others are parts of 0 (a service and year with no custody row gave no custodial sentence).
OUTCOME_TABLE = Layout("outcome_table", (
    Col("financial_year"), NAME, Col("caution_or_sentence_tier"), Col("number_cautioned_sentenced"), SEX,
), max_rows=2_000_000)


def read_first_time_entrants(data_dir: Path, services: pd.DataFrame) -> Ingested:
    return read_indicator(FIRST_TIME_ENTRANTS, data_dir, services)


def read_reoffending(data_dir: Path, services: pd.DataFrame) -> Ingested:
    return read_indicator(REOFFENDING, data_dir, services)


def read_custody(data_dir: Path, services: pd.DataFrame) -> Ingested:
    return read_indicator(CUSTODY, data_dir, services)


def read_indicator(spec: Indicator, data_dir: Path, services: pd.DataFrame) -> Ingested:
    """One row per service and period; suppressed counts are NaN with ``suppressed`` set."""
    log = Collector(spec.source)
    matcher = ServiceMatcher(services)
    layouts = [spec.layout] + ([OUTCOME_TABLE] if spec is CUSTODY else [])

    # outcome table: (file, yjs_id, year or None: not read) -> (row, tier) of a row that may be custody and
    # was not read
    unread: dict[tuple, tuple[int, str]] = {}

    def parse_row(row: Row, sheet: Sheet) -> dict | None:
        cells, labels = row.cells, sheet.labels
        # a boys' or girls' row is no figure of the service's (nor, in the outcome table, a sign that
        # the year's count is unknown: refused before _note_unread can see it)
        _all_children(cells.get("sex", ""), labels.get("sex", "sex"))
        if sheet.layout is OUTCOME_TABLE:
            try:
                custody = _custody(cells["caution_or_sentence_tier"], labels["caution_or_sentence_tier"])
                period = _financial_year(cells["financial_year"], labels["financial_year"])
                months = 12
                # cautions and other sentences: no custody, whatever their count
                counts = {"custodial_sentences": parse_count(cells["number_cautioned_sentenced"],
                                                             labels["number_cautioned_sentenced"])
                          if custody else 0.0}
            except RowProblem:
                _note_unread(row, sheet, matcher, unread)
                raise
        else:
            period = _month(cells[spec.period], labels[spec.period])
            months = _period_months(spec, cells[spec.period], labels[spec.period], cells.get(spec.months, ""),
                                    labels.get(spec.months, spec.months))
            counts = {c: parse_count(cells[c], labels[c]) for c in spec.counts}
            for a, b in spec.at_most:
                if counts[a] > counts[b]:  # False when either is NaN
                    raise RowProblem(f"column {labels[a]}: {_num(counts[a])} is more than "
                                     f"{labels[b]} {_num(counts[b])}")
        yjs_id, unit = matcher.lookup(cells["yjs_name"]), matcher.part(cells["yjs_name"])
        outcome_table = sheet.layout is OUTCOME_TABLE
        totals = -1  # not a custody row of the outcome table (see _without_subtotals)
        if outcome_table and custody:
            read = set(sheet.found.values())
            totals = sum(1 for at, cell in enumerate(row.original[:len(sheet.columns)])
                         if at not in read and _says_total(cell))
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], spec.period: period,
                spec.months: months, **counts,
                "suppressed": any(math.isnan(counts[c]) for c in spec.suppressing),
                "_file": row.file, "_part": row.identity if outcome_table else unit, "_unit": unit,
                "_fy": not outcome_table and months == 12 and bare_financial_year(cells[spec.period]),
                "_totals": totals}

    def parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """``parse_row`` a column at a time; the rows it refuses are left to it."""
        labels = sheet.labels
        custody = None
        if sheet.layout is OUTCOME_TABLE:
            tier = labels["caution_or_sentence_tier"]
            custody, known = block.distinct("caution_or_sentence_tier").parse(lambda v: _custody(v, tier), bool,
                                                                              False)
            where, column = np.arange(len(block)), labels["financial_year"]
            period, settled = block.distinct("financial_year").parse(lambda v: _financial_year(v, column),
                                                                     "datetime64[ns]", pd.NaT)
            months = np.full(len(block), 12, dtype=np.int64)
            settled &= known
            sources = {"custodial_sentences": "number_cautioned_sentenced"}
        else:
            where, column = np.arange(len(block)), labels.get(spec.months, spec.months)
            period, settled = block.distinct(spec.period).parse(lambda v: _month(v, labels[spec.period]),
                                                                "datetime64[ns]", pd.NaT)
            months, known = block.distinct(spec.months).parse(lambda v: _months(spec, v, column), "int64", 0)
            # as _period_months: an empty cell takes the length the period says, a given one must agree
            implied, _ = block.distinct(spec.period).parse(lambda v: period_length(v) or 0, "int64", 0)
            said = (implied > 0) & (block.text(spec.months) == "")
            months = np.where(said, implied, months)
            known = np.where(said, np.isin(implied, spec.allowed_months) if spec.allowed_months else True, known)
            settled &= known & ((implied == 0) | (implied == months))
            sources = {c: c for c in spec.counts}
        if block.has("sex"):  # rows of one sex are left to parse_row, which refuses them
            settled &= block.distinct("sex").parse(all_children, bool, False)[0]
        counts = {}
        for count, source in sources.items():
            counts[count], read = block.distinct(source).counts(labels[source])
            if custody is not None:  # as parse_row: only custody rows' counts are read
                counts[count], read = np.where(custody, counts[count], 0.0), read | ~custody
            settled &= read
        for a, b in spec.at_most:
            settled &= ~(counts[a] > counts[b])  # False where either is NaN, as in parse_row
        totals = np.full(len(block), -1, dtype=np.int64)  # as parse_row's
        if custody is not None:
            read, totals[:] = set(sheet.found.values()), 0
            for at in range(min(len(sheet.columns), int(block.lengths.max(initial=0)))):
                if at not in read:
                    other = Distinct.of(block.column(at))
                    says = np.fromiter(map(_says_total, other.values), dtype=bool, count=len(other.values))
                    if says.any():
                        totals += says[other.codes]
            totals = np.where(custody, totals, -1)
        names = block.distinct("yjs_name")
        yjs_id, matched = names.parse(matcher.lookup)
        settled &= matched
        unit, _ = names.parse(matcher.part)
        values = pd.DataFrame({
            "yjs_id": yjs_id, "yjs_name": names.parse(lambda v: matcher.names[matcher.lookup(v)])[0],
            spec.period: period, spec.months: months, **counts,
            "suppressed": np.isnan(np.column_stack([counts[c] for c in spec.suppressing])).any(axis=1),
            "_file": sheet.file, "_part": block.identities() if custody is not None else unit, "_unit": unit,
            "_fy": False if custody is not None else (months == 12) & block.distinct(spec.period).parse(
                bare_financial_year, bool, False)[0],  # a quarter's "2011-12" is no financial year
            "_totals": totals,
        }, index=where)
        return values, settled

    unique = ("yjs_id", spec.period, spec.months)
    sheets = read_source(data_dir, spec.source, layouts)
    if not row_by_row():
        table = log.parse_blocks(sheets, parse_block, parse_row, spec.values)
        table = _not_financial_year_rows(table, spec.period, log)
        table = _without_subtotal_rows(table, spec.period, log)
        if unread:
            table = _known_year_rows(table, spec.period, unread, log)
        partial = table["_unit"].to_numpy() != ""  # rows for some of their service's LAs
        if partial.any() or table.duplicated(list(unique)).any():  # else nothing to collapse, sum or quarantine
            parts = resolve_duplicate_rows(table, (*unique, "_file", "_part"), spec.values, log)
            parts = _whole_part_rows(parts, unique, matcher, log)
            summed, rows_of = _sum_part_rows(parts, unique, spec.counts, log)
            table = resolve_duplicate_rows(summed, unique, list(spec.columns), log, rows_of)
        return log.result(table.sort_values(list(unique)), spec.columns)
    records = _known_years(_without_subtotals(_not_financial_years(log.parse(sheets, parse_row), spec.period, log),
                                              spec.period, log), spec.period, unread, log)
    parts = _whole_parts(resolve_duplicates(records, (*unique, "_file", "_part"), log), unique, matcher, log)
    table = resolve_duplicates(_sum_parts(parts, unique, spec.counts), unique, log)
    order = lambda v: (v["yjs_id"], v[spec.period], v[spec.months])  # noqa: E731
    return log.result(sorted((r.values for r in table), key=order), spec.columns)


# the tiers of the YJB's outcome table (its Caution_or_sentence_tier), as key() keys them
_CUSTODY = frozenset({"custody", "custodial", "custodialsentence", "custodialsentences", "custodysentence",
                      "custodysentences"})
_NOT_CUSTODY = frozenset({"precourt", "outofcourt", "firsttier", "community", "communitysentence",
                          "communitysentences"})


def _custody(tier: str, column: str) -> bool:
    """Whether a tier of the outcome table is custody; a tier not known is a
    problem (it may be custody, and a year is 0 only where none is)."""
    tier_key = key(tier)
    if tier_key in _CUSTODY or tier_key in _NOT_CUSTODY:
        return tier_key in _CUSTODY
    raise RowProblem(f"column {column}: {tier!r} is not a tier of the outcome table (Pre Court, First Tier, "
                     "Community or Custody)")


def _note_unread(row: Row, sheet: Sheet, matcher: ServiceMatcher, unread: dict) -> None:
    """Note an outcome table row that could not be read, where it may be a
    Custody row (its tier is custody, or not known) and names its service:
    its year's count is unknown, not 0 (:func:`_known_years`), or, where its
    year cannot be read either, every year's of its service in the file."""
    cells, labels = row.cells, sheet.labels
    tier = cells["caution_or_sentence_tier"]
    try:
        if not _custody(tier, labels["caution_or_sentence_tier"]):
            return
    except RowProblem:
        pass  # a tier not known may be custody
    try:
        year = _financial_year(cells["financial_year"], labels["financial_year"])
    except RowProblem:
        year = None  # it may be of any year of its service in this file
    yjs_id = matcher.match(cells["yjs_name"])
    if yjs_id is not None:
        unread.setdefault((row.file, yjs_id, year), (row.number, tier.strip()))


def _unread(unread: dict, file: str, yjs_id: str, year: pd.Timestamp) -> tuple[int, str, bool] | None:
    """The unread row noted for a service's year in a file, if any (one of
    its year, else one whose year could not be read), and whether its year was read."""
    if (found := unread.get((file, yjs_id, year))) is not None:
        return (*found, True)
    if (found := unread.get((file, yjs_id, None))) is not None:
        return (*found, False)
    return None


def _unknown(yjs_id: str, period: str, year: pd.Timestamp, unread: tuple[int, str, bool]) -> str:
    which = "could not be read" if unread[2] else "has a financial year that could not be read (any year's row)"
    return (f"yjs_id {yjs_id} {period} {year:%Y-%m-%d}: row {unread[0]}, of tier {unread[1]!r}, {which}, so "
            "the year's custodial sentences are unknown (not 0)")


def _known_years(records: list[Record], period: str, unread: dict, log: Collector) -> list[Record]:
    """The records less those of a year with an unread Custody row in their
    file (:func:`_note_unread`), quarantined: the outcome table's other rows
    of that year would make it 0 where its count is unknown."""
    if not unread:
        return records
    kept = []
    for record in records:
        values = record.values
        found = _unread(unread, values["_file"], values["yjs_id"], values[period])
        if found is None:
            kept.append(record)
        else:
            for row in record.rows:
                log.reject(row, _unknown(values["yjs_id"], period, values[period], found))
    return kept


def _known_year_rows(table: pd.DataFrame, period: str, unread: dict, log: Collector) -> pd.DataFrame:
    """:func:`_known_years` for a frame of records."""
    found = [_unread(unread, *k) for k in zip(table["_file"], table["yjs_id"], table[period])]
    bad = np.array([f is not None for f in found], dtype=bool)
    if bad.any():
        log.reject_rows(table[bad], [_unknown(y, period, p, f) for y, p, f in
                                     zip(table["yjs_id"][bad], table[period][bad], (f for f in found if f))])
    return table[~bad]


# How tables and dashboards say "everyone", beside the population reader's persons codes
_EVERYONE = frozenset({"overall", "both", "bothsexes", "boysandgirls", "girlsandboys", "malesandfemales",
                       "femalesandmales", "everyone", "children", "allchildren", "youngpeople"})


def all_children(sex: str) -> bool:
    """Whether a sex column's cell means all children: empty, ``Total``,
    ``All`` ..., ``Persons``, ``Both``, ``Boys and girls``, ``Overall``,
    ``All children``, ``All genders``, ``Total (all)``."""
    k = key(sex)
    return k in PERSONS or k in _EVERYONE or k.startswith(("all", "total"))


def _all_children(sex: str, column: str) -> None:
    """A row of a table broken down by sex must be for all children (a
    ``Total``, ``All`` or ``Persons`` row, or no sex given): a row for boys or
    girls only would be read as the service's figure (and two equal ones as
    one figure twice, halving it), and boys and girls are not added up here,
    since a total row beside them would then count twice."""
    if not all_children(sex):
        raise RowProblem(f"column {column}: {sex!r} {NOT_ALL_CHILDREN} (Total, All, All children, Persons, Both, "
                         "Boys and girls, Overall, or no sex given) are read")


def _bare_year_files(log: Collector) -> dict[str, tuple[int, str]]:
    """The files with a period quarantined as a bare financial year
    ("2012-13", which is no month), each with that row and its problem."""
    return log.rejected_where(lambda problem: BARE_FINANCIAL_YEAR_HINT in problem)


def _bare_year(period: str, value: pd.Timestamp, found: tuple[int, str]) -> str:
    return (f"{period} {value:%Y-%m}: read as a month, but row {found[0]} of this file is a financial year "
            f"written bare ({found[1].split(': ', 1)[-1].split(' is not')[0]}), so this may be the financial "
            f"year {value:%Y-%m} too; write financial years as FY {value:%Y-%m}")


def _not_financial_years(records: list[Record], period: str, log: Collector) -> list[Record]:
    """The records less those whose period, read as the contract's YYYY-MM
    ("2011-12", December 2011), could be a financial year written bare in a
    file that writes other financial years so ("2012-13", quarantined with a
    hint): read each on its own, a file's years would be read two ways, the
    early ones silently as months."""
    files = _bare_year_files(log)
    kept = []
    for record in records:
        values = record.values
        found = files.get(values["_file"]) if values["_fy"] else None
        values["_fy"] = False  # said; "2011-12" and "Dec 2011" of one figure are one figure
        if found is None:
            kept.append(record)
        else:
            for row in record.rows:
                log.reject(row, _bare_year(period, values[period], found))
    return kept


# a subtotal's label in a column the outcome table's reader does not read (a sentence type, an age group)
_TOTAL = re.compile(r"^(?:all|total|totals|sub-?totals?|grand total|overall)\b|\btotals?$")
SUBTOTAL = ("a subtotal (Total or All in a column not read: a sentence type, an age group) beside the custody "
            "rows it adds up, which are counted instead")


def _says_total(cell: str) -> bool:
    return bool(_TOTAL.search(cell.strip().lower()))


def _subtotals(groups: list[tuple], totals: list[int]) -> list[bool]:
    """Which custody rows of the outcome table are subtotals of others: the
    table's rows that differ in a column not read are parts, summed, so a
    "Total custody" row beside the sentence types it adds up (or "All ages"
    beside the age groups) would count them twice. Of a service's custody
    rows of one year in one file, those with the fewest such labels are the
    parts; the rows with more are set aside. Rows with none (-1: not custody)
    play no part."""
    fewest: dict[tuple, int] = {}
    for group, n in zip(groups, totals):
        if n >= 0:
            fewest[group] = min(n, fewest.get(group, n))
    return [n > fewest[group] if n >= 0 else False for group, n in zip(groups, totals)]


def _without_subtotals(records: list[Record], period: str, log: Collector) -> list[Record]:
    """The records less the outcome table's subtotals (:func:`_subtotals`), quarantined."""
    values = [r.values for r in records]
    set_aside = _subtotals([(v["_file"], v["yjs_id"], v[period]) for v in values], [v["_totals"] for v in values])
    for record, aside in zip(records, set_aside):
        if aside:
            for row in record.rows:
                log.reject(row, SUBTOTAL)
    return [r for r, aside in zip(records, set_aside) if not aside]


def _without_subtotal_rows(table: pd.DataFrame, period: str, log: Collector) -> pd.DataFrame:
    """:func:`_without_subtotals` for a frame of records."""
    totals = table["_totals"].to_numpy()
    if not (totals > 0).any():
        return table
    bad = np.array(_subtotals(list(zip(table["_file"], table["yjs_id"], table[period])), totals.tolist()),
                   dtype=bool)
    if bad.any():
        log.reject_rows(table[bad], [SUBTOTAL] * int(bad.sum()))
        table = table[~bad]
    return table


def _not_financial_year_rows(table: pd.DataFrame, period: str, log: Collector) -> pd.DataFrame:
    """:func:`_not_financial_years` for a frame of records."""
    files = _bare_year_files(log)
    bad = table["_fy"].to_numpy(bool) & table["_file"].isin(list(files)).to_numpy()
    if bad.any():
        log.reject_rows(table[bad], [_bare_year(period, v, files[f])
                                     for v, f in zip(table[period][bad], table["_file"][bad])])
        table = table[~bad]
    return table.assign(_fy=False)  # said; "2011-12" and "Dec 2011" of one figure are one figure


def _financial_year(value: str, column: str) -> pd.Timestamp:
    return plausible_date(financial_year_end(value, column), value, column, "a period's end")


def _month(value: str, column: str) -> pd.Timestamp:
    return plausible_date(month_end(value, column), value, column, "a period's end")


def _months(spec: Indicator, value: str, column: str) -> int:
    if not value and spec.default_months is not None:
        return spec.default_months
    months = parse_int(value, column)
    if spec.allowed_months and months not in spec.allowed_months:
        allowed = " or ".join(map(str, spec.allowed_months))
        raise RowProblem(f"column {column}: {value!r} is not a cohort length ({allowed} months)")
    if months <= 0:
        raise RowProblem(f"column {column}: {value!r} is not a period length in months")
    return months


def _period_months(spec: Indicator, period: str, period_column: str, months_cell: str, months_column: str) -> int:
    """The row's period length: its months cell (:func:`_months`), or the
    length its period says where that is written as a range ("Jan to Mar
    2021") or by its length ("year ending March 2020") and the cell is
    empty; a length given both ways must agree. A 3-month range read as a
    12-month period would be a quarter's count over a year's population."""
    implied = period_length(period)
    if implied is None or months_cell.strip():
        months = _months(spec, months_cell, months_column)
        if implied is not None and implied != months:
            raise RowProblem(f"column {period_column}: {period!r} is a period of {implied} months, "
                             f"but {months_column} says {months}")
        return months
    if spec.allowed_months and implied not in spec.allowed_months:
        allowed = " or ".join(map(str, spec.allowed_months))
        raise RowProblem(f"column {period_column}: {period!r} is a period of {implied} months, "
                         f"not a cohort length ({allowed} months)")
    return implied


def _part_problems(yjs_id: str, units: list[str], matcher: ServiceMatcher) -> list[str | None]:
    """Why each of a file's rows for one service and period, for the local
    authorities ``units`` (:meth:`ServiceMatcher.part`: "" for all), cannot
    be added up with the others (None where it can). Parts must make the
    whole service, once: a part beside the whole service's own figure would
    count twice, and parts that leave an LA out (unnamed or unreadable,
    "Worcestershire" for West Mercia's Worcestershire districts) would sum
    short, flattering the service, as parts that overlap would inflate it."""
    if all(unit == "" for unit in units):
        return [None] * len(units)
    areas, service = matcher.areas[yjs_id], matcher.names[yjs_id]
    parts = [frozenset(unit.split(",")) if unit else None for unit in units]

    def named(codes) -> str:
        return ", ".join(areas[c] for c in sorted(codes, key=lambda c: areas[c]))

    if None in parts:
        return [None if part is None else
                f"{named(part)}: part of {service}, {PART_BESIDE_WHOLE}: added to it, the part would count twice"
                for part in parts]
    distinct = set(parts)
    given = frozenset().union(*distinct)
    if sum(map(len, distinct)) != len(given):
        return [f"{named(part)}: part of {service} given in this file for this period with parts that "
                f"overlap it ({named(given - part) or named(part)}), so their sum would count some twice"
                for part in parts]
    missing = set(areas) - given
    if missing:
        return [f"{named(part)}: part of {service}, whose other local authorities ({named(missing)}) this file "
                "gives no figure for in this period, so the sum of the parts given would be short"
                for part in parts]
    return [None] * len(units)


def _whole_parts(records: list[Record], key: tuple[str, ...], matcher: ServiceMatcher,
                 log: Collector) -> list[Record]:
    """The records whose parts make whole services (:func:`_part_problems`);
    the others quarantined."""
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.values["_file"], *(record.values[k] for k in key))].append(record)
    kept = []
    for group in groups.values():
        problems = _part_problems(group[0].values["yjs_id"], [r.values["_unit"] for r in group], matcher)
        for record, problem in zip(group, problems):
            if problem is None:
                kept.append(record)
            else:
                for row in record.rows:
                    log.reject(row, problem)
    return kept


def _whole_part_rows(parts: pd.DataFrame, key: tuple[str, ...], matcher: ServiceMatcher,
                     log: Collector) -> pd.DataFrame:
    """:func:`_whole_parts` for a frame of records."""
    partial = parts["_unit"].to_numpy() != ""
    if not partial.any():
        return parts
    group = parts.groupby([ROW_FILE, *key], sort=False, dropna=False).ngroup().to_numpy()
    problems = np.full(len(parts), None, dtype=object)  # set for the rows of the groups with a part only
    yjs_id, unit = parts["yjs_id"].to_numpy(), parts["_unit"].to_numpy()
    for members in group_rows(group, np.unique(group[partial])).values():
        problems[members] = _part_problems(yjs_id[members[0]], unit[members].tolist(), matcher)
    bad = pd.notna(problems)
    if bad.any():
        log.reject_rows(parts[bad], problems[bad].tolist())
    return parts[~bad]


def _sum_parts(records: list[Record], key: tuple[str, ...], counts: tuple[str, ...]) -> list[Record]:
    """One record per file and key, its counts summed over the parts listed."""
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.values["_file"], *(record.values[k] for k in key))].append(record)
    summed = []
    for group in groups.values():
        values = {k: v for k, v in group[0].values.items() if not k.startswith("_")}
        for count in counts:  # NaN in any part makes the sum NaN
            values[count] = sum(r.values[count] for r in group)
        values["suppressed"] = any(r.values["suppressed"] for r in group)
        summed.append(Record(tuple(row for r in group for row in r.rows), values))
    return summed


def _sum_part_rows(parts: pd.DataFrame, key: tuple[str, ...], counts: tuple[str, ...],
                   log: Collector) -> tuple[pd.DataFrame, Callable[[pd.DataFrame], list[tuple[Row, ...]]]]:
    """:func:`_sum_parts` for a frame of records, and a function giving each
    sum's input rows (for :func:`resolve_duplicate_rows`)."""
    group = parts.groupby([ROW_FILE, *key], sort=False, dropna=False).ngroup().to_numpy()
    first = first_of_groups(group)
    summed = parts[first].copy()  # sums are numbered by their first part, so row i is sum i
    if not first.all():
        for count in counts:
            values = parts[count].to_numpy(dtype=float)
            total = pd.Series(values).groupby(group).sum().to_numpy()
            for i in np.flatnonzero(~(total < 2**53)):  # beyond exact float sums: add up as the row path does
                total[i] = sum(values[group == i].tolist())
            summed[count] = np.where(pd.Series(np.isnan(values)).groupby(group).any(), math.nan, total)
        summed["suppressed"] = pd.Series(parts["suppressed"].to_numpy()).groupby(group).any().to_numpy()
    sum_of = pd.Series(group, index=parts.index)

    def rows_of(subset: pd.DataFrame) -> list[tuple[Row, ...]]:
        members = group_rows(group, sum_of[subset.index])
        return log.grouped_rows(parts, [members[i] for i in sum_of[subset.index]])

    return summed, rows_of


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)
