"""The readers' column path gives exactly what the row path gives.

Every reader parses a block of rows a column at a time and leaves only the
rows it cannot settle to the row parser (see :mod:`pipeline.ingest.results`).
The row path, selected by ``one_row_at_a_time()``, is the reference: for the
demo data, the real published files, the corpus of bad inputs and messy
inputs written here, both paths must give the same table, quarantine (file,
row number, problem, raw cells) and file list, or fail with the same error.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from pipeline import ingest
from pipeline.ingest import services as services_module
from pipeline.ingest import tables
from pipeline.ingest.cells import dates_allowed_up_to
from pipeline.ingest.results import one_row_at_a_time
from tests.conftest import DEMO_DIR
from tests.corpus import base
from tests.corpus.cases import CASES

READERS = {source: getattr(ingest, f"read_{source}") for source in ingest.SOURCES}


def outcome(source: str, data_dir: Path, services: pd.DataFrame | None):
    """What a reader gives: its Ingested, or the error it raises (type and message)."""
    try:
        return READERS[source](data_dir) if source == "services" else READERS[source](data_dir, services)
    except Exception as error:  # noqa: BLE001 - any error must be the same on both paths
        return type(error), str(error)


def assert_same(source: str, data_dir: Path, services: pd.DataFrame | None = None) -> None:
    fast = outcome(source, data_dir, services)
    with one_row_at_a_time():
        slow = outcome(source, data_dir, services)
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return
    identical(fast.table, slow.table)
    identical(fast.quarantine, slow.quarantine)
    # ingested_at is the moment of each read
    identical(fast.files.drop(columns="ingested_at"), slow.files.drop(columns="ingested_at"))
    assert fast.files["ingested_at"].dtype == slow.files["ingested_at"].dtype


def identical(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal values exactly, of the same dtypes and, in object columns, the same types (None is not NaN)."""
    assert_frame_equal(left, right, check_exact=True, check_index_type=True)
    for column in left.columns[left.dtypes == object]:
        assert list(map(type, left[column])) == list(map(type, right[column])), column


def assert_dir_same(data_dir: Path, sources=ingest.SOURCES) -> None:
    """Every source of a data dir, the other readers given the row path's services."""
    with one_row_at_a_time():
        services = ingest.read_services(data_dir).table
    for source in sources:
        assert_same(source, data_dir, services)


def write(data_dir: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    base.write(data_dir, name, text, encoding)


def assert_files_same(source: str, stem: str, texts: list[str]) -> None:
    """Each of ``texts`` as a CSV file of ``source`` (``<stem><i>.csv``,
    beside the corpus base's), read alike by both paths."""
    with tempfile.TemporaryDirectory() as folder:
        data_dir = base.build(Path(folder) / "data")
        for i, text in enumerate(texts):
            write(data_dir, f"{source}/{stem}{i}.csv", text)
        assert_dir_same(data_dir, [source])


def csv_text(columns: list[str], rows: list[tuple]) -> str:
    """``rows`` as CSV under ``columns``, whose last is optional: None in
    every row leaves the column out, None in some leaves their cells empty."""
    optional = any(r[-1] is not None for r in rows)
    text = io.StringIO()
    csv.writer(text).writerows([columns if optional else columns[:-1],
                                *[r[:-1] + ((r[-1] or "",) if optional else ()) for r in rows]])
    return text.getvalue()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, taken a couple of rows at a time: every boundary case."""
    monkeypatch.setattr(tables, "BLOCK_ROWS", 4)
    monkeypatch.setattr(tables, "_BATCH", 3)


# --- the demo data and the real published files ----------------------------


def test_demo_data():
    assert_dir_same(DEMO_DIR)


def test_demo_data_in_small_blocks(monkeypatch):
    monkeypatch.setattr(tables, "BLOCK_ROWS", 700)
    monkeypatch.setattr(tables, "_BATCH", 50)
    assert_dir_same(DEMO_DIR)


def test_demo_data_as_of_a_later_date():
    with dates_allowed_up_to(dt.date(2040, 1, 1)):
        assert_dir_same(DEMO_DIR)


def test_real_files(real_data_dir):
    assert_dir_same(real_data_dir)


def test_real_population_files_each_alone(tmp_path, real_dir):
    (tmp_path / "services").mkdir()
    shutil.copy(real_dir / "la_to_yjs_crosswalk_2024.csv", tmp_path / "services")
    for name in ("mye2020_persons_sya_ltla20_ew.csv", "mye2020_persons_sya_utla20_ew.csv"):
        (tmp_path / "population").mkdir(exist_ok=True)
        for old in (tmp_path / "population").iterdir():
            old.unlink()
        shutil.copy(real_dir / name, tmp_path / "population" / name)
        assert_dir_same(tmp_path, ["population"])


# --- the corpus of bad inputs ------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case, tmp_path):
    data_dir = base.build(tmp_path / "data")
    case.files(data_dir)
    if case.source == "services" and case.expect == "stop":  # no services for the other readers
        assert_same("services", data_dir)
        return
    assert_dir_same(data_dir, ["services", case.source])


# --- messy inputs ------------------------------------------------------------

FTE_HEAD = "yjs_name,period_end,period_months,fte_count,notes\n"
MESSY = {
    "fte_markers_and_numbers": ("first_time_entrants/fte.csv", FTE_HEAD + "".join(
        f"Bolton,{year}-03,12,{v}\n" for year, v in enumerate(
            ['*', '..', ' x ', 'X', '[c]', '[X]', '[z]', '-', '', '" 1,234 "', '12.0', '+5', '-0', '1e3',
             '"12,34"', '١٢', '１２', '9' * 400, '0012'], start=2000))
        + "Hartlepool,2020-03,,7,\nHartlepool,2020-06,6,7,\nHartlepool,2020-09,0,7,\nHartlepool,2020-12,-3,7,\n"
        + "Hartlepool,2021-03,12.0,7,\nHartlepool,2021-06,three,7,\n"),
    "fte_dates": ("first_time_entrants/fte.csv", FTE_HEAD + "".join(
        f"Bolton,{p},12,5,\n" for p in ["2020-03-15", "15/03/2020", "2020/06", "2020-13", "March 2020", "2099-01",
                                        "31/02/2020", "2020-02-30", "0000-01", "5000-01", "2020-1", " 2020-09 "])),
    "fte_names": ("first_time_entrants/fte.csv", FTE_HEAD
                  + "Atlantis,2020-03,12,5,\n Bolton YOS ,2020-03,12,5,\nHULL,2020-03,12,6,\n"
                  + "Kingston upon Hull YOT,2020-06,12,6,\nBolton - JI,2020-06,12,5,\n"
                  + "Herefordshire,2020-03,12,3,\nShropshire,2020-03,12,4,\nHerefordshire,2020-06,12,3,\n"
                  + "Shropshire,2020-06,12,*,\nWest Mercia,2020-09,12,5,\nWest Mercia,2020-09,12,5,\n"
                  + "West Mercia,2020-12,12,5,\nWest Mercia,2020-12,12,6,\n,2020-03,12,5,\n"),
    "fte_layout": ("first_time_entrants/fte.csv",
                   "Title of the table\n\nyjs_name;period_end;fte_count\nBolton;2020-03;5\n\n;;\n"
                   "Bolton;2020-06;6;extra;cells\nHartlepool;2020-06\nSource: YJB\n1 Provisional;;\n"
                   '"Green\nwich";2020-06;3\n"Greenwich";"2020-09";"4"\nGreenwich;2020-12;a"b"c\n'
                   'Greenwich;2021-03;"1"2\nBolton;2021-03;\x1f5\n  ;  ;  \n;;;;x\nNote;;;;\n'),
    "fte_long_and_short_rows": ("first_time_entrants/fte.csv", "yjs_name,period_end,fte_count,,\n"
                                "Bolton,2020-03,5\nBolton,2020-06,6," + "," * 3000 + "x\nBolton,2020-09\n"
                                "Bolton,2020-12,7,,,,\n,,,,,,,,,,,,,,,,,\nSource,,,,,,,,,,,,,,,\n"),
    "fte_crlf_cp1252": ("first_time_entrants/fte.csv",
                        "yjs_name\tperiod_end\tfte_count\r\nYnys Môn\t2021-03\t7\r\nGwynedd\t2021-03\t[c]\r\n"
                        "Bolton\t2021-03\t3\rBolton\t2021-06\t4\r\n", "cp1252"),
    "reoffending": ("reoffending/r.csv", "YJS,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
                    "Bolton,2020-03,12,\"1,200\",300,900\nBolton,2020-06,3,40,*,*\nHartlepool,2020-03,6,40,10,20\n"
                    "Hartlepool,2020-06,3,40,41,60\nHartlepool,2020-09,3,40,10,6\nHartlepool,2020-12,,40,10,20\n"
                    "Herefordshire,2020-03,12,10,2,3\nShropshire,2020-03,12,10,2,3\n"
                    "Greenwich,2020-03,3,40,*,50\nGreenwich,2020-06,3,*,10,50\n"),
    "custody_outcome_table": ("custody/outcome.csv",
                              "Financial_Year,YJS,Caution_or_sentence_tier,Caution_or_sentence_type,"
                              "Number_Cautioned_Sentenced\n"
                              "2019-20,Bolton,Custody,DTO,3\n2019/20,Bolton,custody,S250,\"1,002\"\n"
                              "2019-20,Bolton,Community,YRO,40\n2019-2020,Hartlepool,Custody,DTO,*\n"
                              "2019-21,Hartlepool,Custody,DTO,2\n2099-00,Hartlepool,Custody,DTO,2\n"
                              "2020-21,Wales,Custody,DTO,9\n2020-21,Greenwich,Pre-court,x,twelve\n"
                              "2020-21,Greenwich, CUSTODY ,DTO,1.5\n2020-21,Bolton,Community,YRO,*\n"
                              "2020-21,Bolton,Pre-court,YC,x\n2020-21,Atlantis,Pre-court,YC,3\n"),
    "population_long": ("population/long.csv", "LA code,Year,Age,Population\n"
                        + "".join(f"E08000001,2021,{a},\"1,000\"\n" for a in [*range(0, 90), "90+"])
                        + "E08000001,2021,All ages,91000\nE08000001,2021,12,1000\nE08000001,2021,13,1001\n"
                        + "".join(f"E06000001,2021,{a},5\n" for a in range(10, 17))
                        + "".join(f"E07000163,2021,{a},3\n" for a in range(10, 18))
                        + "".join(f"E07000164,2021,{a},4\n" for a in range(10, 18))
                        + "".join(f"E10000006,2021,{a},4\n" for a in range(10, 18))
                        + "".join(f"E06000002,2021,{a},4\n" for a in range(10, 18))
                        + "".join(f"e06000010,2021,{a},{9 * 10**15}\n" for a in range(10, 18))
                        + "".join(f"E06000010,2022,{a},{2 * 10**18}\n" for a in range(10, 18))
                        + "".join(f"E09000011,2099,{a},1\n" for a in range(10, 18))
                        + "".join(f"E09000011,2020,{a},{v}\n" for a, v in zip(range(10, 18), "12345*x6"))
                        + "".join(f",2020,{a},1\n" for a in range(10, 18))
                        + "E06000063,twenty,12,1\nE06000063,2020,ten,1\nE06000063,2020,-1,1\n"),
    "inspections": ("inspections/i.csv", "yjs_name,published,overall_rating,inspection_type\n"
                    "Bolton,2016-05-01,good,FJI\nBolton,2022-05-01,Good ,\nHull YOS,01/02/19,REQUIRES IMPROVEMENT,\n"
                    "Greenwich - JI,2014-01-01,poor,\nGreenwich,2015-01-01,satisfactory,\n"
                    "Hartlepool,2018-06-01,Good,\nHartlepool,2018-05-31,Good,\nHartlepool,2020-01-01,Inadequate,\n"
                    "West Mercia,2023-01-01,Outstanding,\nBolton,2023-13-01,Good,\nBolton,2099-01-01,Good,\n"
                    "Atlantis,2020-01-01,Good,\nBolton,2021-01-01,1 The resettlement standard does not consider,\n"
                    "Bolton,2021-02-01,Good,\nBolton,2021-02-01,Good,\nBolton,2021-03-01,Good,\n"
                    "Bolton YOS,2021-03-01,Outstanding,\n"),
    "services": ("services/extra.csv", "LA Code;LA name;YJS name;Region;Country\n"
                 "E06000002;Middlesbrough;South Tees;North East;england\ne06000003;Redcar;South Tees;;\n"
                 "E0600;Bad;Bad;;\nE06000002;Middlesbrough;South Tees;;\n"  # (given to another service: a stop)
                 "E06000004;Stockton;;;\nE06000005;;Darlington;;\nE06000006;Halton;---;;\n"
                 "W06000003;Conwy;St Helens;;\nE08000013;St Helens;St. Helens;;\n"),
}


@pytest.mark.parametrize("name", list(MESSY))
def test_messy_input(name, tmp_path):
    data_dir = base.build(tmp_path / "data")
    path, text, *encoding = MESSY[name]
    write(data_dir, path, text, *encoding)
    assert_dir_same(data_dir, ["services", path.split("/")[0]])


@pytest.mark.parametrize("name", list(MESSY))
def test_messy_input_in_small_blocks(name, tmp_path, small_blocks):
    test_messy_input(name, tmp_path)


def test_conflicts_across_files(tmp_path, small_blocks):
    data_dir = base.build(tmp_path / "data")
    write(data_dir, "first_time_entrants/more.csv", "yjs_name,period_end,fte_count\n"
          "Herefordshire,2022-03,30\nShropshire,2022-03,50\nBolton,2022-03,40\nHartlepool,2022-03,41\n"
          "Greenwich,2022-03,*\nGreenwich,2022-03,*\n")
    write(data_dir, "population/wide_mye2021.csv", "code,name," + ",".join(map(str, range(0, 91))) + "\n"
          + "".join(f"{c},x," + ",".join(["300"] * 91) + "\n" for c in ("E08000001", "E06000001", "E07000163"))
          + "E06000065,North Yorkshire," + ",".join(["2500"] * 91) + "\n")
    write(data_dir, "population/wide_with_year.csv", "ltla20_code,Year," + ",".join(map(str, range(10, 18)))
          + "\nE08000001,2021," + ",".join(["2500"] * 8) + "\nE06000001,2021," + ",".join(["2500"] * 8)
          + "\nE06000001,2021," + ",".join(["2500"] * 8) + "\nE06000010,2021,1,2,3,*,5,6,7,8\n")
    write(data_dir, "reoffending/more.csv", "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
          "Herefordshire,2022-03,12,100,35,90\nShropshire,2022-03,12,100,35,90\nBolton,2022-03,12,100,35,90\n")
    write(data_dir, "inspections/more.csv", "yjs_name,published,overall_rating\n"
          "Bolton,2019-05-01,Outstanding\nHartlepool,10/01/2022,Requires improvement\n")
    write(data_dir, "custody/outcome.csv", "Financial_Year,YJS,Caution_or_sentence_tier,Number_Cautioned_Sentenced\n"
          "2021-22,Bolton,Custody,1\n2021-22,Bolton,Custody,1\n2021-22,Hartlepool,Custody,2\n")
    assert_dir_same(data_dir)


@pytest.mark.parametrize("source, head", [
    ("services", "la_code,la_name,yjs_name\n"), ("population", "la_code,year,age,population\n"),
    ("first_time_entrants", "yjs_name,period_end,fte_count\n"),
    ("custody", "yjs_name,period_end,custodial_sentences\n"),
    ("reoffending", "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"),
    ("inspections", "yjs_name,published,overall_rating\n")])
def test_every_row_quarantined_and_header_only_files(source, head, tmp_path):
    data_dir = base.build(tmp_path / "data")
    for old in (data_dir / source).iterdir():
        old.unlink()
    write(data_dir, f"{source}/empty.csv", head)
    write(data_dir, f"{source}/bad.csv", head + "Atlantis,x,y,z,1,2\n")
    assert_dir_same(data_dir, ["services", source])


def test_xlsx_and_ods_in_small_blocks(tmp_path, small_blocks):
    for case in CASES:
        if case.name in ("xlsx_two_row_header", "ods_merged_cells"):
            test_corpus_case(case, tmp_path / case.name)


# --- files over the row limit, and files damaged part-way ----------------------


@pytest.mark.parametrize("rows", [3, 4, 5, 9])
def test_row_limit(rows, tmp_path, small_blocks, monkeypatch):
    monkeypatch.setattr(services_module, "LAYOUT", dataclasses.replace(services_module.LAYOUT, max_rows=4))
    text = base.SERVICES_CSV.splitlines(keepends=True)
    write(tmp_path, "services/lookup.csv", "".join(text[:rows + 1]) + "\n\nSource: ONS,,\n" + "".join(text[rows + 1:]))
    assert_same("services", tmp_path)


@pytest.mark.parametrize("limit", [4, 5])
def test_row_limit_counts_every_sheet_of_a_workbook(limit, tmp_path, small_blocks, monkeypatch):
    """The limit bounds a file's rows, as when one sheet was read: two sheets
    of three rows pass a limit of 6 but not of 5 or 4, failing on the second."""
    monkeypatch.setattr(services_module, "LAYOUT", dataclasses.replace(services_module.LAYOUT, max_rows=limit))
    frame = pd.read_csv(io.StringIO(base.SERVICES_CSV), dtype=str)
    (tmp_path / "services").mkdir()
    with pd.ExcelWriter(tmp_path / "services/lookup.xlsx") as book:
        frame.iloc[:3].to_excel(book, sheet_name="England", index=False)
        frame.iloc[3:6].to_excel(book, sheet_name="Wales", index=False)
    assert_same("services", tmp_path)
    assert outcome("services", tmp_path, None) == (ingest.IngestError, (
        f"services/lookup.xlsx [Wales]: over {limit} data rows (at row {limit - 1}, counting the rows of the "
        "sheets before it), more than a table of this folder can hold; check it is the right file, or split it"))
    monkeypatch.setattr(services_module, "LAYOUT", dataclasses.replace(services_module.LAYOUT, max_rows=6))
    assert len(ingest.read_services(tmp_path).table) == 6


@pytest.mark.parametrize("limit", [2, 50])
def test_file_damaged_part_way(limit, tmp_path, small_blocks, monkeypatch):
    """A field over the csv module's limit stops the read, unless the row limit stops it first."""
    monkeypatch.setattr(services_module, "LAYOUT", dataclasses.replace(services_module.LAYOUT, max_rows=limit))
    write(tmp_path, "services/lookup.csv", base.SERVICES_CSV + "E06000002,Middlesbrough," + "x" * 200_000 + "\n")
    assert_same("services", tmp_path)
    assert isinstance(outcome("services", tmp_path, None), tuple)


# --- any rows --------------------------------------------------------------------

CELL = st.one_of(st.sampled_from(["", " ", "*", "x", "[c]", "12", " 7 ", "1,234", "12.5", "-3", "2020-03",
                                  "2099-03", "0001-1", "03/2020", "Bolton", "BOLTON YOS", "Atlantis", "Herefordshire",
                                  "Shropshire", "West Mercia", "Source: YJB", "3", "12", "6"]),
                 st.text(alphabet="ab ,;\"\n*0123456789-[]", max_size=6))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=14), st.sampled_from([",", ";", "\t"]))
def test_any_rows(rows, delimiter):
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(
        [["yjs_name", "cohort_end", "cohort_months", "cohort_size", "reoffenders", "reoffences"], *rows])
    with tempfile.TemporaryDirectory() as folder:
        data_dir = base.build(Path(folder) / "data")
        write(data_dir, "reoffending/reoffending.csv", text.getvalue())
        write(data_dir, "first_time_entrants/fte.csv", text.getvalue().replace("cohort_end", "period_end")
              .replace("cohort_months", "period_months").replace("cohort_size", "fte_count"))
        assert_dir_same(data_dir, ["reoffending", "first_time_entrants"])


OUTCOME_ROW = st.tuples(
    st.sampled_from(["2019-20", "2020-21", "2020/21", "2099-00", "2019-21", "", "x"]),
    st.sampled_from(["Bolton", "BOLTON YOS", "Hartlepool", "Atlantis", "Herefordshire", "Shropshire", ""]),
    st.sampled_from(["Custody", "custody", " CUSTODY ", "Community", "Pre-court", "First-tier", ""]),
    st.sampled_from(["0", "1", "3", "*", "[c]", "1,002", "12.5", "-1", "", "twelve"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(OUTCOME_ROW, max_size=12), min_size=1, max_size=2))
def test_any_outcome_table_rows(files):
    """The YJB outcome table: custody rows summed, a service-year's other tiers parts of 0."""
    assert_files_same("custody", "outcome", ["Financial_Year,YJS,Caution_or_sentence_tier,Number_Cautioned_Sentenced\n"
                                             + "".join(f'{y},{n},{t},"{c}"\n' for y, n, t, c in rows)
                                             for rows in files])


CODE = st.sampled_from(["E08000001", "E06000001", "e06000001", "E07000163", "E07000164", "E10000023",
                        "E10000006", "E06000002", ""])
YEAR = st.sampled_from(["2020", "2021", "2099", "0202", "x"])
PERSONS = st.sampled_from(["1", "2", "2", "*", "1,000", "4000000000000000", "-1"])
# whole areas (every age 10-17, now and then one left out) and stray rows,
# perhaps of one sex (in a file with a sex column: the last of a row); an
# area "Male/Female" gives a row of each per age
SEX = st.sampled_from(["Persons", "Male", "Female", "1", "2", "", "Other", "Male/Female", "Male/Female", "2/1",
                       "Persons/Female"])
AREA = st.tuples(CODE, YEAR, st.lists(PERSONS, min_size=8, max_size=8), st.sampled_from([None, None, None, "13"]),
                 SEX)
STRAY = st.tuples(CODE, YEAR, st.sampled_from([*map(str, range(10, 18)), "9", "90+", "All ages", "ten"]), PERSONS,
                  SEX)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.lists(AREA, max_size=6), st.lists(STRAY, max_size=6), st.booleans()),
                min_size=1, max_size=3))
def test_any_population_rows(files):
    texts = []
    for areas, strays, by_sex in files:
        rows = [(c, y, str(a), v, one) for c, y, persons, left_out, sex in areas
                for a, v in zip(range(10, 18), persons) if str(a) != left_out for one in sex.split("/")]
        rows += [(c, y, a, v, sex.split("/")[0]) for c, y, a, v, sex in strays]
        texts.append(csv_text(["la_code", "year", "age", "population", "sex"],
                              [row if by_sex else (*row[:-1], None) for row in rows]))
    assert_files_same("population", "p", texts)


# a time series (a column per year): whole areas of one sex and stray rows
SERIES_AREA = st.tuples(CODE, st.sampled_from(["1", "2", "2", "Persons", "x"]),
                        st.lists(st.tuples(PERSONS, PERSONS), min_size=8, max_size=8))
SERIES_STRAY = st.tuples(CODE, st.sampled_from(["1", "2"]),
                         st.sampled_from(["10", "17", "9", "90", "All ages", "ten"]), PERSONS, PERSONS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(SERIES_AREA, max_size=5), st.lists(SERIES_STRAY, max_size=5)),
                min_size=1, max_size=2))
def test_any_population_series_rows(files):
    texts = []
    for areas, strays in files:
        rows = [(c, sex, str(a), *v) for c, sex, values in areas for a, v in zip(range(10, 18), values)]
        texts.append(csv_text(["ladcode21", "sex", "age", "population_2019", "population_2020", "unused"],
                              [(*row, None) for row in rows + strays]))
    assert_files_same("population", "s", texts)


INSPECTED = st.tuples(
    st.sampled_from(["Bolton", "BOLTON YOS", "Hull", "Atlantis", "Herefordshire", "", "Source: HMIP"]),
    st.sampled_from(["2021-09-16", "16/09/2021", "16/09/21", "2021-09-16 10:00", "31/02/2021", "2099-01-01",
                     "16/09/0021", "0021-09-16", "2021-9", "", "x"]),
    st.sampled_from(["Good", "good", "Outstanding", "Requires improvement", "Requires Improvement",
                     "Inadequate", "Satisfactory", "", "*", "3"]),
    st.sampled_from([None, "", "Joint", "Thematic", "Full joint inspection"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(INSPECTED, max_size=8), min_size=1, max_size=2))
def test_any_inspection_rows(files):
    assert_files_same("inspections", "i", [csv_text(["yjs_name", "published", "overall_rating", "inspection_type"],
                                                    rows) for rows in files])


MAPPED = st.tuples(
    st.sampled_from(["E06000001", "E08000001", "e08000001", " E06000019 ", "E07000163", "W06000015", "E10000023",
                     "E99999999", "", "x", "E0600000"]),
    st.sampled_from(["Hartlepool", "Bolton", "Herefordshire, County of", "Cardiff", "", "*"]),
    st.sampled_from(["Hartlepool", "Bolton", "BOLTON YOS", "West Mercia", "Cardiff", "Cardiff YJS", "", "[c]"]),
    st.sampled_from([None, "", "North West", "Wales"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(MAPPED, max_size=12))
def test_any_service_rows(rows):
    # the lookup on its own: every other reader depends on it
    with tempfile.TemporaryDirectory() as folder:
        data_dir = base.build(Path(folder) / "data")
        write(data_dir, "services/more.csv", csv_text(["la_code", "la_name", "parent_yot_name", "region"], rows))
        assert_same("services", data_dir)
