"""Population aged 10-17 by local authority and year, on the 2024 geography.

Three layouts: long (a row per area, year and age: the contract's, and
Nomis's downloads), wide (ONS's single-year-of-age tables: a row per area, a
column per age) and ONS's time series (a row per area, sex and age, a column
per year).

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
Northamptonshire) are quarantined. Of a workbook with a sheet per sex
(ONS's MYE2: persons, males, females), the persons sheet is read
(:func:`pipeline.ingest.tables.read_source`). In a file with a sex column,
an area's rows for all persons count; without them, its males' and
females' are added up (:func:`_one_count`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import EARLIEST_YEAR, RowProblem, parse_count, parse_int, today
from pipeline.ingest.geography import SplitAreaError, carried_problem, successor
from pipeline.ingest.results import (
    ROW_FILE, ROW_NUMBER, Collector, Ingested, Record, first_of_groups, group_rows, resolve_duplicate_rows,
    resolve_duplicates,
    row_by_row,
)
from pipeline.ingest.tables import Block, Col, IngestError, Layout, Row, Sheet, key, read_source

SOURCE = "population"
COLUMNS = {"la_code": "object", "year": "int64", "population_10_17": "int64"}
AGES = range(10, 18)
# Nomis's CSV downloads (dataset NM_2002_1) name the long layout's columns
# GEOGRAPHY_CODE, DATE or DATE_NAME ("June 2020"), C_AGE_NAME ("Age 10"),
# GENDER or GENDER_NAME, OBS_VALUE; beside them a full download has other
# *_CODE columns and C_AGE (a code, not the age), which the names skip.
_CODE = Col("la_code", ("code", "geography_code"), suffix="code")
# A long file gives every age (and perhaps sex) of ~400 areas over many years,
# but only ages 10-17 are kept, so it may be far longer than other tables.
_SEX = Col("sex", ("gender", "gender_name"), required=False)  # not in the contract's layouts; read where given
# Nomis's MEASURES_NAME (MEASURES): "Value" (20100) is the count; a download
# may also hold "Percent" rows, which are not
_MEASURE = Col("measure", ("measures_name", "measures"), required=False)
LONG = Layout("long", (_CODE, Col("year", ("date", "date_name")), Col("age", ("c_age_name",)),
                       Col("population", ("persons", "obs_value")), _SEX, _MEASURE),
              max_rows=2_000_000)
COUNTS = frozenset({"", "value", "20100", "count", "number", "persons"})  # a measure's values that are counts
WIDE = Layout("wide", (_CODE, Col("year", required=False), *(Col(str(a)) for a in AGES), _SEX))
# ONS's time series (MYEB1-3: ladcode23, laname23, country, sex, age,
# population_2011 ... population_2023, and in MYEB2 the components of change
# beside them): a row per area, sex and age, a column per year
SERIES = Layout("series", (_CODE, Col("age"), _SEX), max_rows=2_000_000,
                series=r"population((?:19|20)\d{2})", series_label="population_YYYY")
# a sex column's values (ONS codes persons 0, males 1, females 2), keyed as :func:`key` keys them
PERSONS = frozenset({"", "persons", "person", "all", "allpersons", "allpeople", "people", "total", "p", "0",
                     "both", "bothsexes", "allsexes", "t"})
MALES = frozenset({"males", "male", "m", "1", "men", "man", "boys", "boy"})
FEMALES = frozenset({"females", "female", "f", "2", "women", "woman", "girls", "girl"})
SEXES = {1: "males", 2: "females"}
# what the quarantine says of a row for one sex beside the area's persons row: set aside by design
PERSONS_COUNT = "the area's rows for all persons count"
# and of a row for an area no service of the lookup covers (see pipeline.ingest.OUTSIDE_LOOKUP)
NOT_IN_LOOKUP = "is not a local authority in the services lookup"
_SAME = {False: "same code, year and age", True: "same code, year, age and sex"}  # a duplicate's, by sex column
# The estimates' year, said so: "mye2020...", "mye22final" (ONS's names from mid-2022), "...mid2020...",
# "Mid-2019", "ukmidyearestimates20192020ladcodes.xls" (ONS's to mid-2019: the estimates' year, then the codes')
_NAMED_YEAR = re.compile(r"(?:mye|mid[-_ ]?year(?:[-_ ]?estimates?)?|mid)[-_ ]?(\d{4}|\d{2}(?!\d))", re.IGNORECASE)
# "mye2013-2020", "mid-2013 to mid-2020": a range of years, of a workbook with a sheet per year
_NAMED_RANGE = re.compile(_NAMED_YEAR.pattern + r"\s*(?:-|\u2013|\bto\b)\s*(?:mid[-_ ]?(?:year[-_ ]?)?)?"
                          r"(\d{4}|\d{2})(?!\d)", re.IGNORECASE)
_BARE_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")  # else a name's only year: "population_2020.csv"
VALUES = ["code", "year", "age", "population", "sex"]  # a parsed row, in the order the row path holds it


def read_population(data_dir: Path, services: pd.DataFrame) -> Ingested:
    """``la_code``, ``year``, ``population_10_17`` for every LA in ``services``."""
    log = Collector(SOURCE)
    sheets = read_source(data_dir, SOURCE, [LONG, WIDE, SERIES])
    file_years = {s.file: _file_year(s) for s in sheets}
    series = {s.file: _series_years(s) for s in sheets if s.layout is SERIES}
    la_codes = set(services["la_code"])

    def parse_row(row: Row, sheet: Sheet) -> dict | list[dict] | None:
        cells, labels = row.cells, sheet.labels
        age = None
        if sheet.layout is not WIDE:  # a row per age
            age = _age(cells["age"], labels["age"])
            if age is None:
                return None
        if sheet.layout is SERIES:  # a record per year, in the columns' order
            counts = [(year, _required(cells[f], labels[f])) for f, year in series[sheet.file].items()]
        elif sheet.layout is LONG:
            if "measure" in cells:
                _count(cells["measure"], labels["measure"])
            population = _required(cells["population"], labels["population"])
        else:
            population = sum(_required(cells[str(a)], labels[str(a)]) for a in AGES)
        sex = _sex(cells["sex"], labels["sex"]) if "sex" in cells else 0
        if sheet.layout is SERIES:
            code = cells["la_code"].upper()
            return [{"code": code, "year": year, "age": age, "population": n, "sex": sex} for year, n in counts]
        year = _year(cells["year"], labels["year"]) if "year" in cells else file_years[sheet.file]
        if year > today().year:  # a projection among the estimates, or a typo
            raise RowProblem(f"column {labels.get('year', 'year')}: {year} is after this year; "
                             "a mid-year estimate cannot be in the future")
        if year < EARLIEST_YEAR:  # a typo (0201 for 2021)
            raise RowProblem(f"column {labels.get('year', 'year')}: {year} is before {EARLIEST_YEAR}; "
                             "a mid-year estimate cannot be that old")
        return {"code": cells["la_code"].upper(), "year": year, "age": age, "population": population, "sex": sex}

    def parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """``parse_row`` a column at a time; the rows it refuses are left to it."""
        labels = sheet.labels
        if sheet.layout is SERIES:
            return parse_series(block, sheet)
        if sheet.layout is LONG:
            block, where, age, settled = _wanted_ages(block, labels)
            population, read = block.distinct("population").counts(labels["population"])
            settled &= read & ~np.isnan(population)  # as _required
            if block.has("measure"):
                settled &= block.distinct("measure").parse(lambda v: _count(v, labels["measure"]))[1]
        else:
            where, age = np.arange(len(block)), np.full(len(block), None, dtype=object)
            population, settled = np.zeros(len(block)), np.ones(len(block), dtype=bool)
            for a in AGES:  # added in order, as sum() does (exact below 2**53)
                count, read = block.distinct(str(a)).counts(labels[str(a)])
                population, settled = population + count, settled & read & ~np.isnan(count)  # as _required
            settled &= population < 2**53
        sex, read = _sexes(block, labels)
        settled &= read
        if block.has("year"):
            year, read = block.distinct("year").parse(lambda v: _year(v, labels["year"]), "int64", 0)
            settled &= read
        else:
            year = np.full(len(block), file_years[sheet.file], dtype=np.int64)
        settled &= (year <= latest_year) & (year >= EARLIEST_YEAR)
        code, _ = block.distinct("la_code").parse(str.upper)
        values = pd.DataFrame({"code": code, "year": year, "age": age, "population": population, "sex": sex},
                              index=where)
        return values, settled

    def parse_series(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """:func:`parse_block` for a table with a column per year: a record per
        row and year (row by row, year by year); a row settled only if all are."""
        labels, years = sheet.labels, series[sheet.file]
        block, where, age, settled = _wanted_ages(block, labels)
        counts = []
        for f in years:
            count, read = block.distinct(f).counts(labels[f])
            settled &= read & ~np.isnan(count)  # as _required
            counts.append(count)
        sex, read = _sexes(block, labels)
        settled &= read
        code, _ = block.distinct("la_code").parse(str.upper)
        n = len(years)
        values = pd.DataFrame({"code": np.repeat(code, n), "year": np.tile(list(years.values()), len(block)),
                               "age": np.repeat(age, n), "population": np.stack(counts, axis=1).ravel(),
                               "sex": np.repeat(sex, n)}, index=np.repeat(where, n))
        return values, np.repeat(settled, n)

    latest_year = today().year
    if not row_by_row():
        by_sex = {s.file for s in sheets if "sex" in s.labels}
        return _sum_frame(log, log.parse_blocks(sheets, parse_block, parse_row, VALUES), la_codes, by_sex)
    records = log.parse(sheets, parse_row)
    by_area: dict[tuple, list[Record]] = defaultdict(list)
    seen: dict[tuple, Row] = {}
    for record in records:
        values, row = record.values, record.rows[0]
        same = (row.file, values["code"], values["year"], values["age"], values["sex"])
        if same in seen:
            log.reject(row, f"duplicate of row {seen[same].number} ({_SAME['sex' in row.cells]})")
            continue
        seen[same] = row
        by_area[(row.file, values["code"], values["year"])].append(record)
    sums: dict[tuple, list[Record]] = defaultdict(list)
    for (file, code, year), group in by_area.items():
        group = _one_count(group, code, year, log)
        if not group:
            continue
        try:
            target = _carry(code, la_codes)
        except RowProblem as problem:
            for record in group:
                log.reject(record.rows[0], str(problem))
            continue
        # a county and its districts are compared, not added (see the module doc)
        kind = "direct" if target == code else "county" if code.startswith("E10") else "carried"
        sums[(file, target, year, kind)].extend(group)
    for (file, target, year, kind), group in list(sums.items()):
        why = carried_problem(target, {r.values["code"] for r in group}) if kind == "carried" else None
        if why:
            for record in group:
                log.reject(record.rows[0], _short(record.values["code"], target, year, why))
            del sums[(file, target, year, kind)]
    totals = [
        Record(tuple(r.rows[0] for r in group), {
            "la_code": target, "year": year,
            "population_10_17": int(round(sum(r.values["population"] for r in group))),
        })
        for (_, target, year, _), group in sums.items()
    ]
    table = [r.values for r in resolve_duplicates(totals, ("la_code", "year"), log)]
    return log.result(sorted(table, key=lambda v: (v["la_code"], v["year"])), COLUMNS)


def _sum_frame(log: Collector, frame: pd.DataFrame, la_codes: set[str], by_sex: set[str]) -> Ingested:
    """The rest of :func:`read_population` for a frame of records: the same
    checks and sums, with the same messages, on numbered files and codes
    (``by_sex``: the files with a sex column)."""
    file = pd.factorize(frame[ROW_FILE])[0]
    code, codes = pd.factorize(frame["code"])  # each row's code, as a number into codes
    year, age = frame["year"].to_numpy(dtype=np.int64), frame["age"].to_numpy()
    age = np.where(pd.notna(age), age, 0).astype(np.int64)  # 0: a wide file's row, all ages at once
    sex = frame["sex"].to_numpy(dtype=np.int64)

    def reject(bad: np.ndarray, problems) -> None:
        nonlocal frame, file, code, year, age, sex
        if bad.any():
            log.reject_rows(frame[bad], problems if isinstance(problems, list) else problems(bad))
            frame, file, code, year, age, sex = (a[~bad] for a in (frame, file, code, year, age, sex))

    def in_area(bad: np.ndarray, what) -> list[str]:
        # "la_code <code> year <year>: <what(sex)>" for each bad row
        return [f"la_code {codes[c]} year {y}: {what(x)}" for c, y, x in zip(code[bad], year[bad], sex[bad])]

    same = _groups(file, code, year, age, sex)
    repeat = ~first_of_groups(same)
    first = frame[ROW_NUMBER].to_numpy()[first_of_groups(same)][same[repeat]]
    reject(repeat, [f"duplicate of row {n} ({_SAME[f in by_sex]})" for n, f in zip(first, frame[ROW_FILE][repeat])])
    # as _one_count: one sex beside persons; ages incomplete (of a sex); one sex without the other
    area = _groups(file, code, year)
    beside = (sex > 0) & (np.bincount(area, weights=sex == 0) > 0)[area]
    reject(beside, lambda bad: in_area(bad, lambda x: f"a row for {SEXES[x]}; {PERSONS_COUNT}"))
    area = _groups(file, code, year, sex)
    first = np.flatnonzero(first_of_groups(area))  # each area's (or its sex's) first row
    # each one's ages, as bits (its ages are distinct, so their sum)
    present = np.bincount(area, weights=np.left_shift(1, age), minlength=len(first)).astype(np.int64)
    short = {}  # area -> its problem
    for i in np.flatnonzero((age[first] > 0) & (present != sum(1 << a for a in AGES))):
        try:
            _complete({a for a in AGES if present[i] >> a & 1}, codes[code[first[i]]], year[first[i]],
                      sex[first[i]])
        except RowProblem as incomplete:
            short[i] = str(incomplete)
    incomplete = np.isin(area, list(short))
    reject(incomplete, [short[i] for i in area[incomplete]])
    area = _groups(file, code, year)
    both = (np.bincount(area, weights=sex == 1) > 0) & (np.bincount(area, weights=sex == 2) > 0)
    alone = (sex > 0) & ~both[area]
    reject(alone, lambda bad: in_area(bad, lambda x: f"{SEXES[x]} only; the population counted is of "
                                                     "all persons (give persons, or males and females)"))
    # a code that cannot be carried
    targets, problems = [], []
    for c in codes:
        try:
            targets.append(_carry(c, la_codes))
            problems.append(None)
        except RowProblem as problem:
            targets.append(None)
            problems.append(str(problem))
    reject(np.array([p is not None for p in problems], dtype=bool)[code],
           lambda bad: np.array(problems, dtype=object)[code[bad]].tolist())
    # a county and its districts are compared, not added (see the module doc)
    kind = np.array([0 if t == c else 1 if c.startswith("E10") else 2 for c, t in zip(codes, targets)])
    # a successor of which the file lacks a part, or gives one beside its own parts
    carried = np.flatnonzero(kind[code] == 2)
    given = defaultdict(set)  # (file, successor, year) -> the codes carried to it
    for f, c, y in set(zip(file[carried].tolist(), code[carried].tolist(), year[carried].tolist())):
        given[(f, targets[c], y)].add(codes[c])
    problems = {k: why for k, parts in given.items() if (why := carried_problem(k[1], parts))}
    if problems:
        wrong = np.zeros(len(frame), dtype=bool)
        wrong[carried] = [(f, targets[c], y) in problems
                          for f, c, y in zip(file[carried], code[carried], year[carried])]
        reject(wrong, lambda bad: [_short(codes[c], targets[c], y, problems[(f, targets[c], y)])
                                   for f, c, y in zip(file[bad], code[bad], year[bad])])
    area = _groups(file, code, year)
    target, la_code = pd.factorize(pd.Series(targets, dtype=object))
    group = _groups(file, target[code], year, kind[code])
    first = first_of_groups(group)
    population = frame["population"].to_numpy(dtype=float)
    sums = np.bincount(group, weights=population, minlength=first.sum())
    for i in np.flatnonzero(~(sums < 2**53)):  # beyond exact float sums: add up as the row path does
        rows = np.flatnonzero(group == i)
        sums[i] = sum(population[rows[np.argsort(area[rows], kind="stable")]].tolist())
    sums = np.round(sums)  # past int64, Python ints: result() then casts them as on the row path
    totals = pd.DataFrame({"la_code": la_code[target[code[first]]], "year": year[first],
                           "population_10_17": sums.astype(np.int64) if (sums < 2**63).all() else
                           [int(s) for s in sums]}, index=frame.index[first])
    total_of = pd.Series(group[first], index=totals.index)

    def rows_of(subset: pd.DataFrame) -> list[tuple[Row, ...]]:
        # a total's rows area by area, as the row path gathers them
        members = group_rows(group, total_of[subset.index])
        return log.grouped_rows(frame, [members[i][np.argsort(area[members[i]], kind="stable")]
                                        for i in total_of[subset.index]])

    table = resolve_duplicate_rows(totals, ("la_code", "year"), list(COLUMNS), log, rows_of)
    return log.result(table.sort_values(["la_code", "year"]), COLUMNS)


def _wanted_ages(block: Block, labels: dict[str, str]) -> tuple[Block, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a block with a row per age that are not of unwanted ages
    (as :func:`_age` says, rows it refuses among them): those rows, their
    positions in the block, their ages, and whether each age was read."""
    age, known = block.distinct("age").parse(lambda v: _age(v, labels["age"]))
    where = np.flatnonzero(~known | pd.notna(age))
    if len(where) < len(block):
        block, age = block.take(where), age[where]
    return block, where, age, known[where]


def _sexes(block: Block, labels: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's sex (:func:`_sex`; 0 without a sex column) and whether it was read."""
    if not block.has("sex"):
        return np.zeros(len(block), dtype=np.int64), np.ones(len(block), dtype=bool)
    return block.distinct("sex").parse(lambda v: _sex(v, labels["sex"]), "int64", 0)


def _groups(*keys: np.ndarray) -> np.ndarray:
    """Each row's group of equal (whole-number) keys, numbered in order of first appearance."""
    combined, span = np.zeros(len(keys[0]), dtype=np.int64), 1
    for k in keys:
        k = k - k.min() if len(k) else k
        width = int(k.max()) + 1 if len(k) else 1
        if span * width >= 2**62:  # renumber what is combined so far before it could overflow
            combined = pd.factorize(combined)[0]
            span = int(combined.max()) + 1 if len(combined) else 1
        combined, span = combined * width + k, span * width
    return pd.factorize(combined)[0]


_AGE_IN_WORDS = re.compile(r"(?:aged?\s*)?(\d+)\s*(?:years?(?:\s*old)?)?", re.IGNORECASE)  # "Age 10", "10 years"
# "90+", "Aged 16 and over", "Age 10-14", "10 to 14"
_AGE_BAND = re.compile(r"(?:aged?\s*)?\d+\s*(?:\+|and\s+(?:over|older)|(?:-|\u2013|to)\s*\d+)\s*(?:years?)?",
                       re.IGNORECASE)


def _age(value: str, column: str) -> int | None:
    """An age of 10-17, None for other ages, bands of ages ("Aged 16+",
    "Age 10-14", and the top band "90+", whose ages are not counted) and
    totals ("All ages"): a band is not a single age, and "Aged 16+" read as
    16 would count everyone over 16."""
    if key(value) in ("all", "allages", "total") or _AGE_BAND.fullmatch(value.strip()):
        return None
    words = _AGE_IN_WORDS.fullmatch(value.strip())
    age = int(words[1]) if words else parse_int(value, column)
    return age if age in AGES else None


_YEAR_IN_WORDS = re.compile(r"(?:mid(?:[\s-]*year)?|june?)[\s-]*((?:19|20)\d{2})", re.IGNORECASE)  # "June 2020"


def _year(value: str, column: str) -> int:
    """A mid-year estimate's year: a whole number, or as Nomis and ONS write
    it in words ("June 2020", "Mid-2020")."""
    words = _YEAR_IN_WORDS.fullmatch(value.strip())
    return int(words[1]) if words else parse_int(value, column)


def _count(measure: str, column: str) -> None:
    """Refuse a row whose measure is not the count (Nomis's "Percent")."""
    if key(measure) not in COUNTS:
        raise RowProblem(f"column {column}: {measure!r} is not a count of people (choose the measure Value)")


def _sex(value: str, column: str) -> int:
    """0 for all persons, 1 for males, 2 for females."""
    k = key(value)
    if k in PERSONS:
        return 0
    if k in MALES or k in FEMALES:
        return 1 if k in MALES else 2
    raise RowProblem(f"column {column}: {value!r} is not persons, males or females")


def _one_count(group: list[Record], code: str, year: int, log: Collector) -> list[Record]:
    """The records of an area (a file's code and year) that count, each age
    once: its rows for all persons if it has any, else its males' and its
    females' added up. The others are quarantined: rows of one sex beside
    persons (they would count children twice), a sex (or persons) whose
    ages 10-17 are incomplete in a long file, and one sex without the other."""
    def reject(records: list[Record], problem: str) -> None:
        for record in records:
            log.reject(record.rows[0], problem)

    by_sex: dict[int, list[Record]] = defaultdict(list)
    for record in group:
        by_sex[record.values["sex"]].append(record)
    if 0 in by_sex:
        for sex in (1, 2):
            reject(by_sex.pop(sex, []), f"la_code {code} year {year}: a row for {SEXES[sex]}; {PERSONS_COUNT}")
    for sex in sorted(by_sex):
        try:
            _complete({r.values["age"] for r in by_sex[sex]}, code, year, sex)
        except RowProblem as problem:
            reject(by_sex.pop(sex), str(problem))
    if len(by_sex) == 1 and 0 not in by_sex:
        (sex, records), = by_sex.items()
        reject(records, f"la_code {code} year {year}: {SEXES[sex]} only; the population counted is of "
                        "all persons (give persons, or males and females)")
        return []
    return [r for r in group if r.values["sex"] in by_sex]  # in the file's order


def _required(value: str, column: str) -> float:
    number = parse_count(value, column)
    if math.isnan(number):
        raise RowProblem(f"column {column}: {value!r} is not published; a population is required")
    return number


def _complete(ages: set[int | None], code: str, year: int, sex: int = 0) -> None:
    """A long-layout area must give every age 10-17 (of each sex it is
    given by), or its sum would be short."""
    missing = sorted(set(AGES) - ages)
    if None not in ages and missing:
        listed = ", ".join(map(str, missing))
        of = f" of {SEXES[sex]}" if sex else ""
        raise RowProblem(f"la_code {code} year {year}: ages 10-17{of} incomplete, missing {listed}")


def _carry(code: str, la_codes: set[str]) -> str:
    """The 2024 code for ``code``, which must be an LA of the services lookup."""
    if not code:
        raise RowProblem("column la_code: empty; an LA code is required")
    try:
        target = successor(code, la_codes)
    except SplitAreaError as split:
        raise RowProblem(f"la_code {split}") from None
    if target not in la_codes:
        carried = f" (carried to {target})" if target != code else ""
        if target.startswith("E10"):
            why = (": a two-tier county, and the lookup's services are made of districts, so only "
                   "district rows count (ONS's lower-tier file)")
        elif target.startswith("E07") and any(c.startswith("E10") for c in la_codes):
            why = (": a district of a two-tier county, and the lookup lists counties (E10 codes), so "
                   "the county's row counts (ONS's upper-tier file)")
        else:
            why = ""
        raise RowProblem(f"la_code {code}{carried} {NOT_IN_LOOKUP}{why}")
    return target


def _short(code: str, target: str, year: int, why: str) -> str:
    return f"la_code {code} (carried to {target}) year {year}: the file {why}"


def _series_years(sheet: Sheet) -> dict[str, int]:
    """A time series' year columns: field -> year, none after this year."""
    years = {f: int(re.fullmatch(SERIES.series, f)[1]) for f in sheet.found if re.fullmatch(SERIES.series, f)}
    future = [f for f, year in years.items() if year > today().year]
    if future:
        raise IngestError(f"{sheet.file}: column {sheet.labels[future[0]]} is after this year; a mid-year "
                          "estimate cannot be in the future (a projection?)")
    return years


def _is_range(name: str) -> bool:
    """Whether ``name`` names a range of years (a later year after a named one)."""
    def year(y: str) -> int:
        return int(y) + 2000 if len(y) == 2 else int(y)
    return any(year(last) > year(first) for first, last in _NAMED_RANGE.findall(name))


def _file_year(sheet: Sheet) -> int | None:
    """The year of a wide table without a year column, from its sheet's name
    (a workbook with a sheet per year) or else its file's name (``mye2020...``)."""
    if sheet.layout is not WIDE or "year" in sheet.labels:
        return None
    # a year said so, in the sheet's name (a sheet per year) or else the file's, before a bare one;
    # a file named for a range of years ("mye2013-2020_...", a sheet per year) says none of them
    title, file = sheet.title or "", Path(sheet.source_file).name
    for pattern, name in ((_NAMED_YEAR, title), (_NAMED_YEAR, "" if _is_range(file) else file),
                          (_BARE_YEAR, title), (_BARE_YEAR, file)):
        years = sorted({int(y) + 2000 if len(y) == 2 else int(y) for y in pattern.findall(name)})
        if len(years) == 1:
            return years[0]
        if years:  # "la_2020_boundaries_2019.csv": the boundaries' year or the estimates'?
            raise IngestError(f"{sheet.file}: no year column, and {name!r} names the years "
                              f"{' and '.join(map(str, years))}; say which is the estimates' year with a year "
                              "column or in the name (mye2020_..., ..._mid-2020_...)")
    raise IngestError(f"{sheet.file}: no year column and no year in the file name (like mye2020_...)")
