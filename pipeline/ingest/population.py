"""Population aged 10-17 by local authority and year, on the 2024 geography.

ONS publishes mid-year estimates on the geography of their year, so codes are
carried to their successor (:mod:`pipeline.ingest.geography`) and summed:
several 2020 districts make one 2023 unitary.

A folder may hold both the lower- and upper-tier files, so a figure may arrive
twice: unitaries are in both, and a county that became a unitary (North
Yorkshire, Somerset) arrives as the county row and as its districts. Sums are
therefore made per file and per kind of code (unchanged, carried district,
carried county) and compared, never added: copies that agree are kept once,
copies that disagree are all quarantined. Rows for areas outside the services
lookup (other counties, regions, countries) and for split counties (Cumbria,
Northamptonshire) are quarantined.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from pipeline.ingest.cells import RowProblem, parse_count, parse_int, today
from pipeline.ingest.geography import SplitAreaError, successor
from pipeline.ingest.results import Collector, Ingested, Record, resolve_duplicates
from pipeline.ingest.tables import Col, IngestError, Layout, Row, Sheet, key, read_source

SOURCE = "population"
COLUMNS = {"la_code": "object", "year": "int64", "population_10_17": "int64"}
AGES = range(10, 18)
_CODE = Col("la_code", ("code",), suffix="code")
# A long file gives every age (and perhaps sex) of ~400 areas over many years,
# but only ages 10-17 are kept, so it may be far longer than other tables.
LONG = Layout("long", (_CODE, Col("year"), Col("age"), Col("population", ("persons",))),
              max_rows=2_000_000)
WIDE = Layout("wide", (_CODE, Col("year", required=False), *(Col(str(a)) for a in AGES)))
_FILE_YEAR = re.compile(r"mye(\d{4})|(?<!\d)((?:19|20)\d{2})(?!\d)", re.IGNORECASE)


def read_population(data_dir: Path, services: pd.DataFrame) -> Ingested:
    """``la_code``, ``year``, ``population_10_17`` for every LA in ``services``."""
    log = Collector(SOURCE)
    sheets = read_source(data_dir, SOURCE, [LONG, WIDE])
    file_years = {s.file: _file_year(s) for s in sheets}
    la_codes = set(services["la_code"])

    def parse_row(row: Row, sheet: Sheet) -> dict | None:
        cells, labels = row.cells, sheet.labels
        age = None
        if sheet.layout is LONG:
            if key(cells["age"]) in ("all", "allages", "total"):
                return None
            age = parse_int(cells["age"].rstrip("+"), labels["age"])
            if age not in AGES:
                return None
            population = _required(cells["population"], labels["population"])
        else:
            population = sum(_required(cells[str(a)], labels[str(a)]) for a in AGES)
        year = parse_int(cells["year"], labels["year"]) if "year" in cells else file_years[sheet.file]
        if year > today().year:  # a projection among the estimates, or a typo
            raise RowProblem(f"column {labels.get('year', 'year')}: {year} is after this year; "
                             "a mid-year estimate cannot be in the future")
        return {"code": cells["la_code"].upper(), "year": year, "age": age, "population": population}

    records = log.parse(sheets, parse_row)
    by_area: dict[tuple, list[Record]] = defaultdict(list)
    seen: dict[tuple, Row] = {}
    for record in records:
        values, row = record.values, record.rows[0]
        same = (row.file, values["code"], values["year"], values["age"])
        if same in seen:
            log.reject(row, f"duplicate of row {seen[same].number} (same code, year and age)")
            continue
        seen[same] = row
        by_area[(row.file, values["code"], values["year"])].append(record)
    sums: dict[tuple, list[Record]] = defaultdict(list)
    for (file, code, year), group in by_area.items():
        try:
            _complete(group, code, year)
            target = _carry(code, la_codes)
        except RowProblem as problem:
            for record in group:
                log.reject(record.rows[0], str(problem))
            continue
        # a county and its districts are compared, not added (see the module doc)
        kind = "direct" if target == code else "county" if code.startswith("E10") else "carried"
        sums[(file, target, year, kind)].extend(group)
    totals = [
        Record(tuple(r.rows[0] for r in group), {
            "la_code": target, "year": year,
            "population_10_17": int(round(sum(r.values["population"] for r in group))),
        })
        for (_, target, year, _), group in sums.items()
    ]
    table = [r.values for r in resolve_duplicates(totals, ("la_code", "year"), log)]
    return log.result(sorted(table, key=lambda v: (v["la_code"], v["year"])), COLUMNS)


def _required(value: str, column: str) -> float:
    number = parse_count(value, column)
    if math.isnan(number):
        raise RowProblem(f"column {column}: {value!r} is not published; a population is required")
    return number


def _complete(group: list[Record], code: str, year: int) -> None:
    """A long-layout area must give every age 10-17, or its sum would be short."""
    ages = {r.values["age"] for r in group}
    missing = sorted(set(AGES) - ages)
    if None not in ages and missing:
        listed = ", ".join(map(str, missing))
        raise RowProblem(f"la_code {code} year {year}: ages 10-17 incomplete, missing {listed}")


def _carry(code: str, la_codes: set[str]) -> str:
    """The 2024 code for ``code``, which must be an LA of the services lookup."""
    if not code:
        raise RowProblem("column la_code: empty; an LA code is required")
    try:
        target = successor(code)
    except SplitAreaError as split:
        raise RowProblem(f"la_code {split}") from None
    if target not in la_codes:
        carried = f" (carried to {target})" if target != code else ""
        raise RowProblem(f"la_code {code}{carried} is not a local authority in the services lookup")
    return target


def _file_year(sheet: Sheet) -> int | None:
    """The year of a wide file without a year column, from its name (``mye2020...``)."""
    if sheet.layout is LONG or "year" in sheet.labels:
        return None
    match = _FILE_YEAR.search(Path(sheet.file).name)
    if not match:
        raise IngestError(f"{sheet.file}: no year column and no year in the file name (like mye2020_...)")
    return int(match[1] or match[2])
