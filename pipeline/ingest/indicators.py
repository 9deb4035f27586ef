"""The three per-service indicators: first-time entrants, reoffending, custody.

They share one shape (a service, a period, some counts that may be
suppressed), so one reader driven by an :class:`Indicator` definition reads
all three; only custody has a second layout, the YJB local-level
``Outcome_Table``, whose custody rows are summed per service and year.

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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.ingest.cells import (
    RowProblem, financial_year_end, month_end, not_future, parse_count, parse_int,
)
from pipeline.ingest.names import ServiceMatcher, normalise_name
from pipeline.ingest.results import Collector, Ingested, Record, resolve_duplicates
from pipeline.ingest.tables import Col, Layout, Row, Sheet, key, read_source

NAME = Col("yjs_name", ("yjs",))


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


FIRST_TIME_ENTRANTS = Indicator("first_time_entrants", "period_end", "period_months", ("fte_count",))
REOFFENDING = Indicator(
    "reoffending", "cohort_end", "cohort_months", ("cohort_size", "reoffenders", "reoffences"),
    default_months=None, allowed_months=(3, 12),
    at_most=(("reoffenders", "cohort_size"), ("reoffenders", "reoffences")),
)
CUSTODY = Indicator("custody", "period_end", "period_months", ("custodial_sentences",))
# Every caution and sentence type of every service and year; only custody rows are kept.
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
            if key(cells["caution_or_sentence_tier"]) != "custody":
                return None  # cautions and community sentences are not this indicator
            column = labels["financial_year"]
            period = not_future(financial_year_end(cells["financial_year"], column),
                                cells["financial_year"], column, "a period's end")
            months = 12
            counts = {"custodial_sentences": parse_count(cells["number_cautioned_sentenced"],
                                                         labels["number_cautioned_sentenced"])}
        else:
            period = not_future(month_end(cells[spec.period], labels[spec.period]),
                                cells[spec.period], labels[spec.period], "a period's end")
            months = _months(spec, cells.get(spec.months, ""), labels.get(spec.months, spec.months))
            counts = {c: parse_count(cells[c], labels[c]) for c in spec.counts}
            for a, b in spec.at_most:
                if counts[a] > counts[b]:  # False when either is NaN
                    raise RowProblem(f"column {labels[a]}: {_num(counts[a])} is more than "
                                     f"{labels[b]} {_num(counts[b])}")
        yjs_id = matcher.match(cells["yjs_name"])
        if yjs_id is None:
            raise RowProblem(f"service name {cells['yjs_name']!r} matches no service in the services lookup")
        part = row.number if sheet.layout is OUTCOME_TABLE else normalise_name(cells["yjs_name"])
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], spec.period: period,
                spec.months: months, **counts, "suppressed": any(math.isnan(v) for v in counts.values()),
                "_file": row.file, "_part": part}

    unique = ("yjs_id", spec.period, spec.months)
    records = log.parse(read_source(data_dir, spec.source, layouts), parse_row)
    parts = resolve_duplicates(records, (*unique, "_file", "_part"), log)
    table = resolve_duplicates(_sum_parts(parts, unique, spec.counts), unique, log)
    order = lambda v: (v["yjs_id"], v[spec.period], v[spec.months])  # noqa: E731
    return log.result(sorted((r.values for r in table), key=order), spec.columns)


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


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)
