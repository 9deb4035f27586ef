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
published parts would understate the count and flatter the service. The same
name twice in a file is a duplicate, not a part.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import (
    RowProblem, financial_year_end, month_end, period_length, plausible_date, parse_count, parse_int,
)
from pipeline.ingest.names import NAME_HEADERS, ServiceMatcher, normalise_name
from pipeline.ingest.results import (
    ROW_FILE, Collector, Ingested, Record, first_of_groups, group_rows, resolve_duplicate_rows, resolve_duplicates,
    row_by_row,
)
from pipeline.ingest.tables import Block, Col, Layout, Row, Sheet, key, read_source

NAME = Col("yjs_name", NAME_HEADERS)


@dataclass(frozen=True)
class Indicator:
    source: str
    period: str  # column holding the last month of the period
    months: str  # column holding the period's length in months
    counts: tuple[str, ...]
    default_months: int | None = 12  # None: the months column is required
    allowed_months: tuple[int, ...] | None = None
    at_most: tuple[tuple[str, str], ...] = ()  # (a, b): a count a may not exceed b

    @property
    def layout(self) -> Layout:
        months = Col(self.months, required=self.default_months is None)
        return Layout("standard", (NAME, Col(self.period), months, *(Col(c) for c in self.counts)))

    @property
    def columns(self) -> dict[str, str]:
        return {"yjs_id": "object", "yjs_name": "object", self.period: "datetime64[ns]",
                self.months: "int64", **{c: "float64" for c in self.counts}, "suppressed": "bool"}

    @property
    def values(self) -> list[str]:
        """A parsed row's values, in the order the row path holds them."""
        return [*self.columns, "_file", "_part"]


FIRST_TIME_ENTRANTS = Indicator("first_time_entrants", "period_end", "period_months", ("fte_count",))
REOFFENDING = Indicator(
    "reoffending", "cohort_end", "cohort_months", ("cohort_size", "reoffenders", "reoffences"),
    default_months=None, allowed_months=(3, 12),
    at_most=(("reoffenders", "cohort_size"), ("reoffenders", "reoffences")),
)
CUSTODY = Indicator("custody", "period_end", "period_months", ("custodial_sentences",))
# Every caution and sentence type of every service and year; custody rows are summed, the
# others are parts of 0 (a service and year with no custody row gave no custodial sentence).
OUTCOME_TABLE = Layout("outcome_table", (
    Col("financial_year"), NAME, Col("caution_or_sentence_tier"), Col("number_cautioned_sentenced"),
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

    def parse_row(row: Row, sheet: Sheet) -> dict | None:
        cells, labels = row.cells, sheet.labels
        if sheet.layout is OUTCOME_TABLE:
            period = _financial_year(cells["financial_year"], labels["financial_year"])
            months = 12
            # cautions and other sentences: no custody, whatever their count
            counts = {"custodial_sentences": parse_count(cells["number_cautioned_sentenced"],
                                                         labels["number_cautioned_sentenced"])
                      if _custody(cells["caution_or_sentence_tier"]) else 0.0}
        else:
            period = _month(cells[spec.period], labels[spec.period])
            months = _period_months(spec, cells[spec.period], labels[spec.period], cells.get(spec.months, ""),
                                    labels.get(spec.months, spec.months))
            counts = {c: parse_count(cells[c], labels[c]) for c in spec.counts}
            for a, b in spec.at_most:
                if counts[a] > counts[b]:  # False when either is NaN
                    raise RowProblem(f"column {labels[a]}: {_num(counts[a])} is more than "
                                     f"{labels[b]} {_num(counts[b])}")
        yjs_id = matcher.lookup(cells["yjs_name"])
        part = row.number if sheet.layout is OUTCOME_TABLE else normalise_name(cells["yjs_name"])
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], spec.period: period,
                spec.months: months, **counts, "suppressed": any(math.isnan(v) for v in counts.values()),
                "_file": row.file, "_part": part}

    def parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """``parse_row`` a column at a time; the rows it refuses are left to it."""
        labels = sheet.labels
        custody = None
        if sheet.layout is OUTCOME_TABLE:
            custody, _ = block.distinct("caution_or_sentence_tier").parse(_custody, bool, False)
            where, column = np.arange(len(block)), labels["financial_year"]
            period, settled = block.distinct("financial_year").parse(lambda v: _financial_year(v, column),
                                                                     "datetime64[ns]", pd.NaT)
            months = np.full(len(block), 12, dtype=np.int64)
            sources = {"custodial_sentences": "number_cautioned_sentenced"}
            part = block.number
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
            part, _ = block.distinct("yjs_name").parse(normalise_name)
        counts = {}
        for count, source in sources.items():
            counts[count], read = block.distinct(source).counts(labels[source])
            if custody is not None:  # as parse_row: only custody rows' counts are read
                counts[count], read = np.where(custody, counts[count], 0.0), read | ~custody
            settled &= read
        for a, b in spec.at_most:
            settled &= ~(counts[a] > counts[b])  # False where either is NaN, as in parse_row
        names = block.distinct("yjs_name")
        yjs_id, matched = names.parse(matcher.lookup)
        settled &= matched
        values = pd.DataFrame({
            "yjs_id": yjs_id, "yjs_name": names.parse(lambda v: matcher.names[matcher.lookup(v)])[0],
            spec.period: period, spec.months: months, **counts,
            "suppressed": np.isnan(np.column_stack(list(counts.values()))).any(axis=1),
            "_file": sheet.file, "_part": part,
        }, index=where)
        return values, settled

    unique = ("yjs_id", spec.period, spec.months)
    sheets = read_source(data_dir, spec.source, layouts)
    if not row_by_row():
        table = log.parse_blocks(sheets, parse_block, parse_row, spec.values)
        if table.duplicated(list(unique)).any():  # else there is nothing to collapse, sum or quarantine
            parts = resolve_duplicate_rows(table, (*unique, "_file", "_part"), spec.values, log)
            summed, rows_of = _sum_part_rows(parts, unique, spec.counts, log)
            table = resolve_duplicate_rows(summed, unique, list(spec.columns), log, rows_of)
        return log.result(table.sort_values(list(unique)), spec.columns)
    records = log.parse(sheets, parse_row)
    parts = resolve_duplicates(records, (*unique, "_file", "_part"), log)
    table = resolve_duplicates(_sum_parts(parts, unique, spec.counts), unique, log)
    order = lambda v: (v["yjs_id"], v[spec.period], v[spec.months])  # noqa: E731
    return log.result(sorted((r.values for r in table), key=order), spec.columns)


def _custody(tier: str) -> bool:
    return key(tier) == "custody"


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
