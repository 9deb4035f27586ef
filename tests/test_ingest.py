"""Reading the inputs, as the contract's "Inputs" section describes them.

Fixtures are small files written in ``tmp_path``; the real published files are
copied from ``../shared/data/real/`` into a ``tmp_path`` data dir.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
from pandas.testing import assert_frame_equal
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest import (
    SOURCES, IngestError, ServiceMatcher, read_custody, read_first_time_entrants, read_inspections,
    read_population, read_reoffending, read_services,
)
from pipeline.ingest.cells import (
    MAX_COUNT, RowProblem, financial_year_end, month_end, parse_count, parse_date, period_length,
)
from pipeline.ingest.indicators import SUBTOTAL
from pipeline.ingest.results import one_row_at_a_time
from pipeline.model.panel import service_population

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
MARKERS = ["*", "..", "x", "[c]", "[x]", "[z]", "-", ""]

from tests.corpus.base import SERVICES_CSV  # noqa: E402  one small lookup for all reader tests
from tests.corpus.sheets import XlsError, write_ods, write_ods_xml, write_xls  # noqa: E402


def write(data_dir: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = data_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def copy_real(data_dir: Path, source: str, *names: str) -> None:
    (data_dir / source).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(REAL / name, data_dir / source / name)


@pytest.fixture
def services(tmp_path) -> pd.DataFrame:
    write(tmp_path, "services/lookup.csv", SERVICES_CSV)
    return read_services(tmp_path).table


@pytest.fixture
def real_services(tmp_path) -> pd.DataFrame:
    copy_real(tmp_path, "services", "la_to_yjs_crosswalk_2024.csv")
    return read_services(tmp_path).table


# --- services -------------------------------------------------------------


def test_services_from_the_lookup(services):
    row = services.set_index("la_code").loc["W06000001"]
    assert (row.yjs_name, row.yjs_id, row.country) == ("Gwynedd and Ynys Môn", "gwynedd-and-ynys-mon", "Wales")
    assert services.set_index("la_code").loc["E06000019", "country"] == "England"
    assert (services["yjs_id"] == "west-mercia").sum() == 2


@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_a_welsh_service_without_a_region_is_in_region_wales(tmp_path, path):
    # ONS lists Wales among the regions of England and Wales; an English LA's region is not in its
    # code, so it stays empty (the real lookup has no region column: every region was empty)
    write(tmp_path / "small", "services/a.csv", "la_code,la_name,yjs_name,region,country\n"
          "W06000001,Isle of Anglesey,Gwynedd and Ynys Môn,,\nE06000001,Hartlepool,Hartlepool,,\n"
          "E06000002,Middlesbrough,South Tees,North East,\nW06000015,Cardiff,Cardiff,,wales\n")
    copy_real(tmp_path / "real", "services", "la_to_yjs_crosswalk_2024.csv")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        small, real = (read_services(tmp_path / d).table for d in ("small", "real"))
    assert small["region"].tolist() == ["Wales", None, "North East", "Wales"]
    welsh = real["country"] == "Wales"
    assert welsh.sum() == 22 and (real.loc[welsh, "region"] == "Wales").all()
    assert real.loc[~welsh, "region"].isna().all()


def test_services_quarantines_bad_codes_and_keeps_a_repeated_assignment_once(tmp_path):
    write(tmp_path, "services/a.csv", "LA Code;LA name;YJS name;Region\n"
          "E06000001;Hartlepool;Hartlepool;North East\nE0600;Bad;Bad;\n"
          "E06000001;Hartlepool;Hartlepool;North East\n")
    got = read_services(tmp_path)
    assert got.table[["la_code", "yjs_name", "region"]].values.tolist() == [["E06000001", "Hartlepool", "North East"]]
    problems = dict(zip(got.quarantine.row_number, got.quarantine.problem))
    assert problems == {3: "column LA Code: 'E0600' is not a GSS code (like E06000001)"}  # row 4 is harmless


@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_an_la_assigned_to_two_services_stops_the_refresh_naming_both_rows(tmp_path, path):
    """Keeping the first row (as before) let the order of the rows decide which service an LA's
    population and figures went to; the contract says one LA belongs to one service."""
    write(tmp_path, "services/a.csv", "la_code,la_name,yjs_name\nE08000015,Wirral,Wirral\n"
          "E06000050,Cheshire West and Chester,Cheshire West\n")
    write(tmp_path, "services/b.csv", "la_code,la_name,yjs_name\nE08000015,Wirral,Wirral\n"
          "E08000015,Wirral,Cheshire West\nE08000001,Bolton,Bolton\nE08000001,Bolton,Wigan\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext(), pytest.raises(IngestError) as stop:
        read_services(tmp_path)
    assert str(stop.value) == (
        "services/b.csv: row 3 assigns la_code E08000015 (Wirral) to service 'Cheshire West', but services/a.csv "
        "row 2 assigns it to 'Wirral': an LA belongs to one service, so the lookup must say which (1 more LA "
        "is assigned to two services)")
    # the real crosswalk gives each of its 318 codes one row, so it reads as before
    shutil.rmtree(tmp_path / "services")
    copy_real(tmp_path, "services", "la_to_yjs_crosswalk_2024.csv")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        assert len(read_services(tmp_path).table) == 318


@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_services_spelt_two_ways_are_one_service(tmp_path, path):
    # Every other source matches names as normalised, so "Kingston & Richmond YOT" is "Kingston and
    # Richmond": two ids would split the service, one with a single LA's population but all the figures.
    write(tmp_path, "services/a.csv", "la_code,la_name,yjs_name\n"
          "E09000021,Kingston upon Thames,Kingston and Richmond\n"
          "E09000027,Richmond upon Thames,Kingston & Richmond YOT\n"
          "E06000019,Herefordshire,West Mercia Youth Justice Service\nE06000051,Shropshire,West Mercia YOS\n"
          "E06000001,Hartlepool,Hartlepool\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_services(tmp_path)
    table = got.table.set_index("la_code")
    assert table["yjs_id"].to_dict() == {
        "E09000021": "kingston-and-richmond", "E09000027": "kingston-and-richmond",
        "E06000019": "west-mercia", "E06000051": "west-mercia", "E06000001": "hartlepool"}
    assert table.loc["E09000027", "yjs_name"] == "Kingston and Richmond" and got.quarantine.empty
    # the id is the name's as names are matched, whichever spelling comes first: it had been the first
    # spelling's slug, so a lookup spelling a service another way one month split its ranking history
    lines = (tmp_path / "services/a.csv").read_text().splitlines()
    (tmp_path / "services/a.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        again = read_services(tmp_path).table.set_index("la_code")
    assert again["yjs_id"].to_dict() == table["yjs_id"].to_dict()
    assert again.loc["E09000027", "yjs_name"] == "Kingston & Richmond YOT"  # the name: as first spelt
    matcher = ServiceMatcher(got.table)
    assert matcher.part("Kingston & Richmond YOT") == "" and matcher.part("West Mercia YOS") == ""


@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_an_la_listed_beside_the_la_it_became_part_of_is_set_aside(tmp_path, path):
    """A lookup listing Northamptonshire's seven districts of 2020 beside the two unitaries they
    became had the service's population summed twice (each district's own 2020 estimate, carried
    forward, plus the unitaries'), halving its rates: a benchmark visit on half its figures."""
    copy_real(tmp_path, "services", "la_to_yjs_crosswalk_2024.csv")
    copy_real(tmp_path, "population", "mye2020_persons_sya_ltla20_ew.csv")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        plain = read_services(tmp_path).table
    districts = {"E07000150": "Corby", "E07000151": "Daventry", "E07000152": "East Northamptonshire",
                 "E07000153": "Kettering", "E07000154": "Northampton", "E07000155": "South Northamptonshire",
                 "E07000156": "Wellingborough"}
    write(tmp_path, "services/old_codes.csv", "la_code,la_name,yjs_name\n" + "".join(
        f"{code},{name},Northamptonshire\n" for code, name in districts.items()))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_services(tmp_path)
        population = read_population(tmp_path, got.table).table
    assert_frame_equal(got.table, plain)
    problems = dict(zip(got.quarantine.row_number, got.quarantine.problem))
    assert sorted(problems) == list(range(2, 9)) and set(got.quarantine.file) == {"services/old_codes.csv"}
    assert problems[2] == (
        "la_code E07000150 (Corby, service 'Northamptonshire') became part of E06000061 (North Northamptonshire), "
        "which the lookup also lists (service 'Northamptonshire'): E07000150's population would be counted "
        "twice, so this row is set aside and figures by E07000150 go to E06000061")
    # the 2020 estimates by district are carried to the unitaries, as with the lookup alone
    twice = service_population(got.table, population, [2020, 2024]).set_index(["yjs_id", "year"])
    once = service_population(plain, read_population(tmp_path, plain).table, [2020, 2024]).set_index(
        ["yjs_id", "year"])
    assert_frame_equal(twice, once)
    assert 70_000 < twice.loc[("northamptonshire", 2020), "population_10_17"] < 90_000
    # so are counties split between successors (Northamptonshire, Cumbria) beside one of them: an upper-tier
    # file's county row doubled Northamptonshire's population, and Cumbria's added Westmorland's to Cumberland
    write(tmp_path, "services/old_codes.csv", "la_code,la_name,yjs_name\n"
          "E10000021,Northamptonshire,Northamptonshire\nE10000006,Cumbria,Cumberland\n"
          "E10000027,Somerset,Somerset\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_services(tmp_path)
    assert_frame_equal(got.table, plain)
    problems = got.quarantine["problem"].tolist()
    assert len(problems) == 3 and problems[1].startswith(
        "la_code E10000006 (Cumbria, service 'Cumberland') was split between E06000063 and E06000064, of which "
        "the lookup also lists E06000063 (Cumberland, service 'Cumberland'): E10000006's population would be "
        "counted twice")
    assert problems[2].startswith("la_code E10000027 (Somerset, service 'Somerset') became part of E06000066")


@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_service_names_are_published_with_single_plain_spaces(tmp_path, path):
    write(tmp_path, "services/a.csv", "la_code,la_name,yjs_name\n"
          "E06000019,Herefordshire,WEST  MERCIA \nW06000001,Isle\u00a0of Anglesey,Gwynedd\u00a0and Ynys Môn \n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        table = read_services(tmp_path).table
    assert table[["la_name", "yjs_name", "yjs_id"]].values.tolist() == [
        ["Herefordshire", "WEST MERCIA", "west-mercia"],
        ["Isle of Anglesey", "Gwynedd and Ynys Môn", "gwynedd-and-ynys-mon"]]


def test_real_crosswalk_reads_to_318_las_and_155_services(real_services):
    assert len(real_services) == 318 and real_services["la_code"].is_unique
    assert real_services["yjs_id"].nunique() == 155
    assert set(real_services["country"]) == {"England", "Wales"}


# --- the table reader, seen through first-time entrants --------------------


def test_every_suppression_marker_is_missing_not_zero(tmp_path, services):
    rows = "".join(f'Hartlepool,2019-{m:02d},"{v}"\n' for m, v in enumerate(MARKERS, start=1))
    write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n" + rows
          + 'Bolton,2020-03,"1,234"\n')
    got = read_first_time_entrants(tmp_path, services)
    assert got.quarantine.empty
    hartlepool = got.table[got.table.yjs_id == "hartlepool"]
    assert len(hartlepool) == len(MARKERS)
    assert hartlepool["fte_count"].isna().all() and hartlepool["suppressed"].all()
    bolton = got.table[got.table.yjs_id == "bolton"].iloc[0]
    assert (bolton.fte_count, bolton.suppressed, bolton.period_months) == (1234.0, False, 12)
    assert bolton.period_end == pd.Timestamp("2020-03-31")


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_table_by_sex_is_read_for_all_children_only(tmp_path, services, path):
    # boys' and girls' rows are not the service's figure: two equal ones had collapsed into one, halving it
    write(tmp_path, "first_time_entrants/by_sex.csv", "yjs_name,period_end,Sex,fte_count\n"
          "Bolton,2022-12,Male,5\nBolton,2022-12,Female,5\nBolton,2022-12,Total,10\n"
          "Hartlepool,2022-12,Boys,7\nHartlepool,2022-12,Girls,3\nGreenwich,2022-12,,12\nGreenwich,2021-12,All,11\n"
          # how tables and dashboards say everyone
          "West Mercia,2022-12,All children,21\nWest Mercia,2021-12,All genders,22\nWest Mercia,2020-12,Total (all),23\n"
          "West Mercia,2019-12,Boys and girls,24\nWest Mercia,2018-12,Overall,25\nWest Mercia,2017-12,Unknown,26\n")
    write(tmp_path, "reoffending/by_gender.csv", "YJS,cohort_end,cohort_months,cohort_size,reoffenders,reoffences,Gender\n"
          "Bolton,2022-03,3,20,5,9,Female\nBolton,2022-03,3,60,20,41,Persons\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        fte, reoffending = read_first_time_entrants(tmp_path, services), read_reoffending(tmp_path, services)
    assert fte.table[["yjs_id", "fte_count"]].values.tolist() == [
        ["bolton", 10], ["greenwich", 11], ["greenwich", 12], *[["west-mercia", n] for n in (25, 24, 23, 22, 21)]]
    assert fte.quarantine["row_number"].tolist() == [2, 3, 5, 6, 14]
    assert fte.quarantine["problem"].iloc[0] == (
        "column Sex: 'Male' is not all children; of a table by sex only the rows for all children "
        "(Total, All, All children, Persons, Both, Boys and girls, Overall, or no sex given) are read")
    assert reoffending.table[["cohort_size", "reoffenders"]].values.tolist() == [[60, 20]]
    assert reoffending.quarantine["problem"].str.startswith("column Gender: 'Female' is not all children").all()


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_file_of_bare_financial_years_is_not_read_as_months_in_part(tmp_path, services, path):
    # 2012-13 is no month, so this file writes financial years bare: its 2011-12 may be one too, not December
    write(tmp_path, "first_time_entrants/fy.csv", "yjs_name,period_end,fte_count,period_months\n"
          "Bolton,2010-11,6,\nBolton,2011/12,7,12\nBolton,2012-13,8,\nBolton,Dec 2011,7,\nHartlepool,2021-03,4,\n"
          "Greenwich,2011-12,2,3\n")  # a quarter ending December 2011 is no financial year
    # a file of months alone keeps its December 2011 (the contract's YYYY-MM)
    write(tmp_path, "first_time_entrants/months.csv", "yjs_name,period_end,fte_count\nGreenwich,2011-12,9\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    assert sorted(zip(got.table["yjs_id"], got.table["period_end"].dt.strftime("%Y-%m"), got.table["period_months"])) == [
        ("bolton", "2011-12", 12), ("greenwich", "2011-12", 3), ("greenwich", "2011-12", 12), ("hartlepool", "2021-03", 12)]
    assert got.quarantine[["file", "row_number"]].values.tolist() == [["first_time_entrants/fy.csv", n]
                                                                        for n in (2, 3, 4)]
    assert got.quarantine["problem"].iloc[1] == (
        "period_end 2011-12: read as a month, but row 4 of this file is a financial year written bare "
        "('2012-13'), so this may be the financial year 2011-12 too; write financial years as FY 2011-12")


def test_columns_match_ignoring_case_spaces_punctuation_and_aliases(tmp_path, services):
    write(tmp_path, "first_time_entrants/fte.csv",
          "\ufeffYJS;Period End;Period-Months;FTE Count\nHull YOS;2020-12-15;6;12\n")
    got = read_first_time_entrants(tmp_path, services)
    row = got.table.iloc[0]
    assert (row.yjs_id, row.yjs_name, row.period_months, row.fte_count) == (
        "kingston-upon-hull", "Kingston-upon-Hull", 6, 12.0)
    assert row.period_end == pd.Timestamp("2020-12-31")


@pytest.mark.parametrize("table", [
    # a share before the count: "%" was dropped with the punctuation, so "Reoffenders (%)" was the count
    "YJS,Cohort end,Cohort months,Cohort size,Reoffenders (%),Reoffenders,Reoffences\nBolton,2021-03,3,40,30,12,30\n",
    # a group label over its count and its share, on two rows: "Reoffenders %" was the count
    "YJS,Cohort,,Cohort size,Reoffenders,,Reoffences\n,end,months,,Number,%,\nBolton,2021-03,3,40,12,30,30\n"])
def test_a_share_beside_a_count_is_not_read_as_the_count(tmp_path, services, table):
    write(tmp_path, "reoffending/r.csv", table)
    got = read_reoffending(tmp_path, services)
    assert got.table[["yjs_id", "cohort_size", "reoffenders", "reoffences"]].values.tolist() == [
        ["bolton", 40.0, 12.0, 30.0]]
    assert got.quarantine.empty


def test_two_columns_read_as_one_field_fail_the_file_naming_them(tmp_path, services):
    """Two "Reoffenders" columns (of two cohorts, say): the first had been taken, silently."""
    write(tmp_path, "reoffending/r.csv", "YJS,Cohort end,Cohort months,Cohort size,Reoffenders,Reoffences,"
          "Reoffenders\nBolton,2021-03,3,40,12,30,9\n")
    with pytest.raises(IngestError) as failure:
        read_reoffending(tmp_path, services)
    assert str(failure.value) == (
        "reoffending/r.csv: columns 5 ('Reoffenders') and 7 ('Reoffenders') of the header in row 1 all read as "
        "reoffenders; which one is meant cannot be told: rename or remove the others")


def test_a_header_under_twenty_rows_of_notes_is_found(tmp_path, services):
    notes = "".join(f"Note {i}: about the table,,\n" for i in range(1, 21))
    write(tmp_path, "first_time_entrants/fte.csv", notes + "yjs_name,period_end,fte_count\nBolton,2021-03,7\n")
    got = read_first_time_entrants(tmp_path, services)
    assert got.table[["yjs_id", "fte_count"]].values.tolist() == [["bolton", 7.0]] and got.quarantine.empty


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_not_available_as_r_and_exports_write_it_is_missing_not_zero(tmp_path, services, path):
    write(tmp_path, "custody/Outcome_Table.csv", "Financial_Year,YJS,Caution_or_sentence_tier,"
          "Number_Cautioned_Sentenced\n2021-22,Bolton,Community,5\n2021-22,Bolton,Custody,NA\n"
          "2021-22,Hartlepool,Custody,N/A\n2021-22,Greenwich,Custody,n/a\n2021-22,Greenwich,Community,NA\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.quarantine.empty
    assert got.table[["yjs_id", "custodial_sentences", "suppressed"]].fillna(-1).values.tolist() == [
        ["bolton", -1, True], ["greenwich", -1, True], ["hartlepool", -1, True]]


def test_cp1252_tab_separated_file(tmp_path, services):
    write(tmp_path, "first_time_entrants/fte.csv",
          "yjs_name\tperiod_end\tfte_count\nGwynedd & Ynys Môn\t2021-03\t7\n", encoding="cp1252")
    assert read_first_time_entrants(tmp_path, services).table["yjs_id"].tolist() == ["gwynedd-and-ynys-mon"]


def test_a_utf8_file_with_a_line_pasted_from_cp1252_keeps_its_utf8(tmp_path, services):
    path = write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
                 "Gwynedd and Ynys Môn,2021-03,7\nBolton,2021-03,9\n")
    path.write_bytes(path.read_bytes() + "Source: YJB \u2013 provisional\n".encode("cp1252"))  # 0x96, not UTF-8
    got = read_first_time_entrants(tmp_path, services)
    assert got.table["yjs_id"].tolist() == ["bolton", "gwynedd-and-ynys-mon"]
    assert got.quarantine["raw"].tolist() == ['{"yjs_name": "Source: YJB \u2013 provisional"}']


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_tab_separated_file(tmp_path, services, encoding):
    """Excel's "Unicode text" and some portals' CSV: UTF-16 with its BOM (it
    was refused as binary content)."""
    text = "\ufeffyjs_name\tperiod_end\tfte_count\r\nGwynedd & Ynys Môn\t2021-03\t7\r\n" if encoding.endswith("be") else \
        "yjs_name\tperiod_end\tfte_count\r\nGwynedd & Ynys Môn\t2021-03\t7\r\n"
    write(tmp_path, "first_time_entrants/fte.csv", text, encoding=encoding)
    assert read_first_time_entrants(tmp_path, services).table["yjs_id"].tolist() == ["gwynedd-and-ynys-mon"]


def test_unreadable_rows_are_quarantined_with_file_row_column_and_value(tmp_path, services):
    write(tmp_path, "first_time_entrants/fte.csv",
          "yjs_name,period_end,fte_count,notes\nHartlepool,2020-03,twelve,\nBolton,2020-03,-4,\n"
          "Atlantis,2020-03,5,\nBolton,March,5,\n\n\nBolton,2020-06,5,\nSource: YJB,,,\n")
    got = read_first_time_entrants(tmp_path, services)
    assert got.table["period_end"].tolist() == [pd.Timestamp("2020-06-30")]
    q = got.quarantine
    assert q["file"].unique().tolist() == ["first_time_entrants/fte.csv"]
    assert dict(zip(q.row_number, q.problem)) == {
        2: "column fte_count: 'twelve' is not a number",
        3: "column fte_count: '-4' is negative; counts cannot be",
        4: "service name 'Atlantis' matches no service in the services lookup",
        5: "column period_end: 'March' is not a month (expected YYYY-MM)",
        9: "footnote or note row, not data",
    }
    assert json.loads(q.iloc[0]["raw"]) == {"yjs_name": "Hartlepool", "period_end": "2020-03",
                                            "fte_count": "twelve", "notes": ""}
    files = got.files.iloc[0]
    assert files.rows == 6 and files.sha256 == hashlib.sha256(
        (tmp_path / "first_time_entrants/fte.csv").read_bytes()).hexdigest()
    assert str(files.ingested_at.tz) == "UTC"


def test_xlsx_and_ods_with_title_rows_above_the_header(tmp_path, services):
    frame = pd.DataFrame({"YJS": ["Bolton", "Hartlepool", "Atlantis"], "period_end": ["2020-03"] * 3,
                          "fte_count": [10, "[c]", 1]})
    (tmp_path / "first_time_entrants").mkdir()
    with pd.ExcelWriter(tmp_path / "first_time_entrants/a.xlsx") as xlsx:
        pd.DataFrame({"a": ["Contents"]}).to_excel(xlsx, sheet_name="Cover", index=False)
        frame.to_excel(xlsx, sheet_name="Table_1", index=False, startrow=3)
    frame.assign(period_end="2021-03").to_excel(tmp_path / "first_time_entrants/b.ods", index=False,
                                                startrow=2, engine="odf")
    write(tmp_path, "first_time_entrants/README.md", "not data")
    got = read_first_time_entrants(tmp_path, services)
    assert got.files["file"].tolist() == ["first_time_entrants/a.xlsx", "first_time_entrants/b.ods"]
    assert len(got.table) == 4 and got.table["suppressed"].sum() == 2
    assert got.table.loc[got.table.yjs_id == "bolton", "fte_count"].tolist() == [10.0, 10.0]
    # spreadsheet row numbers: header on row 4 (xlsx) and row 3 (ods)
    assert got.quarantine[["file", "row_number"]].values.tolist() == [
        ["first_time_entrants/a.xlsx", 7], ["first_time_entrants/b.ods", 6]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_every_sheet_of_a_workbook_with_a_table_is_read(tmp_path, services, path):
    """A workbook with a table per period on its own sheet loses none of them
    (only the first table was read), and a row's sheet is named."""
    (tmp_path / "first_time_entrants").mkdir()
    first = pd.DataFrame({"YJS": ["Bolton", "Hartlepool"], "period_end": ["2019-03"] * 2, "fte_count": [10, 4]})
    second = pd.DataFrame({"YJS": ["Bolton", "Atlantis"], "period_end": ["2020-03"] * 2, "fte_count": [12, 1]})
    for suffix, engine in ((".xlsx", None), (".ods", "odf")):
        with pd.ExcelWriter(tmp_path / f"first_time_entrants/fte{suffix}", engine=engine) as book:
            pd.DataFrame({"Notes": ["Figures by period", "[c] suppressed"]}).to_excel(book, sheet_name="Notes",
                                                                                      index=False)
            first.to_excel(book, sheet_name="2018-19", index=False)
            second.to_excel(book, sheet_name="2019-20", index=False, startrow=2)
            pd.DataFrame({"a": [1]}).to_excel(book, sheet_name="Chart data", index=False)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    got_rows = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    assert sorted(got_rows[["yjs_id", "period_end", "fte_count"]].values.tolist()) == [
        ["bolton", "2019-03", 10.0], ["bolton", "2020-03", 12.0], ["hartlepool", "2019-03", 4.0]]
    # the same rows in both workbooks: copies that agree, kept once; files listed once each
    assert got.files[["file", "rows"]].values.tolist() == [
        ["first_time_entrants/fte.ods", 4], ["first_time_entrants/fte.xlsx", 4]]
    assert got.quarantine[["file", "row_number"]].values.tolist() == [
        ["first_time_entrants/fte.ods [2019-20]", 5], ["first_time_entrants/fte.xlsx [2019-20]", 5]]


def write_merged_fte(tmp_path, fmt: str, rows: list[list], merges: dict) -> None:
    """``first_time_entrants/fte.<fmt>`` of ``rows`` with the cells ``merges``
    merged: (row, column) -> (rows, columns), from 0 (a one-cell range too:
    nothing to fill)."""
    (tmp_path / "first_time_entrants").mkdir()
    if fmt == "ods":
        write_ods(tmp_path / "first_time_entrants/fte.ods", rows, merges)
    elif fmt == "xls":
        write_xls(tmp_path / "first_time_entrants/fte.xls", {"FTE": rows}, {"FTE": [
            (r, r + n_rows - 1, c, c + n_cols - 1) for (r, c), (n_rows, n_cols) in merges.items()]})
    else:
        import openpyxl
        from openpyxl.utils import get_column_letter

        book = openpyxl.Workbook()
        for row in rows:
            book.active.append([cell if cell != "" else None for cell in row])
        for (r, c), (n_rows, n_cols) in merges.items():
            book.active.merge_cells(f"{get_column_letter(c + 1)}{r + 1}:{get_column_letter(c + n_cols)}{r + n_rows}")
        book.save(tmp_path / "first_time_entrants/fte.xlsx")


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
@pytest.mark.parametrize("path", ["columns", "rows"])
def test_cells_merged_down_give_every_row_their_value(tmp_path, services, path, fmt):
    """A service name merged over its periods names each period's row; a
    title or note merged across the width is still a title or note (in an
    .ods it filled the width, so the note was read as a row of data)."""
    rows = [["First-time entrants by service", "", ""], ["YJS", "period_end", "fte_count"],
            ["Bolton", "2019-03", 10], ["", "2020-03", 11], ["", "2021-03", "[c]"], ["Hartlepool", "2019-03", 5],
            ["Source: YJB. Figures for 2021 are provisional.", "", ""], ["", "", ""]]
    merges = {(0, 0): (1, 3), (2, 0): (3, 1), (5, 1): (1, 1), (6, 0): (2, 3)}  # (row, column) -> (rows, columns)
    write_merged_fte(tmp_path, fmt, rows, merges)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    table = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    assert table[["yjs_id", "period_end", "fte_count"]].fillna(-1).values.tolist() == [
        ["bolton", "2019-03", 10.0], ["bolton", "2020-03", 11.0], ["bolton", "2021-03", -1.0],
        ["hartlepool", "2019-03", 5.0]]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [7, "footnote or note row, not data"], [8, "footnote or note row, not data"]]


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
def test_a_header_label_merged_down_over_two_header_rows_is_read_once(tmp_path, services, fmt):
    """A two-row header whose single labels are merged down over both rows ("YJS" over A1:A2, "Period"
    across B1:C1 above "end" and "months"): the readers fill "YJS" into both rows, which had read
    "YJS YJS" and stopped the refresh ("no column for ...")."""
    rows = [["YJS", "Period", "", "fte_count"], ["", "end", "months", ""],
            ["Bolton", "2019-03", 12, 10], ["Hartlepool", "2019-03", 12, 5]]
    merges = {(0, 0): (2, 1), (0, 1): (1, 2), (0, 3): (2, 1)}
    write_merged_fte(tmp_path, fmt, rows, merges)
    got = read_first_time_entrants(tmp_path, services)
    table = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    assert table[["yjs_id", "period_end", "period_months", "fte_count"]].values.tolist() == [
        ["bolton", "2019-03", 12, 10.0], ["hartlepool", "2019-03", 12, 5.0]]
    assert got.quarantine.empty


def xlsx_with_cells(path: Path, rows_xml: str, after_rows: str = "", recalculate: bool = False) -> None:
    """An .xlsx (openpyxl's package) whose one sheet holds ``rows_xml``, the
    <row> elements written by hand, and ``after_rows`` after its rows; as
    Excel saves it (its results calculated), or ``recalculate``: asking to
    be calculated in full when opened, as openpyxl and XlsxWriter write it."""
    import openpyxl

    openpyxl.Workbook().save(path)
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    assert b'fullCalcOnLoad="1"' in parts["xl/workbook.xml"]
    if not recalculate:
        parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
    parts["xl/worksheets/sheet1.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{rows_xml}</sheetData>{after_rows}</worksheet>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)


UNHELD = ("a formula whose result the file does not hold (written by a program: open it in Excel or "
          "LibreOffice and save it, which saves the results)")


@pytest.mark.parametrize("recalculate", [False, True])
@pytest.mark.parametrize("chunk", [None, 41])
@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_formula_whose_value_was_never_saved_is_quarantined_not_read_as_suppressed(
        tmp_path, services, path, chunk, recalculate, monkeypatch):
    """A workbook written by a script (openpyxl writes ``<f>E2+F2</f><v/>``) and never opened in
    Excel holds formulas without their results: read for values they were empty, so every such
    count was published as suppressed. A saved result is read; a saved empty text (t="str") is
    empty; a formula in a column not read costs nothing. A workbook asking to be calculated in full
    when opened holds no result to trust (XlsxWriter saves 0 for each, which was published as 0):
    all its formulas read are set aside. ``chunk``: the sheet's XML scanned a few bytes at a time,
    so that rows and cells straddle the chunks."""
    from pipeline.ingest import grids

    if chunk:
        monkeypatch.setattr(grids, "_CHUNK", chunk)

    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    def row(number: int, name: str, period: str, count: str, note: str = "") -> str:
        return f'<row r="{number}">{text(f"A{number}", name)}{text(f"B{number}", period)}{count}{note}</row>'
    rows = (f'<row r="1">{text("A1", "YJS")}{text("B1", "period_end")}{text("C1", "fte_count")}'
            f'{text("D1", "note")}</row>'
            + row(2, "Bolton", "2019-03", '<c r="C2"><f>E2+F2</f><v /></c>')  # openpyxl's own
            + row(3, "Hartlepool", "2019-03", '<c r="C3"><f>1+1</f><v>2</v></c>')  # saved by Excel
            + row(4, "Bolton", "2020-03", '<c r="C4"><v>11</v></c>', '<c r="D4"><f>A4&amp;"!"</f></c>')
            + row(5, "Hartlepool", "2020-03", '<c r="C5" t="str"><f>IF(1,"","x")</f><v></v></c>')
            + row(6, "Bolton", "2021-03", '<c r="C6"><f t="shared" ref="C6:C7" si="0">E6 &lt; F6</f></c>')
            + row(7, "Hartlepool", "2021-03", '<c r="C7"><f t="shared" si="0"/></c>')
            # a text column's formula: it had been read as the service's name, "=A2 (...)"
            + f'<row r="8"><c r="A8"><f>A2</f><v/></c>{text("B8", "2022-03")}<c r="C8"><v>5</v></c></row>')
    (tmp_path / "first_time_entrants").mkdir()
    xlsx_with_cells(tmp_path / "first_time_entrants/fte.xlsx", rows, '<mergeCells count="1">'
                    '<mergeCell ref="D2:D3"/></mergeCells>', recalculate)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    table = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    saved = [["hartlepool", "2019-03", 2.0], ["hartlepool", "2020-03", -1.0]]
    assert table[["yjs_id", "period_end", "fte_count"]].fillna(-1).values.tolist() == [
        ["bolton", "2020-03", 11.0], *([] if recalculate else saved)]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [2, f"column fte_count: '=E2+F2' is {UNHELD}"],
        *([[3, f"column fte_count: '=1+1' is {UNHELD}"]] if recalculate else []),
        *([[5, f"column fte_count: '=IF(1,\"\",\"x\")' is {UNHELD}"]] if recalculate else []),
        [6, f"column fte_count: '=E6 < F6' is {UNHELD}"],
        [7, f"column fte_count: {UNHELD}"], [8, f"column YJS: '=A2' is {UNHELD}"]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_formula_without_its_result_in_a_descriptive_column_is_read_as_not_given(tmp_path, services, path):
    """An inspection whose optional type is such a formula is still an inspection (its row had been set
    aside: a service inspected last month looked uninspected); its rating is no description."""
    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    rows = (f'<row r="1">{text("A1", "yjs_name")}{text("B1", "published")}{text("C1", "inspection_type")}'
            f'{text("D1", "overall_rating")}</row>'
            f'<row r="2">{text("A2", "Bolton")}{text("B2", "2024-03-15")}<c r="C2"><f>IF(E2,"FJI","")</f><v/></c>'
            f'{text("D2", "Good")}</row>'
            f'<row r="3">{text("A3", "Hartlepool")}{text("B3", "2024-03-15")}{text("C3", "SQS")}'
            f'<c r="D3"><f>E3</f><v/></c></row>')
    (tmp_path / "inspections").mkdir()
    xlsx_with_cells(tmp_path / "inspections/list.xlsx", rows)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    assert got.table[["yjs_id", "inspection_type", "overall_rating"]].values.tolist() == [["bolton", None, "Good"]]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [3, f"column overall_rating: '=E3' is {UNHELD}"]]


def test_characters_an_xlsx_escapes_are_read_as_themselves(tmp_path, services):
    """Excel and XlsxWriter store a carriage return as ``_x000D_`` (an underscore before "x" as
    ``_x005F_``), which openpyxl's streaming reader leaves as written: a header "fte count" over
    two lines was "fte_x000D_ count", no column for fte_count, and a name "Bolton" ending in a
    line break matched no service."""
    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'
    rows = (f'<row r="1">{text("A1", "YJS")}{text("B1", "period_x000D_&#10;end")}{text("C1", "fte_x000D_&#10;count")}'
            '</row>'
            f'<row r="2">{text("A2", "Bolton_x000D_&#10;")}{text("B2", "2019-03")}<c r="C2"><v>10</v></c></row>'
            f'<row r="3">{text("A3", "Hartlepool")}{text("B3", "2019-03")}<c r="C3"><v>4</v></c>'
            f'{text("D3", "a_x005F_x000D_b")}</row>')
    (tmp_path / "first_time_entrants").mkdir()
    xlsx_with_cells(tmp_path / "first_time_entrants/fte.xlsx", rows)
    got = read_first_time_entrants(tmp_path, services)
    assert got.table[["yjs_id", "fte_count"]].values.tolist() == [["bolton", 10.0], ["hartlepool", 4.0]]
    assert got.quarantine.empty
    from pipeline.ingest import grids
    assert grids._xlsx_text("a_x005F_x000D_b") == "a_x000D_b" and grids._xlsx_text("x_x000D_") == "x\r"


def test_a_formula_with_no_saved_value_in_a_cell_that_names_no_position_fails_its_file(tmp_path, services):
    """A cell's position (r) is optional in the format: without it, which row's value is
    missing is unknown, so the file is refused, named, rather than read with a suppressed count."""
    (tmp_path / "first_time_entrants").mkdir()
    xlsx_with_cells(tmp_path / "first_time_entrants/fte.xlsx",
                    '<row><c t="inlineStr"><is><t>YJS</t></is></c></row><row><c><f>1+1</f></c></row>')
    with pytest.raises(IngestError, match=r"fte\.xlsx \[Sheet\]: a formula with no saved value in a cell "
                                          r"that names no position"):
        read_first_time_entrants(tmp_path, services)


def test_an_ods_formula_whose_value_was_never_saved_is_quarantined(tmp_path, services):
    """As an xlsx's: LibreOffice saves a formula's result beside it (office:value), a script may
    not. A formula without a saved value is shown as such (its row quarantined) where it had
    been empty, a suppressed count, or had failed the file (a float cell without its value);
    a formula with its saved value is read."""
    def text(value: str) -> str:
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    def row(*cells: str) -> str:
        return "<table:table-row>" + "".join(cells) + "</table:table-row>"
    body = ('<table:table table:name="FTE">'
            + row(text("YJS"), text("period_end"), text("fte_count"))
            + row(text("Bolton"), text("2019-03"), '<table:table-cell table:formula="of:=[.D2]+[.E2]"/>')
            + row(text("Hartlepool"), text("2019-03"), '<table:table-cell table:formula="of:=1+1" '
                  'office:value-type="float" office:value="2"><text:p>2</text:p></table:table-cell>')
            + row(text("Bolton"), text("2020-03"), '<table:table-cell table:formula="of:=[.D4]" '
                  'office:value-type="float"/>')
            + row(text("Hartlepool"), text("2020-03"), '<table:table-cell office:value-type="float" '
                  'office:value="7"><text:p>7</text:p></table:table-cell>')
            + "</table:table>")
    (tmp_path / "first_time_entrants").mkdir()
    write_ods_xml(tmp_path / "first_time_entrants/fte.ods", [body])
    got = read_first_time_entrants(tmp_path, services)
    table = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    assert table[["yjs_id", "period_end", "fte_count"]].values.tolist() == [
        ["hartlepool", "2019-03", 2.0], ["hartlepool", "2020-03", 7.0]]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [2, f"column fte_count: '=[.D2]+[.E2]' is {UNHELD}"], [4, f"column fte_count: '=[.D4]' is {UNHELD}"]]


def ods_bytes(tables: str) -> bytes:
    """An .ods whose spreadsheet body is ``tables`` (content.xml written by hand)."""
    buffer = io.BytesIO()
    write_ods_xml(buffer, [tables])
    return buffer.getvalue()


def test_ods_cells_as_a_csv_export_shows_them():
    """Text runs (spaces, tabs, line breaks, spans), typed values, repeats,
    header rows and row groups; a comment and a table inside a cell are not cells or rows."""
    from pipeline.ingest import ods

    def cell(body: str = "", **attrs) -> str:
        at = "".join(f' {k.replace("__", ":").replace("_", "-")}="{v}"' for k, v in attrs.items())
        return f"<table:table-cell{at}>{body}</table:table-cell>"
    text = ('<text:p>a<text:s text:c="3"/>b<text:tab/>c<text:span>d<text:s/>e</text:span>f</text:p>'
            "<text:p>second<text:line-break/>line</text:p>")
    inner = '<table:table table:name="inner"><table:table-row>' + cell("<text:p>no</text:p>") + "</table:table-row></table:table>"
    rows = [
        "<table:table-header-rows><table:table-row>" + cell("<text:p>YJS</text:p>") + cell("<text:p>n</text:p>")
        + "</table:table-row></table:table-header-rows>",
        "<table:table-row>" + cell(text) + cell(office__value_type="float", office__value="12.0")
        + cell(office__value_type="percentage", office__value="0.25") + "</table:table-row>",
        '<table:table-row table:number-rows-repeated="2">'
        + cell('<office:annotation><text:p>a comment</text:p></office:annotation><text:p>x</text:p>'
               + inner, office__value_type="string")
        + cell(office__value_type="date", office__date_value="2020-03-31T00:00:00", table__number_columns_repeated="2")
        + cell(office__value_type="boolean", office__boolean_value="true") + "</table:table-row>",
        '<table:table-row-group><table:table-row><table:table-cell table:number-columns-repeated="2"/>'
        + cell(office__value_type="date", office__date_value="2020-03-31T12:30:00") + "</table:table-row>"
        + '<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
          'table:number-columns-repeated="1024"/></table:table-row></table:table-row-group>',
    ]
    data = ods_bytes('<table:table table:name="Cover"/><table:table table:name="Data">' + "".join(rows)
                     + '</table:table><table:table table:name="Notes &amp; sources"><table:table-row>'
                     + cell("<text:p>Source: YJB</text:p>") + "</table:table-row></table:table>")
    got = [(title, list(grid)) for title, grid in ods.sheets(data, "x.ods")]
    assert got == [
        ("Cover", []),
        ("Data", [["YJS", "n"], ["a   b\tcd ef\nsecond\nline", "12", "0.25"],
                  *[["x", "2020-03-31", "2020-03-31", "True"]] * 2, ["", "", "2020-03-31T12:30:00"]]),
        ("Notes & sources", [["Source: YJB"]])]


def test_a_damaged_ods_fails_the_file_naming_it(tmp_path, services):
    """Cut short mid-table: odfpy's reader had kept the rows before the cut, silently."""
    rows = "".join(f'<table:table-row><table:table-cell office:value-type="string"><text:p>Bolton</text:p>'
                   f'</table:table-cell><table:table-cell office:value-type="string"><text:p>{2000 + i}-03</text:p>'
                   f'</table:table-cell><table:table-cell office:value-type="float" office:value="{i}"><text:p>{i}'
                   "</text:p></table:table-cell></table:table-row>" for i in range(20))
    header = ('<table:table-row><table:table-cell><text:p>YJS</text:p></table:table-cell><table:table-cell>'
              '<text:p>period_end</text:p></table:table-cell><table:table-cell><text:p>fte_count</text:p>'
              "</table:table-cell></table:table-row>")
    whole = ods_bytes(f'<table:table table:name="FTE">{header}{rows}</table:table>')
    cut = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(whole)) as original, zipfile.ZipFile(cut, "w") as archive:
        for part in original.infolist():
            data = original.read(part)
            archive.writestr(part, data[:len(data) * 2 // 3] if part.filename == "content.xml" else data)
    write(tmp_path, "first_time_entrants/fte.ods", "")
    (tmp_path / "first_time_entrants/fte.ods").write_bytes(whole)
    assert len(read_first_time_entrants(tmp_path, services).table) == 20
    (tmp_path / "first_time_entrants/fte.ods").write_bytes(cut.getvalue())
    with pytest.raises(IngestError, match=r"^first_time_entrants/fte\.ods: not a readable \.ods spreadsheet "
                                          r"\(ParseError: "):
        read_first_time_entrants(tmp_path, services)


def test_a_damaged_sheet_in_an_xlsx_fails_the_file_naming_it(tmp_path, services):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["YJS", "period_end", "fte_count"])
    for i in range(3000):
        book.active.append(["Bolton", f"{2000 + i % 20}-03", i])
    buffer = io.BytesIO()
    book.save(buffer)
    data = bytearray(buffer.getvalue())
    part = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    middle = part.header_offset + 30 + len(part.filename) + len(part.extra) + part.compress_size // 2
    data[middle:middle + 40] = bytes(b ^ 0x5A for b in data[middle:middle + 40])
    write(tmp_path, "first_time_entrants/fte.xlsx", "")
    (tmp_path / "first_time_entrants/fte.xlsx").write_bytes(bytes(data))
    with pytest.raises(IngestError, match=r"^first_time_entrants/fte\.xlsx: not a readable \.xlsx spreadsheet \("):
        read_first_time_entrants(tmp_path, services)


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_real_population_as_an_ons_legacy_excel_workbook(tmp_path, real_services, path):
    """ONS published its mid-year estimates as .xls up to mid-2020: the real
    2020 file in a workbook of that kind (contents, then persons, males and
    females sheets, each with title rows) reads as the plain file does."""
    wide = pd.read_csv(REAL / "mye2020_persons_sya_ltla20_ew.csv", dtype=str)
    header = ["Code", "Name", "Geography", "All ages", *wide.columns[3:]]
    body = [[code, name, "Local Authority", int(total), *map(int, ages)]
            for code, name, total, *ages in wide.itertuples(index=False)]
    titles = [["Mid-2020 population estimates by single year of age"], ["Source: Office for National Statistics"],
              [""], [""]]
    write_xls(tmp_path / "population/ukmidyearestimates20202020ladcodes.xls", {
        "Contents": [["Contents"], ["MYE2 - Persons"], ["MYE2 - Males"], ["MYE2 - Females"]],
        "MYE2 - Persons": titles + [header] + body,
        "MYE2 - Males": titles + [header] + [row[:4] + [n // 2 for n in row[4:]] for row in body],
        "MYE2 - Females": titles + [header] + [row[:4] + [n - n // 2 for n in row[4:]] for row in body]})
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, real_services)
    copy_real(tmp_path / "plain", "population", "mye2020_persons_sya_ltla20_ew.csv")
    assert_frame_equal(got.table, read_population(tmp_path / "plain", real_services).table)
    assert got.table["population_10_17"].sum() == 5_600_736 and got.quarantine.empty
    assert got.files["file"].tolist() == ["population/ukmidyearestimates20202020ladcodes.xls"]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_legacy_excel_workbook_reads_as_its_cells_show(tmp_path, services, path):
    """Date cells read as dates and number cells as numbers, whatever their
    format; a notes sheet and title rows are passed over; an error cell
    (#DIV/0!) is quarantined as not a number. Merged cells: see
    test_cells_merged_down_give_every_row_their_value."""
    rows = [["Table 1: first-time entrants"], [""], ["YJS", "period_end", "fte_count"],
            ["Bolton", dt.date(2019, 3, 31), 10], ["Bolton", dt.datetime(2020, 3, 1, 12, 0), 11.0],
            ["Hartlepool", "2019-03", 1234.0], ["Hartlepool", "2020-03", XlsError("#DIV/0!")]]
    write_xls(tmp_path / "first_time_entrants/fte.xls", {"Notes": [["[c] suppressed"]], "Table 1": rows})
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    table = got.table.assign(period_end=got.table["period_end"].dt.strftime("%Y-%m"))
    assert table[["yjs_id", "period_end", "fte_count"]].values.tolist() == [
        ["bolton", "2019-03", 10.0], ["bolton", "2020-03", 11.0], ["hartlepool", "2019-03", 1234.0]]
    assert got.quarantine[["file", "row_number", "problem"]].values.tolist() == [
        ["first_time_entrants/fte.xls", 7, "column fte_count: '#DIV/0!' is not a number"]]


def test_an_excel_file_is_read_by_what_it_holds_not_its_suffix(tmp_path, services):
    """Portals save an xlsx, or a tab-separated text table, as ".xls"; a
    legacy workbook is sometimes named ".xlsx"."""
    frame = pd.DataFrame({"YJS": ["Bolton"], "period_end": ["2020-03"], "fte_count": [7]})
    (tmp_path / "first_time_entrants").mkdir()
    frame.to_excel(tmp_path / "first_time_entrants/a.xls.tmp", index=False, engine="openpyxl")
    (tmp_path / "first_time_entrants/a.xls.tmp").rename(tmp_path / "first_time_entrants/a.xls")
    write(tmp_path, "first_time_entrants/b.xls", "YJS\tperiod_end\tfte_count\nBolton\t2021-03\t8\n")
    write_xls(tmp_path / "first_time_entrants/c.xlsx", {"FTE": [["YJS", "period_end", "fte_count"],
                                                               ["Bolton", "2022-03", 9]]})
    got = read_first_time_entrants(tmp_path, services)
    assert got.table["fte_count"].tolist() == [7.0, 8.0, 9.0] and got.quarantine.empty


def test_a_damaged_legacy_excel_workbook_fails_the_file_naming_it(tmp_path, services):
    rows = [["YJS", "period_end", "fte_count"]] + [["Bolton", f"{2000 + i % 20}-03", i] for i in range(3000)]
    write_xls(tmp_path / "first_time_entrants/fte.xls", {"FTE": rows})
    data = (tmp_path / "first_time_entrants/fte.xls").read_bytes()
    (tmp_path / "first_time_entrants/fte.xls").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"^first_time_entrants/fte\.xls: not a readable \.xls spreadsheet \("):
        read_first_time_entrants(tmp_path, services)


def test_a_workbook_with_a_table_per_sex_counts_the_one_for_everyone(tmp_path, services):
    """Read together, the three tables would be copies that disagree, all quarantined."""
    (tmp_path / "first_time_entrants").mkdir()
    with pd.ExcelWriter(tmp_path / "first_time_entrants/fte.xlsx") as book:
        for title, count in (("All children", 10), ("Boys", 8), ("Girls", 2)):
            pd.DataFrame({"YJS": ["Bolton"], "period_end": ["2020-03"], "fte_count": [count]}).to_excel(
                book, sheet_name=title, index=False)
    got = read_first_time_entrants(tmp_path, services)
    assert got.table["fte_count"].tolist() == [10.0] and got.quarantine.empty


def _population_workbook(path: Path, sheets: dict[str, int]) -> None:
    ages = [str(a) for a in range(90)] + ["90+"]
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"Contents": list(sheets)}).to_excel(book, sheet_name="Contents", index=False)
        for title, per_age in sheets.items():
            pd.DataFrame([["Population estimates by single year of age"], ["Source: ONS"]]).to_excel(
                book, sheet_name=title, index=False, header=False)
            pd.DataFrame({"Code": ["E06000001"], "Name": ["Hartlepool"], "Geography": ["Unitary Authority"],
                          "All ages": [per_age * 91], **{a: [per_age] for a in ages}}).to_excel(
                book, sheet_name=title, index=False, startrow=5)


@pytest.mark.parametrize("path", ["columns", "rows"])
@pytest.mark.parametrize("titles", [("MYE2 - Persons", "MYE2 - Males", "MYE2 - Females"),
                                    ("MYE2 - All", "MYE2 - M", "MYE2 - F")])  # ONS's mid-2012 to mid-2018
def test_ons_workbook_with_a_sheet_per_sex_counts_persons(tmp_path, services, path, titles):
    (tmp_path / "population").mkdir()
    _population_workbook(tmp_path / "population/ukpopestimatesmid2020on2021geography.xlsx",
                         dict(zip(titles, (20, 11, 9))))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2020, 160]]
    assert got.quarantine.empty
    assert got.files[["file", "rows"]].values.tolist() == [
        ["population/ukpopestimatesmid2020on2021geography.xlsx", 1]]


@pytest.mark.parametrize("titles", [("Males", "Females"), ("MYE2 - M", "MYE2 - F")])
def test_a_workbook_of_one_sex_only_fails(tmp_path, services, titles):
    (tmp_path / "population").mkdir()
    _population_workbook(tmp_path / "population/mye2020.xlsx", dict(zip(titles, (11, 9))))
    with pytest.raises(IngestError, match=r"population/mye2020.xlsx: every table is of one sex \(sheets "
                                          rf"'{titles[0]}', '{titles[1]}'\); the figures counted are for everyone"):
        read_population(tmp_path, services)


def test_a_sheet_named_by_a_last_letter_alone_is_not_of_one_sex(tmp_path, services):
    # "- M" and "- F" name sexes only as a pair, as in ONS's "MYE2 - M" and "MYE2 - F"
    (tmp_path / "population").mkdir()
    _population_workbook(tmp_path / "population/mye2020.xlsx", {"Table M": 10})
    assert read_population(tmp_path, services).table.values.tolist() == [["E06000001", 2020, 80]]


def test_wide_population_takes_each_sheets_year_from_its_name(tmp_path, services):
    (tmp_path / "population").mkdir()
    _population_workbook(tmp_path / "population/estimates.xlsx", {"Mid-2019": 10, "Mid-2020": 12})
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2019, 80], ["E06000001", 2020, 96]]


def test_a_workbook_of_a_sheet_per_year_named_for_the_range_takes_each_sheets_year(tmp_path, services):
    """"mye2013-2020_..." with sheets "2013" ... : the file's first year had been every sheet's (a
    year said so in the file's name beat a bare one in the sheet's), all but one sheet's rows were
    quarantined as conflicting and every period used another year's population, silently."""
    (tmp_path / "population").mkdir()
    _population_workbook(tmp_path / "population/mye2013-2020_persons.xlsx", {"2013": 10, "2014": 12})
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2013, 80], ["E06000001", 2014, 96]]
    assert got.quarantine.empty


def test_a_missing_column_fails_the_file_with_one_line(tmp_path, services):
    write(tmp_path, "first_time_entrants/fte.csv", "yjs,year\nBolton,2020\n")
    with pytest.raises(IngestError) as failure:
        read_first_time_entrants(tmp_path, services)
    assert str(failure.value) == ("first_time_entrants/fte.csv: no column for period_end, fte_count "
                                  "(looked for: period_end; fte_count); columns found: yjs, year")


@pytest.mark.parametrize(("files", "message"), [
    ({}, "first_time_entrants/: folder not found"),
    ({"README.md": "x"}, "first_time_entrants/: no .csv, .xlsx, .ods or .xls file"),
    ({"2024/fte.csv": "x", "2025/fte.csv": "x"}, "first_time_entrants/: no .csv, .xlsx, .ods or .xls file in {folder} "
     "(inputs are read from the folder itself, not its subfolders: found 2024/fte.csv, 2025/fte.csv)"),
    ({"fte.csv": " \n"}, "first_time_entrants/fte.csv: file is empty"),
    ({"fte.xlsx": "not a zip"}, "first_time_entrants/fte.xlsx: not a readable .xlsx spreadsheet"),
])
def test_unreadable_folders_and_files_fail(tmp_path, services, files, message):
    for name, text in files.items():
        write(tmp_path, f"first_time_entrants/{name}", text)
    with pytest.raises(IngestError, match="^" + re.escape(message).replace(re.escape("{folder}"), ".*")):
        read_first_time_entrants(tmp_path, services)


def test_conflicting_duplicates_are_quarantined_and_identical_ones_collapse(tmp_path, services):
    write(tmp_path, "first_time_entrants/a.csv", "yjs_name,period_end,fte_count\nBolton,2020-03,5\nHartlepool,2020-03,7\n")
    write(tmp_path, "first_time_entrants/b.csv", "yjs_name,period_end,fte_count\nBolton,2020-03,5\nHartlepool,2020-03,8\n")
    got = read_first_time_entrants(tmp_path, services)
    assert got.table["yjs_id"].tolist() == ["bolton"]
    assert got.quarantine["problem"].tolist() == [
        "yjs_id hartlepool period_end 2020-03-31 period_months 12: conflicts with "
        "first_time_entrants/b.csv row 3 (fte_count 7 vs 8)",
        "yjs_id hartlepool period_end 2020-03-31 period_months 12: conflicts with "
        "first_time_entrants/a.csv row 3 (fte_count 8 vs 7)",
    ]


def test_parts_of_a_merged_service_are_summed(tmp_path, services):
    write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
          "Herefordshire,2017-03,3\nShropshire,2017-03,4\nHerefordshire,2018-03,3\nShropshire,2018-03,*\n"
          "Bolton,2017-03,5\nBolton,2017-03,6\n")
    got = read_first_time_entrants(tmp_path, services)
    assert got.table[["yjs_id", "fte_count", "suppressed"]].fillna(-1).values.tolist() == [
        ["west-mercia", 7.0, False], ["west-mercia", -1, True]]
    assert got.quarantine["row_number"].tolist() == [6, 7]  # the same name twice is not a part
    assert got.quarantine["problem"].iloc[0] == (
        "yjs_id bolton period_end 2017-03-31 period_months 12: conflicts with "
        "first_time_entrants/fte.csv row 7 (fte_count 5 vs 6)")


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_parts_must_make_the_whole_service_once(tmp_path, services, path):
    """A service's local authorities listed separately are summed only where they make the whole service:
    one left out (unreadable, or named as no LA of the lookup has it) would make the sum short, and one
    beside the service's own figure would count twice. Two names for the same LAs are one figure twice."""
    write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
          "Herefordshire,2019-03,3\nShropshire,2019-03,4\n"  # the whole of West Mercia: 7
          "Herefordshire,2020-03,3\nShropshire,2020-03,three\n"  # Shropshire's unreadable
          "Herefordshire,2021-03,3\nSalop,2021-03,4\n"  # Shropshire named as the lookup does not name it
          "Gwynedd and Ynys Mon,2021-03,9\nGwynedd,2021-03,5\nAnglesey,2021-03,4\n"  # the whole beside its parts
          "Hull YOS,2021-03,57\nKingston-upon-Hull,2021-03,62\n"  # one service by two names, two figures
          "Bolton,2021-03,5\nBolton YOT,2021-03,5\n")  # one figure twice
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    assert got.table[["yjs_id", "period_end", "fte_count"]].astype(str).values.tolist() == [
        ["bolton", "2021-03-31", "5.0"], ["gwynedd-and-ynys-mon", "2021-03-31", "9.0"],
        ["west-mercia", "2019-03-31", "7.0"]]
    short = ("Herefordshire, County of: part of West Mercia, whose other local authorities (Shropshire) this "
             "file gives no figure for in this period, so the sum of the parts given would be short")
    twice = ": part of Gwynedd and Ynys Môn, whose figure for the whole service this file also gives for this " \
            "period: added to it, the part would count twice"
    hull = "yjs_id kingston-upon-hull period_end 2021-03-31 period_months 12: conflicts with first_time_entrants/fte.csv"
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [4, short], [5, "column fte_count: 'three' is not a number"], [6, short],
        [7, "service name 'Salop' matches no service in the services lookup"],
        [9, "Gwynedd" + twice], [10, "Isle of Anglesey" + twice],
        [11, f"{hull} row 12 (fte_count 57 vs 62)"], [12, f"{hull} row 11 (fte_count 62 vs 57)"]]


@pytest.mark.parametrize("path", ["columns", "rows"])
@pytest.mark.parametrize("trailing", ["", ",,"])  # a header's own trailing delimiters are no columns
def test_a_csv_row_with_more_cells_than_its_header_is_quarantined(tmp_path, services, path, trailing):
    """An unquoted thousands separator splits a figure over two cells: "1,234" would be read as 1."""
    write(tmp_path, "first_time_entrants/fte.csv", f"yjs_name,period_end,period_months,fte_count{trailing}\n"
          "Bolton,2021-03,12,1,234\nHartlepool,2021-03,12,56,,\nGreenwich,2021-03,12,\"1,024\"\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    assert got.table[["yjs_id", "fte_count"]].values.tolist() == [["greenwich", 1024.0], ["hartlepool", 56.0]]
    assert got.quarantine[["row_number", "problem", "raw"]].values.tolist() == [
        [2, "5 cells where the header has 4: a comma in an unquoted figure or name (1,234) shifts the cells "
            "after it", '{"yjs_name": "Bolton", "period_end": "2021-03", "period_months": "12", "fte_count": "1", '
                        '"column_5": "234"}']]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_periods_with_notes_and_financial_years_said_so(tmp_path, services, path):
    """A period's footnote or status is not part of it; a financial year reads as one where it says so
    ("FY", "financial year"): bare, "2011-12" is the contract's December 2011, so "2019-20" is refused
    with a hint rather than read as a financial year beside it."""
    write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
          "Bolton,2020-03 [note 1],1\nBolton,Mar 2021 [p],2\nBolton,FY 2021-22,3\n"
          "Bolton,Financial year 2022/23,4\nBolton,FY2023\u201324,5\nBolton,2019-20,6\n"
          "Bolton,Apr 2014-Mar 2015,7\nBolton,Apr 2015\u2013Mar 2016,8\n"  # YJB's ranges, without spaces
          "Bolton,FY 9999-00,9\n")  # a year no date holds: a problem, not a crash
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_first_time_entrants(tmp_path, services)
    assert got.table[["period_end", "period_months", "fte_count"]].astype(str).values.tolist() == [
        ["2015-03-31", "12", "7.0"], ["2016-03-31", "12", "8.0"], ["2020-03-31", "12", "1.0"], ["2021-03-31", "12", "2.0"], ["2022-03-31", "12", "3.0"],
        ["2023-03-31", "12", "4.0"], ["2024-03-31", "12", "5.0"]]
    assert got.quarantine["problem"].tolist() == [
        "column period_end: '2019-20' is not a month (expected YYYY-MM); a financial year? Write it FY 2019-20",
        "column period_end: 'FY 9999-00' is not a financial year (expected YYYY-YY)"]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_an_outcome_tables_subtotals_are_not_added_to_their_parts(tmp_path, services, path):
    """The outcome table's rows that differ in a column not read are parts, summed: a "Total custody"
    type beside the sentence types, or "All ages" beside the age groups, had counted them twice. Of a
    service's custody rows of a year, those with the fewest Total or All labels are counted; a total
    alone, or a total of the other tiers, is as before."""
    write(tmp_path, "custody/Outcome_Table.csv", "Financial_Year,YJS,Age_group,Caution_or_sentence_tier,"
          "Caution_or_sentence_type,Number_Cautioned_Sentenced\n"
          "2021-22,Bolton,10-14,Custody,DTO,1\n2021-22,Bolton,15-17,Custody,DTO,4\n"
          "2021-22,Bolton,All ages,Custody,DTO,5\n2021-22,Bolton,All ages,Custody,Total custody,5\n"
          "2021-22,Bolton,All ages,Pre Court,Total,30\n"
          "2021-22,Hartlepool,10-17,Custody,Detention and Training Order,3\n"
          "2021-22,Hartlepool,10-17,Custody,Section 250,1\n2021-22,Hartlepool,10-17,Custody,Total,4\n"
          "2021-22,Greenwich,All ages,Custody,Total,2\n2021-22,Greenwich,All ages,Community,YRO,6\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "custodial_sentences"]].values.tolist() == [
        ["bolton", 5.0], ["greenwich", 2.0], ["hartlepool", 4.0]]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [4, SUBTOTAL], [5, SUBTOTAL], [9, SUBTOTAL]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_outcome_table_year_with_an_unreadable_custody_row_is_unknown_not_0(tmp_path, services, path):
    """A year the outcome table lists with no Custody row had none (0), but one whose Custody row cannot
    be read (or a row of a tier not known, which may be custody) had an unknown number: its other rows
    are quarantined, not read as 0. "Custodial sentence" is the Custody tier."""
    write(tmp_path, "custody/Outcome_Table.csv", "Financial_Year,YJS,Caution_or_sentence_tier,"
          "Number_Cautioned_Sentenced\n2021-22,Bolton,Pre Court,5\n2021-22,Bolton,Custody,twelve\n"
          "2021-22,Hartlepool,Community,4\n2021-22,Hartlepool,Custodial sentence,2\n"
          "2021-22,Greenwich,First Tier,3\n2021-22,Greenwich,Detention,1\n2021-22,West Mercia,Community,2\n"
          "2022-23 [note 3],Hartlepool,Custody,1\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "period_end", "custodial_sentences"]].astype(str).values.tolist() == [
        ["hartlepool", "2022-03-31", "2.0"], ["hartlepool", "2023-03-31", "1.0"], ["west-mercia", "2022-03-31", "0.0"]]
    unknown = "the year's custodial sentences are unknown (not 0)"
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [2, f"yjs_id bolton period_end 2022-03-31: row 3, of tier 'Custody', could not be read, so {unknown}"],
        [3, "column Number_Cautioned_Sentenced: 'twelve' is not a number"],
        [6, f"yjs_id greenwich period_end 2022-03-31: row 7, of tier 'Detention', could not be read, so {unknown}"],
        [7, "column Caution_or_sentence_tier: 'Detention' is not a tier of the outcome table (Pre Court, First "
            "Tier, Community or Custody)"]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_outcome_table_year_whose_custody_row_has_no_readable_year_is_unknown_in_every_year(tmp_path, services,
                                                                                             path):
    """A Custody row whose year cannot be read may be of any year of its service: each year's count in
    that file is unknown (it had been 0, or the sum of the rows read); other services' stay."""
    write(tmp_path, "custody/Outcome_Table.csv", "Financial_Year,YJS,Caution_or_sentence_tier,"
          "Number_Cautioned_Sentenced\n2019-20,Bolton,Community,5\n2019-2O,Bolton,Custody,8\n"
          "2020-21,Bolton,Custody,2\n2019-20,Hartlepool,Custody,3\n,Hartlepool,Community,4\n"
          "2019-20,Greenwich,Custody,1\n2019-20,Greenwich,Community,6\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "period_end", "custodial_sentences"]].astype(str).values.tolist() == [
        ["greenwich", "2020-03-31", "1.0"], ["hartlepool", "2020-03-31", "3.0"]]
    unknown = ("row 3, of tier 'Custody', has a financial year that could not be read (any year's row), so the "
               "year's custodial sentences are unknown (not 0)")
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [2, f"yjs_id bolton period_end 2020-03-31: {unknown}"],
        [3, "column Financial_Year: '2019-2O' is not a financial year (expected YYYY-YY)"],
        [4, f"yjs_id bolton period_end 2021-03-31: {unknown}"],
        [6, "column Financial_Year: '' is not a financial year (expected YYYY-YY)"]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_outcome_table_row_given_twice_is_counted_once(tmp_path, services, path):
    """Rows equal in every cell are one row given twice (a download pasted twice into one file), not
    two parts; rows alike in the columns read but not in another (the sentence type) are two parts."""
    header = "Financial_Year,YJS,Caution_or_sentence_tier,Caution_or_sentence_type,Number_Cautioned_Sentenced\n"
    block = "2019-20,Bolton,Custody,DTO,5\n2019-20,Bolton,Custody,S250,5\n2019-20,Bolton,Community,YRO,7\n"
    write(tmp_path, "custody/Outcome_Table.csv", header + block + "2019-20,Hartlepool,Custody,DTO,2\n" + block)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "custodial_sentences"]].values.tolist() == [["bolton", 10.0], ["hartlepool", 2.0]]
    assert got.quarantine.empty


# --- reoffending and custody ----------------------------------------------


def test_reoffending_cohorts(tmp_path, services):
    write(tmp_path, "reoffending/r.csv", "YJS,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
          "Bolton,2020-03,12,\"1,200\",300,900\nBolton,2020-06,3,40,*,*\n"
          "Hartlepool,2020-03,6,40,10,20\nHartlepool,2020-06,3,40,41,60\n")
    got = read_reoffending(tmp_path, services)
    assert got.table[["cohort_months", "cohort_size", "suppressed"]].values.tolist() == [[12, 1200.0, False], [3, 40.0, True]]
    assert math.isnan(got.table.iloc[1]["reoffenders"])
    assert got.quarantine["problem"].tolist() == [
        "column cohort_months: '6' is not a cohort length (3 or 12 months)",
        "column reoffenders: 41 is more than cohort_size 40",
    ]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_missing_reoffences_count_leaves_the_reoffending_rate_published(tmp_path, services, path):
    # the rate is reoffenders / cohort size: a suppressed or empty reoffences cell had suppressed it
    write(tmp_path, "reoffending/r.csv", "YJS,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
          "Bolton,2024-12,3,20,8,*\nHartlepool,2024-12,3,11,2,\nGreenwich,2024-12,3,30,x,x\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_reoffending(tmp_path, services)
    table = got.table.set_index("yjs_id")
    assert table["suppressed"].to_dict() == {"bolton": False, "greenwich": True, "hartlepool": False}
    assert table["reoffences"].isna().all() and got.quarantine.empty
    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])
    values, _ = model_panel.build_panel(
        {"reoffending": got.table, "first_time_entrants": empty.assign(fte_count=[]),
         "custody": empty.assign(custodial_sentences=[])}, services,
        pd.DataFrame(columns=["la_code", "year", "population_10_17"]), dt.date(2026, 11, 1), 3)
    rate = values.set_index("yjs_id")["rate"]
    assert rate["bolton"] == pytest.approx(40.0) and rate["hartlepool"] == pytest.approx(200 / 11)
    assert math.isnan(rate["greenwich"])


def test_reoffending_headed_as_the_yjb_and_moj_head_it(tmp_path, services):
    write(tmp_path, "reoffending/r.csv", "YJS,Cohort,Cohort months,Number of children in cohort,"
          "Number of re-offenders,Number of reoffences\nBolton,Apr 2019 - Mar 2020,12,120,40,95\n")
    got = read_reoffending(tmp_path, services)
    assert got.table[["yjs_id", "cohort_end", "cohort_months", "cohort_size", "reoffenders", "reoffences"]].astype(
        str).values.tolist() == [["bolton", "2020-03-31", "12", "120.0", "40.0", "95.0"]]


def test_custody_standard_layout(tmp_path, services):
    write(tmp_path, "custody/c.csv", "yjs_name,period_end,custodial_sentences\nWest Mercia,2021-03,11\nBolton,2021-03,[z]\n")
    got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "custodial_sentences", "suppressed"]].fillna(-1).values.tolist() == [
        ["bolton", -1, True], ["west-mercia", 11.0, False]]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_an_outcome_table_by_gender_counts_its_totals_only(tmp_path, services, path):
    # Male 5 + Female 1 + Total 6 had been summed to 12 custodial sentences
    write(tmp_path, "custody/outcome.csv", "Financial_Year,YJS,Caution_or_sentence_tier,Gender,Number_Cautioned_Sentenced\n"
          "2022-23,Bolton,Custody,Male,5\n2022-23,Bolton,Custody,Female,1\n2022-23,Bolton,Custody,Total,6\n"
          "2022-23,Bolton,Community,Male,9\n2022-23,Hartlepool,Custody,All genders,2\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_custody(tmp_path, services)
    assert got.table[["yjs_id", "custodial_sentences"]].values.tolist() == [["bolton", 6], ["hartlepool", 2]]
    assert got.quarantine["row_number"].tolist() == [2, 3, 5]
    assert got.quarantine["problem"].str.startswith("column Gender: ").all()


def test_custody_from_the_yjb_outcome_table(tmp_path, services):
    frame = pd.DataFrame({
        "Financial_Year": ["2019-20"] * 5 + ["2020-21"] * 4,
        "YJS": ["Bolton", "Bolton", "Bolton", "Hartlepool", "Hartlepool", "Hartlepool", "Wales", "Bolton", "Bolton"],
        "Caution_or_sentence_tier": ["Custody", "custody", "Community", "Custody", "Custody", "Custody", "Custody",
                                     "Community", "Pre-court"],
        "Caution_or_sentence_type": ["DTO", "S250", "YRO", "DTO", "S250", "DTO", "DTO", "YRO", "Youth Caution"],
        "Number_Cautioned_Sentenced": ["3", "1,002", "40", "*", "*", "2", "9", "*", "31"],
    })
    (tmp_path / "custody").mkdir()
    frame.to_excel(tmp_path / "custody/outcome.xlsx", sheet_name="Outcome_Table", index=False)
    got = read_custody(tmp_path, services)
    table = got.table.set_index(["yjs_id", "period_end"])
    assert table.loc[("bolton", pd.Timestamp("2020-03-31")), "custodial_sentences"] == 1005
    hartlepool = table.loc[("hartlepool", pd.Timestamp("2020-03-31"))]
    assert math.isnan(hartlepool.custodial_sentences) and hartlepool.suppressed
    assert table.loc[("hartlepool", pd.Timestamp("2021-03-31")), "period_months"] == 12
    # Bolton's 2020-21 lists a caution and a community sentence (suppressed) but no custody:
    # no custodial sentence that year, a count of 0, not a missing one
    bolton = table.loc[("bolton", pd.Timestamp("2021-03-31"))]
    assert bolton.custodial_sentences == 0 and not bolton.suppressed
    assert len(table) == 4  # and a service or year the table does not list has no row
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [8, "service name 'Wales' matches no service in the services lookup"]]


# --- population -------------------------------------------------------------

WIDE_HEADER = "ltla20_code,ltla20_name,total_population," + ",".join(map(str, range(90))) + ",90+\n"


def wide_row(code: str, name: str, per_age: int) -> str:
    return f"{code},{name},{per_age * 91}," + ",".join([str(per_age)] * 91) + "\n"


def test_wide_population_takes_the_year_from_the_file_name_and_carries_codes(tmp_path, services):
    write(tmp_path, "population/mye2020_persons.csv", WIDE_HEADER
          + wide_row("E06000001", "Hartlepool", 100)
          + wide_row("E07000163", "Craven", 10) + wide_row("E07000164", "Hambleton", 20)  # -> North Yorkshire
          + "".join(wide_row(f"E0700016{i}", "", 1) for i in range(5, 10))  # its five other districts
          + wide_row("E10000006", "Cumbria", 5) + wide_row("E92000001", "England", 9)
          + wide_row("E10000016", "Kent", 7))
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2020, 800], ["E06000065", 2020, 280]]
    assert got.quarantine["problem"].tolist() == [
        "la_code E10000006 was split between several successor authorities; use district-level figures",
        "la_code E92000001 is not a local authority in the services lookup",
        "la_code E10000016 is not a local authority in the services lookup: a two-tier county, and the "
        "lookup's services are made of districts, so only district rows count (ONS's lower-tier file)",
    ]


def test_a_county_lookup_counts_county_rows_and_says_why_district_rows_do_not(tmp_path):
    write(tmp_path, "services/lookup.csv", "la_code,la_name,yjs_name\nE10000016,Kent,Kent\n"
          "E06000035,Medway,Medway\n")
    services = read_services(tmp_path).table
    write(tmp_path, "population/mye2020_persons.csv", WIDE_HEADER + wide_row("E10000016", "Kent", 100)
          + wide_row("E07000105", "Ashford", 10) + wide_row("E06000035", "Medway", 20))
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000035", 2020, 160], ["E10000016", 2020, 800]]
    assert got.quarantine["problem"].tolist() == [
        "la_code E07000105 is not a local authority in the services lookup: a district of a two-tier county, "
        "and the lookup lists counties (E10 codes), so the county's row counts (ONS's upper-tier file)"]


def _lookup(tmp_path: Path, rows: str) -> pd.DataFrame:
    write(tmp_path, "services/lookup.csv", "la_code,la_name,yjs_name\n" + rows)
    return read_services(tmp_path).table


DORSET_2017 = [("E06000028", "Bournemouth", 30), ("E06000029", "Poole", 20), ("E07000048", "Christchurch", 5),
               ("E07000049", "East Dorset", 9), ("E07000050", "North Dorset", 8), ("E07000051", "Purbeck", 4),
               ("E07000052", "West Dorset", 10), ("E07000053", "Weymouth and Portland", 7)]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_county_split_by_a_reorganisation_counts_by_its_districts(tmp_path, path):
    # ONS's tables before 2019 list Dorset county (E10000009), whose Christchurch went to BCP in 2019,
    # beside its districts: the districts count, each to its successor; the county row cannot be carried
    services = _lookup(tmp_path, "E06000058,\"Bournemouth, Christchurch and Poole\",Dorset Combined\n"
                                 "E06000059,Dorset,Dorset Combined\n")
    write(tmp_path, "population/mye2017_persons.csv", WIDE_HEADER + "".join(wide_row(*r) for r in DORSET_2017)
          + wide_row("E10000009", "Dorset", 43))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000058", 2017, 55 * 8], ["E06000059", 2017, 38 * 8]]
    assert got.quarantine["problem"].tolist() == [
        "la_code E10000009 was split between several successor authorities; use district-level figures"]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_successor_with_a_part_missing_from_a_file_is_short_not_a_conflict(tmp_path, path):
    # ONS's upper-tier table of 2017 gives Bournemouth and Poole but not Christchurch (a district of the
    # county then): its BCP would be short, so the lower-tier file's BCP counts and not a conflict of the two
    services = _lookup(tmp_path, "E06000058,\"Bournemouth, Christchurch and Poole\",BCP\n")
    write(tmp_path, "population/mye2017_lower.csv", WIDE_HEADER + "".join(wide_row(*r) for r in DORSET_2017[:3]))
    write(tmp_path, "population/mye2017_upper.csv", WIDE_HEADER + "".join(wide_row(*r) for r in DORSET_2017[:2]))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000058", 2017, 55 * 8]]
    assert got.quarantine[["file", "row_number", "problem"]].values.tolist() == [
        ["population/mye2017_upper.csv", row, f"la_code {code} (carried to E06000058) year 2017: the file lacks "
                                              "E07000048, also part of E06000058, so its sum would be short"]
        for row, code in ((2, "E06000028"), (3, "E06000029"))]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_an_area_given_beside_the_areas_it_was_made_of_is_not_counted_twice(tmp_path, path):
    # Somerset West and Taunton (2019) beside Taunton Deane and West Somerset (before 2019), all carried on
    # to Somerset (2023), with Somerset's other districts
    services = _lookup(tmp_path, "E06000066,Somerset,Somerset\n")
    districts = [("E07000187", "Mendip", 1), ("E07000188", "Sedgemoor", 1), ("E07000189", "South Somerset", 1)]
    write(tmp_path, "population/mye2018_persons.csv", WIDE_HEADER + "".join(wide_row(*r) for r in districts)
          + wide_row("E07000246", "Somerset West and Taunton", 2) + wide_row("E07000190", "Taunton Deane", 1)
          + wide_row("E07000191", "West Somerset", 1))
    write(tmp_path, "population/mye2019_persons.csv", WIDE_HEADER + "".join(wide_row(*r) for r in districts)
          + wide_row("E07000246", "Somerset West and Taunton", 2))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000066", 2019, 40]]
    assert set(got.quarantine["problem"]) == {
        f"la_code {code} (carried to E06000066) year 2018: the file gives E07000246 and the areas it was made of "
        "(E07000190, E07000191), so its sum would count them twice"
        for code in ("E07000187", "E07000188", "E07000189", "E07000246", "E07000190", "E07000191")}


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_lookup_of_an_older_geography_keeps_its_codes(tmp_path, path):
    # a 2021 lookup has Cumbria's districts and Somerset West and Taunton: populations on those codes count
    # as they are, and older codes are carried only as far as the lookup's (Taunton Deane to SWT, not Somerset)
    services = _lookup(tmp_path, "E07000026,Allerdale,Cumbria\nE07000028,Carlisle,Cumbria\n"
                                 "E07000246,Somerset West and Taunton,Somerset\n")
    write(tmp_path, "population/mye2020_persons.csv", WIDE_HEADER + wide_row("E07000026", "Allerdale", 10)
          + wide_row("E07000028", "Carlisle", 20))
    write(tmp_path, "population/mye2018_persons.csv", WIDE_HEADER + wide_row("E07000190", "Taunton Deane", 3)
          + wide_row("E07000191", "West Somerset", 1))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E07000026", 2020, 80], ["E07000028", 2020, 160],
                                         ["E07000246", 2018, 32]]
    assert got.quarantine.empty


@pytest.mark.parametrize("name, year", [("mye22final.csv", 2022), ("ukpopestimatesmid2021on2021geography.csv", 2021),
                                        ("mye2019_persons.csv", 2019),
                                        # the estimates' year said so beats a geography's year before it
                                        ("la_2020_boundaries_mid-2019_persons.csv", 2019),
                                        ("ons_2021_census_based_mye2022.csv", 2022),
                                        ("population-estimates-2023-geography-mid-2022.csv", 2022),
                                        ("population_2020.csv", 2020), ("mid_year_2019_lad2023.csv", 2019),
                                        ("estimates_midyear_2019_2020_boundaries.csv", 2019),
                                        ("Mid-year 2019 (2023 boundaries).csv", 2019)])
def test_wide_population_year_from_onss_file_names(tmp_path, services, name, year):
    write(tmp_path, f"population/{name}", WIDE_HEADER + wide_row("E06000001", "Hartlepool", 3))
    assert read_population(tmp_path, services).table.values.tolist() == [["E06000001", year, 24]]


def test_wide_population_year_said_in_the_file_name_beats_a_bare_year_in_the_sheets_name():
    from types import SimpleNamespace

    from pipeline.ingest import population

    sheet = SimpleNamespace(layout=population.WIDE, labels={}, title="LAD 2023 geography",
                            source_file="population/mye2021_persons.xlsx", file="population/mye2021_persons.xlsx")
    assert population._file_year(sheet) == 2021
    assert population._file_year(SimpleNamespace(**{**vars(sheet), "title": "Mid-2019"})) == 2019


def test_wide_population_whose_file_name_has_two_years_and_neither_said_fails(tmp_path, services):
    write(tmp_path, "population/la_2020_boundaries_2019.csv", WIDE_HEADER + wide_row("E06000001", "Hartlepool", 1))
    with pytest.raises(IngestError, match="population/la_2020_boundaries_2019.csv: no year column, and "
                                          "'la_2020_boundaries_2019.csv' names the years 2019 and 2020"):
        read_population(tmp_path, services)


def test_wide_population_without_a_year_fails(tmp_path, services):
    write(tmp_path, "population/persons.csv", WIDE_HEADER + wide_row("E06000001", "Hartlepool", 1))
    with pytest.raises(IngestError, match="population/persons.csv: no year column"):
        read_population(tmp_path, services)


def test_long_population_counts_only_ages_10_to_17(tmp_path, services):
    rows = "".join(f"E08000001,2021,{age},\"1,000\"\n" for age in [*range(0, 90), "90+"])
    rows += "E08000001,2021,All ages,91000\n" + "".join(f"E06000001,2021,{a},5\n" for a in range(10, 17))
    write(tmp_path, "population/long.csv", "LA code,Year,Age,Population\n" + rows)
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E08000001", 2021, 8000]]
    assert set(got.quarantine["problem"]) == {"la_code E06000001 year 2021: ages 10-17 incomplete, missing 17"}


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_long_population_by_sex_counts_persons_or_both_sexes_added(tmp_path, services, path):
    """Males and females beside persons would count every child twice: an
    area's persons rows count, its rows of one sex are quarantined. Without
    persons rows, its males and females are added up, if both are complete."""
    def area(code: str, sexes: dict, ages=range(8, 18)) -> str:
        return "".join(f"{code},2021,{sex},{age},{n}\n" for age in ages for sex, n in sexes.items())
    rows = area("E08000001", {"Persons": 100, "Male": 51, "Female": 49})  # rows 2-31
    rows += area("E06000001", {"1": 5, "2": 4}, range(10, 18))  # 32-47: added up
    rows += area("E06000019", {"M": 3}, range(10, 18))  # 48-55: males only
    rows += area("E06000051", {"Boys": 2, "Girls": 1}, [a for a in range(10, 18) if a != 12])  # 56-69
    rows += "E06000051,2021,Boys,12,2\n"  # 70: the girls lack age 12
    rows += "E09000011,2021,Other,10,1\nE09000011,2021,Both sexes,10,1\n"  # 71, 72
    rows += "E06000001,2021,1,10,5\n"  # 73: a copy of row 32
    write(tmp_path, "population/long.csv", "la_code,year,sex,age,population\n" + rows)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2021, 72], ["E08000001", 2021, 800]]
    problems = got.quarantine.set_index("row_number")["problem"]
    # ages 10-17 only: the other ages are not wanted
    assert set(problems.index) == {*range(9, 31, 3), *range(10, 32, 3), *range(48, 74)}
    assert problems[9] == "la_code E08000001 year 2021: a row for males; the area's rows for all persons count"
    assert problems[10] == "la_code E08000001 year 2021: a row for females; the area's rows for all persons count"
    assert (problems[range(48, 56)] == "la_code E06000019 year 2021: males only; the population counted "
                                       "is of all persons (give persons, or males and females)").all()
    girls = "la_code E06000051 year 2021: ages 10-17 of females incomplete, missing 12"
    assert (problems[range(57, 70, 2)] == girls).all()
    assert (problems[[*range(56, 70, 2), 70]] == problems[48].replace("E06000019", "E06000051")).all()
    assert problems[71] == "column sex: 'Other' is not persons, males or females"
    assert problems[72] == "la_code E09000011 year 2021: ages 10-17 incomplete, missing 11, 12, 13, 14, 15, 16, 17"
    assert problems[73] == "duplicate of row 32 (same code, year, age and sex)"


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_population_of_both_sexes_added_conflicting_with_persons(tmp_path, services, path):
    """A total added up from males and females is compared with other files'
    as any total is; its rows are named in the file's order."""
    write(tmp_path, "population/a.csv", "la_code,year,age,sex,population\n" + "".join(
        f"E08000001,2021,{age},{sex},{n}\n" for age in range(10, 18) for sex, n in (("F", 2), ("M", 3))))
    write(tmp_path, "population/b.csv", "la_code,year,age,population\n" + "".join(
        f"E08000001,2021,{age},4\n" for age in range(10, 18)))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.empty
    problems = got.quarantine.groupby("file")["problem"].agg(lambda p: sorted(set(p))).to_dict()
    assert problems == {
        "population/a.csv": ["la_code E08000001 year 2021: conflicts with population/b.csv row 2 "
                             "(population_10_17 40 vs 32)"],
        "population/b.csv": ["la_code E08000001 year 2021: conflicts with population/a.csv row 2 "
                             "(population_10_17 32 vs 40)"]}
    assert len(got.quarantine) == 16 + 8


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_long_population_ages_in_words(tmp_path, services, path):
    """Ages as Nomis and some ONS extracts write them ("Age 10", "Aged 90+"); bands of ages, like their
    total, are not single ages and are passed over ("Aged 16+" is not 16, nor 10-14 ten)."""
    rows = "E08000001,2021,Aged 16+,7000\nE08000001,2021,Age 10 - 14,500\nE08000001,2021,Aged 10 to 14,500\n"
    rows += "".join(f"E08000001,2021,Age {age},100\n" for age in range(0, 90))
    rows += "E08000001,2021,Aged 90+,100\nE08000001,2021,All ages,9100\nE08000001,2021,Age 10-14,500\n"
    write(tmp_path, "population/long.csv", "la_code,year,age,population\n" + rows)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E08000001", 2021, 800]]
    assert got.quarantine.empty


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_count_too_large_for_any_population_is_quarantined(tmp_path, services, path):
    rows = "".join(f"E08000001,2021,{age},{'123456789012345678901' if age == 12 else 100}\n" for age in range(10, 18))
    write(tmp_path, "population/long.csv", "la_code,year,age,population\n" + rows)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.quarantine["problem"].value_counts().to_dict() == {
        "la_code E08000001 year 2021: ages 10-17 incomplete, missing 12": 7,
        "column population: '123456789012345678901' is too large for a count (over a trillion)": 1}
    assert got.table.empty


def test_population_from_an_ods_file_with_a_year_column(tmp_path, services):
    ages = {str(a): [1, 2] for a in range(0, 91)}
    frame = pd.DataFrame({"Code": ["E06000001", "W06000002"], "Name": ["Hartlepool", "Gwynedd"],
                          "Year": [2019, 2019], **ages})
    (tmp_path / "population").mkdir()
    frame.to_excel(tmp_path / "population/pop.ods", index=False, engine="odf")
    assert read_population(tmp_path, services).table["population_10_17"].tolist() == [8, 16]


def test_population_conflicts_across_files_are_quarantined(tmp_path, services):
    write(tmp_path, "population/mye2020_a.csv", WIDE_HEADER + wide_row("E06000001", "Hartlepool", 1)
          + wide_row("E08000001", "Bolton", 2))
    write(tmp_path, "population/mye2020_b.csv", WIDE_HEADER + wide_row("E06000001", "Hartlepool", 1)
          + wide_row("E08000001", "Bolton", 3))
    got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E06000001", 2020, 8]]
    assert got.quarantine["problem"].tolist() == [
        "la_code E08000001 year 2020: conflicts with population/mye2020_b.csv row 3 (population_10_17 16 vs 24)",
        "la_code E08000001 year 2020: conflicts with population/mye2020_a.csv row 3 (population_10_17 24 vs 16)",
    ]


def test_real_ltla_population_2020(tmp_path, real_services):
    copy_real(tmp_path, "population", "mye2020_persons_sya_ltla20_ew.csv")
    got = read_population(tmp_path, real_services)
    assert len(got.table) == 318 and set(got.table["la_code"]) == set(real_services["la_code"])
    assert (got.table["year"] == 2020).all() and got.quarantine.empty
    assert got.table["population_10_17"].sum() == pytest.approx(5.6e6, rel=0.01)


def nomis_csv(wide: pd.DataFrame, full: bool, genders: tuple[int, ...], percent: bool = False) -> str:
    """The real ONS wide file as Nomis's CSV download of NM_2002_1 (gender
    0-2: total, male, female; the sexes' figures here are about half each): the
    columns a ``select=`` query names, or the whole download's, with its
    codes (C_AGE is a code, not the age) beside the names."""
    ages = [c for c in wide.columns if c[0].isdigit()]
    long = wide.melt(id_vars=["ltla20_code", "ltla20_name"], value_vars=ages, var_name="age", value_name="n")
    rows = []
    for gender, name, count in ((0, "Total", long["n"]), (1, "Male", long["n"] // 2),
                                (2, "Female", long["n"] - long["n"] // 2)):
        if gender not in genders:
            continue
        part = pd.DataFrame({
            "DATE": "2020", "DATE_NAME": "June 2020", "DATE_CODE": "2020", "GEOGRAPHY": "1811939329",
            "GEOGRAPHY_NAME": long["ltla20_name"], "GEOGRAPHY_CODE": long["ltla20_code"],
            "GEOGRAPHY_TYPECODE": "434", "GENDER": gender, "GENDER_NAME": name, "GENDER_CODE": str(gender),
            "C_AGE": [101 + int(a.rstrip("+")) for a in long["age"]],
            "C_AGE_NAME": [f"Aged {a}" if a.endswith("+") else f"Age {a}" for a in long["age"]],
            "MEASURES": "20100", "MEASURES_NAME": "Value", "OBS_VALUE": count,
            "OBS_STATUS": "A", "OBS_STATUS_NAME": "Normal Value", "RECORD_OFFSET": 0, "RECORD_COUNT": 0})
        rows.append(part)
    frame = pd.concat(rows)
    if percent:  # each row also as a percentage of the area's total, listed first
        share = frame.assign(MEASURES="20301", MEASURES_NAME="Percent", OBS_VALUE=1)  # whole: it would read as a count
        frame = pd.concat([share, frame])
    if not full:
        frame = frame[["DATE_NAME", "GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "GENDER_NAME", "C_AGE_NAME",
                       "MEASURES_NAME", "OBS_VALUE", "OBS_STATUS_NAME"]]
    return frame.to_csv(index=False)


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_nomis_download_with_percentages_counts_the_values(tmp_path, real_services, path):
    """Its percent rows, listed before the values, would otherwise be kept as the counts."""
    wide = pd.read_csv(REAL / "mye2020_persons_sya_ltla20_ew.csv", dtype={"ltla20_code": str})
    write(tmp_path, "population/nomis.csv", nomis_csv(wide, True, (0,), percent=True))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, real_services)
    assert got.table["population_10_17"].sum() == 5_600_736
    assert len(got.quarantine) == 8 * len(wide)
    assert (got.quarantine["problem"] == "column MEASURES_NAME: 'Percent' is not a count of people "
                                         "(choose the measure Value)").all()


@pytest.mark.parametrize("genders", [(0, 1, 2), (1, 2)], ids=["total-male-female", "male-female"])
@pytest.mark.parametrize("full", [False, True], ids=["selected", "full"])
@pytest.mark.parametrize("path", ["columns", "rows"])
def test_real_population_as_a_nomis_download(tmp_path, real_services, path, full, genders):
    """The real 2020 file melted into Nomis's layout gives the same
    populations: from the totals, their male and female rows quarantined,
    or from the males and females added up."""
    wide = pd.read_csv(REAL / "mye2020_persons_sya_ltla20_ew.csv", dtype={"ltla20_code": str})
    write(tmp_path, "population/nomis.csv", nomis_csv(wide, full, genders))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, real_services)
    copy_real(tmp_path / "plain", "population", "mye2020_persons_sya_ltla20_ew.csv")
    assert_frame_equal(got.table, read_population(tmp_path / "plain", real_services).table)
    assert got.table["population_10_17"].sum() == 5_600_736
    if 0 in genders:
        assert len(got.quarantine) == 2 * 8 * len(wide)  # males and females aged 10-17
        assert got.quarantine["problem"].str.contains(r"year 2020: a row for (?:fe)?males; the area's rows "
                                                      "for all persons count").all()
    else:
        assert got.quarantine.empty


def myeb_csv(wide: pd.DataFrame) -> str:
    """The real 2020 file as ONS's time series (MYEB2: a row per area, sex and
    age; the population of each year and the components of change between):
    males and females about half each, 2019 a tenth fewer."""
    ages = [c for c in wide.columns if c[0].isdigit()]
    long = wide.melt(id_vars=["ltla20_code", "ltla20_name"], value_vars=ages, var_name="age", value_name="n")
    parts = []
    for sex, count in ((1, long["n"] // 2), (2, long["n"] - long["n"] // 2)):
        parts.append(pd.DataFrame({
            "ladcode20": long["ltla20_code"], "laname20": long["ltla20_name"], "country": "E", "sex": sex,
            "age": long["age"].str.rstrip("+"), "population_2019": count - count // 10,
            "births_2020": 0, "deaths_2020": 1, "population_2020": count}))
    return pd.concat(parts).to_csv(index=False)


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_real_population_as_an_ons_time_series(tmp_path, real_services, path):
    """A column per year, males and females added up: 2020 as the real file gives it."""
    wide = pd.read_csv(REAL / "mye2020_persons_sya_ltla20_ew.csv", dtype={"ltla20_code": str})
    write(tmp_path, "population/MYEB2_detailed_components_of_change_series_EW_(2020_geog20).csv", myeb_csv(wide))
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, real_services)
    copy_real(tmp_path / "plain", "population", "mye2020_persons_sya_ltla20_ew.csv")
    plain = read_population(tmp_path / "plain", real_services).table
    assert_frame_equal(got.table[got.table["year"] == 2020].reset_index(drop=True), plain)
    assert len(got.table) == 2 * len(plain) and got.quarantine.empty
    teens = wide[[str(a) for a in range(10, 18)]].to_numpy()
    males, females = teens // 2, teens - teens // 2
    assert got.table.groupby("year")["population_10_17"].sum().to_dict() == {
        2019: (males - males // 10 + females - females // 10).sum(), 2020: 5_600_736}


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_ons_time_series_rows_and_columns(tmp_path, services, path):
    """A bad count quarantines its row (every year of it), named by its column."""
    rows = "".join(f"E08000001,Bolton,{sex},{age},{age},{2 * age}\n" for age in range(0, 91) for sex in (1, 2))
    rows += "E06000001,Hartlepool,1,10,x,1\n"
    write(tmp_path, "population/myeb.csv", "ladcode21,laname21,sex,age,population_2019,Population 2020\n" + rows)
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_population(tmp_path, services)
    assert got.table.values.tolist() == [["E08000001", 2019, 2 * sum(range(10, 18))],
                                         ["E08000001", 2020, 4 * sum(range(10, 18))]]
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [184, "column population_2019: 'x' is not published; a population is required"]]


@pytest.mark.parametrize("header, message", [
    ("lad_name,sex,age,population_2019", r"no column for la_code \(looked for"),
    ("code,age,pop", r"no column for year, population \("),
    ("foo,bar", r"no column for la_code, year, age, population \("),
])
def test_a_population_header_that_fits_no_layout_names_the_nearest(tmp_path, services, header, message):
    """The time series is the nearest miss only with a column of its years."""
    write(tmp_path, "population/p.csv", f"{header}\n1,2,3,4\n")
    with pytest.raises(IngestError, match=r"^population/p\.csv: " + message):
        read_population(tmp_path, services)


def test_ons_time_series_with_a_future_year_fails(tmp_path, services):
    write(tmp_path, "population/snpp.csv", "code,age,population_2020,population_2099\nE08000001,10,1,1\n")
    with pytest.raises(IngestError, match=r"^population/snpp.csv: column population_2099 is after this year"):
        read_population(tmp_path, services)


def test_real_ltla_and_utla_files_together_do_not_double_count(tmp_path, real_services):
    copy_real(tmp_path, "population", "mye2020_persons_sya_ltla20_ew.csv", "mye2020_persons_sya_utla20_ew.csv")
    both = read_population(tmp_path, real_services)
    assert len(both.table) == 318
    assert both.table["population_10_17"].sum() == 5_600_736
    q = both.quarantine
    assert (q["file"] == "population/mye2020_persons_sya_utla20_ew.csv").all()
    assert len(q) == 22  # 21 counties outside the lookup + Cumbria, split


# --- periods and dates in words --------------------------------------------------


@pytest.mark.parametrize("value, end", [
    ("2023-12", "2023-12-31"), ("2023/12", "2023-12-31"), ("12/2023", "2023-12-31"), ("2023-12-15", "2023-12-31"),
    ("31/12/2023", "2023-12-31"), ("2023-12-01 00:00:00", "2023-12-31"),
    ("December 2023", "2023-12-31"), ("Dec-23", "2023-12-31"), ("dec 2023", "2023-12-31"),
    ("Sept. 2022", "2022-09-30"), ("Year ending March 2020", "2020-03-31"), ("year to Mar 2020", "2020-03-31"),
    ("12 months ending December 2023", "2023-12-31"), ("Jan to Mar 2021", "2021-03-31"),
    ("Jan-Mar 2021", "2021-03-31"), ("Oct to Mar 2021", "2021-03-31"), ("April 2019 \u2013 March 2020", "2020-03-31"),
    ("April 2019 - March 2020", "2020-03-31"), ("1 April 2019 to 31 March 2020", "2020-03-31"),
])
def test_a_period_end_may_be_written_in_words_or_as_a_range(value, end):
    assert month_end(value, "period_end") == pd.Timestamp(end)


@pytest.mark.parametrize("value", [
    "March", "2020-13", "13/2020", "2023-24", "2023 Q4", "45291", "Mar 2021 to Jan 2021", "foo to Mar 2021",
    "mid 2020", "Smarch 2020", "mar 0000",
])
def test_a_period_end_that_names_no_month_is_refused(value):
    with pytest.raises(RowProblem, match=re.escape(f"column period_end: {value!r} is not a month (expected YYYY-MM)")):
        month_end(value, "period_end")


@pytest.mark.parametrize("value, day", [
    ("2023-05-12", "2023-05-12"), ("12/05/2023", "2023-05-12"), ("12/05/23", "2023-05-12"),
    ("12 May 2023", "2023-05-12"), ("12-May-23", "2023-05-12"), ("Tuesday 12th May 2023", "2023-05-12"),
    ("May 12, 2023", "2023-05-12"), ("1 Sept 2023", "2023-09-01"), ("2023-05-12T09:30:00Z", "2023-05-12"),
    ("2023-05-12 09:30:00+01:00", "2023-05-12"),
])
def test_a_date_may_be_written_in_words(value, day):
    assert parse_date(value, "published") == pd.Timestamp(day)


@pytest.mark.parametrize("value", ["May 2023", "31 Feb 2023", "12 Smarch 2023", "2023-13-01", "05/12"])
def test_a_date_without_a_day_or_a_real_month_is_refused(value):
    with pytest.raises(RowProblem, match="is not a date"):
        parse_date(value, "published")


@pytest.mark.parametrize("value, ok", [
    ("2019-20", True), ("2019/2020", True), ("FY2019-20", True), ("FY 2019/20", True),
    ("2019-20 financial year", True), ("April 2019 to March 2020", True), ("year ending March 2020", True),
    ("Apr 2019 - Mar 2020", True), ("2020", False), ("March 2020", False), ("year ending June 2020", False),
    ("Jan 2020 to March 2020", False), ("2019-21", False), ("quarter ending March 2020", False),
])
def test_a_financial_year_may_be_written_in_words(value, ok):
    if ok:
        assert financial_year_end(value, "Financial_Year") == pd.Timestamp("2020-03-31")
    else:
        with pytest.raises(RowProblem, match="is not a financial year"):
            financial_year_end(value, "Financial_Year")


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_files_with_periods_and_dates_in_words_read_as_the_same_figures(tmp_path, services, path):
    """Each indicator, and the inspections, written once with the contract's
    YYYY-MM and ISO dates and once in words as British tables write them
    (MoJ's reoffending cohorts as "Jan to Mar 2021"): the same tables, and
    nothing quarantined but the row whose month has no year."""
    plain, words = tmp_path / "plain", tmp_path / "words"
    for root, fte, cohort, custody, published in (
            (plain, ["2020-12", "2021-12"], ["2021-03", "2020-03"], ["2019-20", "2020-21"],
             ["2019-02-01", "2022-05-12"]),
            (words, ["Dec-20", "December 2021"], ["Jan to Mar 2021", "year ending March 2020"],
             ["FY 2019-20", "April 2020 to March 2021"], ["1 Feb 2019", "Thursday 12th May 2022"])):
        write(root, "services/lookup.csv", SERVICES_CSV)
        write(root, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
              f"Bolton,{fte[0]},10\nBolton,{fte[1]},12\nHartlepool,{fte[1]},[c]\n")
        write(root, "reoffending/r.csv", "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
              f"Bolton,{cohort[0]},3,40,12,30\nBolton,{cohort[1]},12,150,50,140\n")
        write(root, "custody/c.csv", "Financial_Year,YJS,Caution_or_sentence_tier,Number_Cautioned_Sentenced\n"
              f"{custody[0]},Bolton,Custody,3\n{custody[1]},Bolton,Custody,4\n{custody[1]},Bolton,Community,9\n")
        write(root, "inspections/i.csv", "yjs_name,published,overall_rating\n"
              f"Hull YOS,\"{published[0]}\",Good\nBolton,{published[1]},Inadequate\n")
    write(words, "first_time_entrants/more.csv", "yjs_name,period_end,fte_count\nWest Mercia,March,3\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        for reader in (read_first_time_entrants, read_reoffending, read_custody, read_inspections):
            expected, got = reader(plain, services), reader(words, services)
            assert len(expected.table) >= 2 and expected.quarantine.empty
            assert_frame_equal(got.table.drop(columns="source_file", errors="ignore"),
                               expected.table.drop(columns="source_file", errors="ignore"))
            problems = got.quarantine["problem"].tolist()
            assert problems == (["column period_end: 'March' is not a month (expected YYYY-MM)"]
                                if reader is read_first_time_entrants else [])


@pytest.mark.parametrize("value, months", [
    ("2021-03", None), ("March 2021", None), ("31/03/2021", None), ("Jan to Mar 2021", 3), ("Oct to Mar 2021", 6),
    ("year ending March 2020", 12), ("12 months ending Dec 2023", 12), ("quarter ending June 2022", 3),
    ("period ending March 2020", None), ("1 April 2019 to 31 March 2020", 12), ("March", None),
])
def test_the_length_a_period_says_it_has(value, months):
    assert period_length(value) == months


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_period_that_says_its_length_gives_the_rows_period_length(tmp_path, services, path):
    """A range or a "year ending" says how long the period is: that is its
    length where the months cell is empty or absent (not the default of 12:
    a quarter's count read as a year's would be set against a year's
    population); a length given both ways must agree; a cohort must still
    be 3 or 12 months."""
    write(tmp_path, "first_time_entrants/fte.csv", "yjs_name,period_end,fte_count\n"
          "Bolton,Jan to Mar 2021,3\nBolton,year ending December 2021,12\nBolton,2022-12,13\n")
    write(tmp_path, "first_time_entrants/quarters.csv", "yjs_name,period_end,period_months,fte_count\n"
          "Hartlepool,Jan to Mar 2021,3,1\nHartlepool,Apr-Jun 2021,6,2\nHartlepool,Jul-Sep 2021,,3\n")
    write(tmp_path, "reoffending/r.csv", "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
          "Bolton,year ending March 2020,3,150,50,140\nBolton,Jan to Mar 2021,,40,12,30\n"
          "Bolton,Oct 2021 to Mar 2022,,40,12,30\nBolton,2022-06,,40,12,30\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        fte, reoffending = read_first_time_entrants(tmp_path, services), read_reoffending(tmp_path, services)
    table = fte.table.assign(period_end=fte.table["period_end"].dt.strftime("%Y-%m"))
    assert table[["yjs_id", "period_end", "period_months", "fte_count"]].values.tolist() == [
        ["bolton", "2021-03", 3, 3.0], ["bolton", "2021-12", 12, 12.0], ["bolton", "2022-12", 12, 13.0],
        ["hartlepool", "2021-03", 3, 1.0], ["hartlepool", "2021-09", 3, 3.0]]
    assert fte.quarantine[["file", "row_number", "problem"]].values.tolist() == [
        ["first_time_entrants/quarters.csv", 3,
         "column period_end: 'Apr-Jun 2021' is a period of 3 months, but period_months says 6"]]
    assert reoffending.table[["cohort_end", "cohort_months"]].values.tolist() == [[pd.Timestamp("2021-03-31"), 3]]
    assert reoffending.quarantine["problem"].tolist() == [
        "column cohort_end: 'year ending March 2020' is a period of 12 months, but cohort_months says 3",
        "column cohort_end: 'Oct 2021 to Mar 2022' is a period of 6 months, not a cohort length (3 or 12 months)",
        "column cohort_months: '' is missing; a whole number is required"]


@pytest.mark.parametrize("header", ["YOT", "Youth Offending Team", "Youth Justice Service", "YOS name", "YJS Name"])
def test_the_service_column_may_be_headed_as_publishers_head_it(tmp_path, header):
    """The lookup, an indicator and the inspections with the service column
    under an older or a longer name read as with yjs_name."""
    write(tmp_path, "services/lookup.csv", f"la_code,la_name,{header}\nE08000001,Bolton,Bolton\n"
          "E06000001,Hartlepool,Hartlepool\n")
    services = read_services(tmp_path).table
    write(tmp_path, "first_time_entrants/fte.csv", f"{header},period_end,fte_count\nBolton,2021-03,7\n")
    write(tmp_path, "inspections/i.csv", f"{header},published,overall_rating\nHartlepool YOS,2022-05-12,Good\n")
    assert services["yjs_id"].tolist() == ["bolton", "hartlepool"]
    assert read_first_time_entrants(tmp_path, services).table["yjs_id"].tolist() == ["bolton"]
    assert read_inspections(tmp_path, services).table["yjs_id"].tolist() == ["hartlepool"]


MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"]


_WORD = st.sampled_from([*MONTH_NAMES, *(m[:3] for m in MONTH_NAMES), "Sept", "Smarch", "year ending", "to", "FY",
                         "quarter ending", "Q4", "mid", "Tuesday"])
_NUMBER = (st.sampled_from(["0", "00", "0000", "0001", "1899", "2020", "9999", "13", "31", "32"])
           | st.integers(0, 99999).map(str) | st.integers(0, 99).map(lambda n: f"{n:02d}"))
_CELL_PART = _WORD | _NUMBER | st.sampled_from([" ", "-", "/", ",", ".", " to ", " - ", "\u2013", "th", "T", ":"])


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=30) | st.lists(_CELL_PART, max_size=8).map("".join) | st.builds(
    "{}{}{}{}{}".format, st.sampled_from(["", "1 ", "31 ", "32 ", "0 ", "12th "]), _WORD,
    st.sampled_from([" ", "-", "/", "", ", "]), _NUMBER, st.sampled_from(["", " to Mar 2021", " - 2020", "T10:00"])))
def test_any_cell_gives_a_date_a_period_or_a_row_problem(value):
    """Whatever a cell holds, the parsers give a value or a RowProblem that
    names the column; nothing else escapes to stop the refresh."""
    for parse in (lambda v: month_end(v, "c"), lambda v: parse_date(v, "c"), lambda v: financial_year_end(v, "c"),
                  lambda v: parse_count(v, "c")):
        try:
            parse(value)
        except RowProblem as problem:
            assert str(problem).startswith("column c: ")
    length = period_length(value)
    assert length is None or length >= 1


@settings(max_examples=200, deadline=None)
@given(st.integers(2000, 2026), st.integers(1, 12), st.integers(0, 23))
def test_a_month_in_words_and_a_range_ending_in_it_read_as_that_month(year, month, back):
    """"March 2020", "Mar-20", "year ending March 2020" and a range of
    ``back + 1`` months ending in March 2020 all end on 2020-03-31, and the
    range says how long it is."""
    end = pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)
    start = end - pd.offsets.MonthBegin(back + 1)
    name, short = MONTH_NAMES[month - 1], MONTH_NAMES[month - 1][:3]
    for text in (f"{name} {year}", f"{short}-{year % 100:02d}", f"year ending {name} {year}", f"{month:02d}/{year}",
                 f"{MONTH_NAMES[start.month - 1][:3]} {start.year} to {short} {year}",
                 f"1 {MONTH_NAMES[start.month - 1]} {start.year} - {end.day} {name} {year}"):
        assert month_end(text, "period_end") == end, text
    assert period_length(f"{MONTH_NAMES[start.month - 1]} {start.year} to {name} {year}") == back + 1
    assert period_length(f"year ending {name} {year}") == 12


# --- the GSS's shorthand in published tables --------------------------------------


@pytest.mark.parametrize("value, count", [
    ("1,234 [p]", 1234), ("1234[r]", 1234), ("12 [note 3]", 12), ("12 [P] [Note 3]", 12), ("7 [notes 1 and 2]", 7),
    ("[c] [note 2]", None), ("[x][note 1]", None), ("0 [u]", 0),
])
def test_a_figure_may_carry_its_status_or_a_footnote_reference(value, count):
    got = parse_count(value, "fte_count")
    assert (math.isnan(got) if count is None else got == count)


@pytest.mark.parametrize("value, whole, decimal", [("1.000", 1000, "1"), ("12.000", 12000, "12"),
                                                   ("1.282", 1282, "1.282"), ("40.500 [p]", 40500, "40.5")])
def test_a_point_before_three_digits_in_a_count_is_ambiguous_not_read_as_a_decimal(value, whole, decimal):
    # Excel in much of Europe writes a thousand '1.000': it had been read as 1
    with pytest.raises(RowProblem, match=re.escape(
            f"{value!r} is ambiguous: {whole} with a point between thousands, or {decimal} with a decimal point")):
        parse_count(value, "fte_count")


@pytest.mark.parametrize("value, count", [("12.0", 12), ("1,000.000", 1000), ("1234.000", 1234), ("7.0000", 7),
                                          ("0.000", 0), ("0.000 [p]", 0), ("012.000", 12)])  # no thousand starts with 0
def test_a_point_that_can_only_be_a_decimal_point_is_read(value, count):
    assert parse_count(value, "fte_count") == count


@pytest.mark.parametrize("value", ["[p]", "[note 4]", "12 [c]", "12 [q]", "12 note 3"])
def test_a_status_or_a_footnote_without_a_figure_is_not_a_number(value):
    with pytest.raises(RowProblem, match=re.escape(f"column fte_count: {value!r} is not a number")):
        parse_count(value, "fte_count")


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_lookup_with_footnote_references_names_services_without_them(tmp_path, path):
    """The published names and ids are the names' own; a name that is only
    a footnote reference is no name."""
    write(tmp_path, "services/lookup.csv", "la_code,la_name,yjs_name [note 1]\n"
          "E08000001,Bolton [note 2],Bolton YJS [note 3]\nE06000001,Hartlepool,Hartlepool\n"
          "E06000002,[note 4],Middlesbrough\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_services(tmp_path)
    assert got.table[["la_name", "yjs_name", "yjs_id"]].values.tolist() == [
        ["Bolton", "Bolton YJS", "bolton"], ["Hartlepool", "Hartlepool", "hartlepool"]]
    assert got.quarantine["problem"].tolist() == ["column la_name: empty; a name is required"]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_footnote_references_and_statuses_read_as_the_plain_table(tmp_path, services, path):
    """ONS, MoJ and YJB tables follow the GSS's guidance on symbols: "[note 3]"
    after a header, a name or a figure, "[p]" or "[r]" after a provisional or
    revised figure. They read as the same table as without them; before, the
    header was not found and such rows were quarantined."""
    plain, marked = tmp_path / "plain", tmp_path / "marked"
    for root, note, status in ((plain, "", ""), (marked, " [note 1]", " [p]")):
        write(root, "services/lookup.csv", SERVICES_CSV)
        write(root, "reoffending/r.csv",
              f"yjs_name{note},cohort_end,cohort_months,cohort_size{note},reoffenders,reoffences [note 2]\n"
              f"Bolton{note},2021-03,3,1{status},0,0\nHull YOS{note},2021-03,3,\"1,040{status}\",300,[c]{note}\n")
        write(root, "custody/c.csv", f"Financial_Year,YJS,Caution_or_sentence_tier,Number_Cautioned_Sentenced{note}\n"
              f"2019-20,Bolton,Custody{note},3{status}\n2019-20,Bolton,Community,9\n")
        write(root, "inspections/i.csv", f"yjs_name,published,overall_rating{note}\n"
              f"Bolton,2022-05-12,Good{note}\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        for reader in (read_reoffending, read_custody, read_inspections):
            expected, got = reader(plain, services), reader(marked, services)
            assert len(expected.table) and expected.quarantine.empty and got.quarantine.empty
            assert_frame_equal(got.table, expected.table)


# --- inspections -------------------------------------------------------------


def test_inspections_standard_layout_and_both_rating_scales(tmp_path, services):
    write(tmp_path, "inspections/i.csv", "yjs_name,published,overall_rating,inspection_type\n"
          "Bolton,2016-05-01,good,FJI\nBolton,2022-05-01,Good ,\nHull YOS,01/02/2019,REQUIRES IMPROVEMENT,joint\n"
          "Greenwich,2014-01-01,poor,\nGreenwich,2015-01-01,satisfactory,\nHartlepool,2013-01-01,unsatisfactory,\n"
          "Hartlepool,2020-01-01,Inadequate,\nWest Mercia,2023-01-01,Outstanding,\nBolton,2023-13-01,Good,\n")
    got = read_inspections(tmp_path, services)
    table = got.table
    assert table[["yjs_id", "overall_rating", "rating_score"]].values.tolist() == [
        ["bolton", "Good", 1], ["bolton", "Good", 2], ["greenwich", "Poor", 4], ["greenwich", "Satisfactory", 2],
        ["hartlepool", "Unsatisfactory", 3], ["hartlepool", "Inadequate", 4],
        ["kingston-upon-hull", "Requires improvement", 3], ["west-mercia", "Outstanding", 1]]
    assert table.loc[table.yjs_id == "kingston-upon-hull", "published"].item() == pd.Timestamp("2019-02-01")
    assert table["inspection_type"].tolist()[:2] == ["FJI", None]
    assert got.quarantine["problem"].tolist() == [
        "column published: '2023-13-01' is not a date (expected YYYY-MM-DD or DD/MM/YYYY)"]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_inspection_ratings_split_by_a_pdfs_text_and_joint_inspections_in_full(tmp_path, services, path):
    """Another version of the HMI Probation scrape: ratings with stray spaces inside ("Requires i mprov ement",
    as a PDF's text splits words) and joint inspections marked "- Joint_Inspection"."""
    write(tmp_path, "inspections/hmi.csv", "la_name,publication_date,overall_rating\n"
          "youth offending services in Bolton - Joint_Inspection,08/05/2024,Requires i mprov ement\n"
          "Hartlepool,12/01/2023,Inadeq uate\nGreenwich,12/01/2023,Rating\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    assert got.table[["yjs_id", "inspection_type", "overall_rating", "rating_score"]].values.tolist() == [
        ["bolton", "joint", "Requires improvement", 3], ["hartlepool", None, "Inadequate", 4]]
    assert got.quarantine["problem"].str.startswith("column overall_rating: 'Rating' is not a rating").tolist() == [True]


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_an_unreadable_rating_is_taken_from_the_score_where_there_is_one(tmp_path, services, path):
    write(tmp_path, "inspections/hmi.csv", "la_name,publication_date,overall_rating,score_%\n"
          "Bolton,08/05/2024,see note 1,16.67\nHartlepool,12/01/2023,[note 2],50.00%\n"
          "Greenwich,12/01/2023,Footnote,83.33\nWest Mercia,12/01/2023,?,86.11\n"
          "Bolton,08/05/2017,see note 1,61.11\nHartlepool,08/05/2024,see note,\nGreenwich,08/05/2024,x,n/a\n"
          "West Mercia,08/05/2024,see note,101\nBolton,12/01/2023,Good,16.67\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    rated = got.table.set_index(["yjs_id", "published"])
    assert rated.loc[rated["rating_note"].notna(), ["overall_rating", "rating_score"]].values.tolist() == [
        ["Inadequate", 4], ["Good", 2], ["Requires improvement", 3], ["Outstanding", 1]]
    assert rated.loc[("bolton", "2024-05-08"), "rating_note"] == (
        "overall_rating not read ('see note 1' is not a rating); rated from score_% 16.67: 6 of 36 points")
    assert rated.loc[("bolton", "2023-01-12"), ["overall_rating", "rating_note"]].tolist() == ["Good", None]
    # no score, not a percentage, over 100, or on the old scale (2012-2017): the row is quarantined
    assert sorted(got.quarantine["row_number"]) == [6, 7, 8, 9]
    assert got.quarantine["problem"].str.contains("is not a rating").all()


@pytest.mark.parametrize("rating, score", [
    ("1 footnote", "0.6111"),  # a cell formatted as %, written as its fraction: not 0.61%, 0 points
    ("1 footnote", "22"),  # points typed, not a %: 22% is no whole number of points
    ("1 footnote", "4.56"),  # the real scrape's Bridgend: 1.64 points, published Requires improvement
    ("1 footnote", "0"), ("", "61.11"), ("[x]", "61.11"), ("Not rated", "61.11"), ("Withdrawn", "61.11"),
])
def test_a_rating_is_not_taken_from_a_score_that_is_not_one(tmp_path, services, rating, score):
    write(tmp_path, "inspections/hmi.csv", f"la_name,publication_date,overall_rating,score_%\n"
          f"Bolton,08/05/2024,{rating},{score}\n")
    got = read_inspections(tmp_path, services)
    assert got.table.empty and got.quarantine["problem"].str.contains("is not a rating").all()


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_an_inspections_published_rating_beats_one_taken_from_its_score(tmp_path, services, path):
    write(tmp_path, "inspections/hmi.csv", "la_name,score_%,overall_rating,publication_date\n"
          "Bolton,61.11,1 The resettlement standard does not contribute.,21/06/22\n")
    write(tmp_path, "inspections/list.csv", "yjs_name,published,overall_rating\nBolton,2022-06-21,Good\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    assert got.table[["yjs_id", "overall_rating", "rating_note"]].values.tolist() == [["bolton", "Good", None]]
    assert got.quarantine.empty


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_one_inspection_rated_alike_from_two_ways_of_writing_its_score_is_one_inspection(tmp_path, services, path):
    """The same scrape row twice, its score rounded differently (61.11% and 61.1%: 22 of 36 points, Good)
    is one inspection rated Good, with nothing quarantined; both rows had been quarantined as a conflict
    that left the rating unknown, while the published table said Good. Scores that give two ratings
    still conflict."""
    write(tmp_path, "inspections/scrape_a.csv", "la_name,score_%,overall_rating,publication_date\n"
          "Bolton,61.11,1 The resettlement standard does not contribute.,21/06/22\n"
          "Hartlepool,61.11,1 The resettlement standard does not contribute.,21/06/22\n")
    write(tmp_path, "inspections/scrape_b.csv", "la_name,score_%,overall_rating,publication_date\n"
          "Bolton,61.1,1 The resettlement standard does not contribute.,21/06/22\n"
          "Hartlepool,86.11,1 The resettlement standard does not contribute.,21/06/22\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    table = got.table.set_index("yjs_id")
    assert table.loc["bolton", ["overall_rating", "rating_score"]].tolist() == ["Good", 2]
    assert table.loc["bolton", "rating_note"] == (
        "overall_rating not read ('1 The resettlement standard does not con…' is not a rating); "
        "rated from score_% 61.11: 22 of 36 points")
    assert pd.isna(table.loc["hartlepool", "overall_rating"])
    assert table.loc["hartlepool", "rating_note"].startswith("its rows disagree on the rating (Good / Outstanding")
    assert got.quarantine["problem"].str.extract(r"^yjs_id (\w+)")[0].tolist() == ["hartlepool", "hartlepool"]

@pytest.mark.parametrize("path", ["columns", "rows"])
def test_a_file_of_month_first_dates_is_read_month_first(tmp_path, services, path):
    # 1/27/2023 and 3/30/2022 can only be month first, so 1/10/2023 in that file is 10 January, not 1 October
    write(tmp_path, "inspections/us.csv", "yjs_name,published,overall_rating\n"
          "Bolton,1/27/2023,Good\nHartlepool,1/10/2023,Good\nGreenwich,12/1/2022 00:00,Inadequate\n"
          "West Mercia,3/30/2022,Good\n")
    # a British file has dates after the 12th: a typo there does not turn the file round
    write(tmp_path, "inspections/typo.csv", "yjs_name,published,overall_rating\n"
          "Bolton,3/2/2022,Good\nHartlepool,1/13/2022,Good\nGreenwich,25/12/2021,Good\n")
    # one date that can only be month first is enough where none can only be day first; the time as
    # .NET and SQL exports write it
    write(tmp_path, "inspections/us2.csv", "yjs_name,published,overall_rating\n"
          "Bolton,3/4/2021 12:00:00 AM,Good\nHartlepool,1/28/2021 12:00:00 AM,Good\n")
    # a file with both kinds is day first, as British files are; a date it cannot read is quarantined
    write(tmp_path, "inspections/uk.csv", "yjs_name,published,overall_rating\n"
          "Bolton,27/1/2024,Good\nHartlepool,1/10/2024,Good\nGreenwich,1/27/2024,Good\n"
          "West Mercia,10/01/2023 00:00,Good\nWest Mercia,11/01/2023 09:30,Good\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    assert sorted(zip(got.table["yjs_id"], got.table["published"].dt.strftime("%Y-%m-%d"))) == [
        ("bolton", "2021-03-04"), ("bolton", "2022-02-03"), ("bolton", "2023-01-27"), ("bolton", "2024-01-27"),
        ("greenwich", "2021-12-25"), ("greenwich", "2022-12-01"), ("hartlepool", "2021-01-28"),
        ("hartlepool", "2023-01-10"), ("hartlepool", "2024-10-01"), ("west-mercia", "2022-03-30"),
        ("west-mercia", "2023-01-10"), ("west-mercia", "2023-01-11")]
    assert got.quarantine[["file", "row_number"]].values.tolist() == [["inspections/typo.csv", 3],
                                                                        ["inspections/uk.csv", 4]]
    assert got.quarantine["problem"].str.contains("'1/13/2022' is not a date|'1/27/2024' is not a date").all()


@pytest.mark.parametrize("path", ["columns", "rows"])
def test_one_inspection_listed_with_and_without_its_type_is_one_inspection(tmp_path, services, path):
    write(tmp_path, "inspections/scrape.csv", "la_name,publication_date,overall_rating\n"
          "Bolton,10/01/23,Inadequate\nHartlepool,10/01/23,Good\nGreenwich,10/01/23,Good\n")
    write(tmp_path, "inspections/list.csv", "yjs_name,published,inspection_type,overall_rating\n"
          "Bolton,2023-01-10,FJI,Inadequate\nHartlepool,2023-01-10,FJI,Good\nHartlepool,2023-01-10,SQS,Good\n"
          "Greenwich,2023-01-10,FJI,Requires improvement\n")
    with one_row_at_a_time() if path == "rows" else contextlib.nullcontext():
        got = read_inspections(tmp_path, services)
    # two types of one inspection are both given; two ratings are a conflict: every copy quarantined,
    # and the inspection kept, its rating unknown (it had been lost: Greenwich looked uninspected)
    assert got.table[["yjs_id", "inspection_type", "overall_rating"]].values.tolist() == [
        ["bolton", "FJI", "Inadequate"], ["greenwich", "FJI", None], ["hartlepool", "FJI; SQS", "Good"]]
    assert got.table["rating_score"].tolist() == [4, pd.NA, 2] and str(got.table["rating_score"].dtype) == "Int64"
    assert got.table["rating_note"].tolist() == [None, "its rows disagree on the rating (Requires "
                                                 "improvement / Good; see the quarantine): the inspection counts, its "
                                                 "rating is unknown", None]  # as the files are read
    assert sorted(got.quarantine["problem"].str.extract(r"^yjs_id (\w+)")[0]) == ["greenwich", "greenwich"]
    assert got.quarantine["problem"].str.endswith(
        "; the inspection is kept, its rating unknown (inspections.rating_note)").all()


def test_a_workbooks_dates_are_read_in_one_order_across_its_sheets(tmp_path, services):
    (tmp_path / "inspections").mkdir()
    with pd.ExcelWriter(tmp_path / "inspections/us.xlsx") as book:
        pd.DataFrame({"yjs_name": ["Bolton"], "published": ["1/27/2022"], "overall_rating": ["Good"]}).to_excel(
            book, sheet_name="2022", index=False)
        pd.DataFrame({"yjs_name": ["Hartlepool"], "published": ["1/10/2023"], "overall_rating": ["Good"]}).to_excel(
            book, sheet_name="2023", index=False)
    got = read_inspections(tmp_path, services)
    assert got.table["published"].dt.strftime("%Y-%m-%d").tolist() == ["2022-01-27", "2023-01-10"]


def test_real_inspection_scrape_accounts_for_every_row(tmp_path, real_services):
    copy_real(tmp_path, "inspections", "hmi_youth_justice_inspection_ratings.csv")
    got = read_inspections(tmp_path, real_services)
    assert len(got.table) == 83 and got.quarantine.empty
    by_service = got.table.set_index("yjs_id")
    # Portsmouth's rating cell holds a footnote sentence: it was inspected on 21/06/22 all the same,
    # rated from its score (61.11% = 22 of 36 points: Good, as its report says)
    assert by_service.loc["portsmouth", ["published", "overall_rating", "rating_score"]].tolist() == [
        pd.Timestamp("2022-06-21"), "Good", 2]
    assert by_service.loc["portsmouth", "rating_note"] == (
        "overall_rating not read ('1 The resettlement standard does not con…' is not a rating); "
        "rated from score_% 61.11: 22 of 36 points")
    assert by_service["rating_note"].notna().sum() == 1
    # West Sussex's score says Good; its published rating is what counts
    assert by_service.loc["west-sussex", "overall_rating"] == "Requires improvement"
    assert by_service.loc["kingston-upon-hull", "published"] == pd.Timestamp("2021-09-16")
    assert by_service.loc["newcastle-upon-tyne", "overall_rating"] == "Requires improvement"
    assert by_service.loc["tower-hamlets-and-city-of-london", "rating_score"] == 3
    assert by_service.loc["greenwich", "rating_score"] == 2
    assert sorted(got.table.loc[got.table.inspection_type == "joint", "yjs_id"]) == [
        "conwy-and-denbighshire", "dorset-combined", "hackney", "nottinghamshire", "suffolk"]
    assert got.table["published"].between("2021-03-01", "2025-02-28").all()


# --- properties ----------------------------------------------------------------


@given(st.text(max_size=12))
def test_parsed_counts_are_non_negative_or_missing(text):
    try:
        value = parse_count(text, "n")
    except RowProblem as problem:
        assert str(problem).startswith("column n: ")
    else:
        assert math.isnan(value) or value >= 0


@pytest.mark.parametrize("cell", ["to " * 1000, "year ending " * 1000, "[p]" * 10000 + "x"])
def test_a_cell_far_longer_than_any_period_or_figure_is_a_problem_not_a_crash(cell):
    # 'to ' * 1000 recursed past Python's limit (RecursionError), '[p]' * 10000 took seconds
    assert period_length(cell) is None
    for parse in (month_end, parse_count):
        with pytest.raises(RowProblem, match="^column c: "):
            parse(cell, "c")


@given(st.integers(min_value=0, max_value=10**13))
def test_thousands_separators_are_read(number):
    if number < MAX_COUNT:
        assert parse_count(f"{number:,}", "n") == number
    else:  # no count here is that large: a typo, or a figure run into the next
        with pytest.raises(RowProblem, match="too large for a count"):
            parse_count(f"{number:,}", "n")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=8), min_size=1, max_size=12))
def test_every_row_is_kept_or_quarantined_and_counts_are_never_negative(cells):
    services = pd.DataFrame({"la_code": ["E08000001"], "la_name": ["Bolton"], "yjs_name": ["Bolton"],
                             "yjs_id": ["bolton"]})
    text = io.StringIO()
    writer = csv.writer(text)  # "\r\n" ends rows, so cells holding either are quoted
    writer.writerows([["yjs_name", "period_end", "fte_count"],
                      *(["Bolton", f"2020-{m:02d}", c] for m, c in enumerate(cells, start=1))])
    with tempfile.TemporaryDirectory() as folder:
        write(Path(folder), "first_time_entrants/fte.csv", text.getvalue())
        got = read_first_time_entrants(Path(folder), services)
    assert len(got.table) + len(got.quarantine) == len(cells)
    counts = got.table["fte_count"]
    assert ((counts >= 0) | counts.isna()).all()
    assert (got.table["suppressed"] == counts.isna()).all()


def test_sources_are_the_six_folders():
    assert SOURCES == ("services", "population", "first_time_entrants", "reoffending", "custody", "inspections")


# --- properties of every table the readers accept ------------------------------

from pipeline.model import panel as model_panel  # noqa: E402

NAMES = {"Bolton": "bolton", "BOLTON YOS": "bolton", "Hartlepool YOT": "hartlepool",
         "Kingston upon Hull": "kingston-upon-hull", "Greenwich": "greenwich"}
TEXT = st.text(alphabet="abcxyz -.,;*[]0123456789ô", max_size=5)
COUNT = st.one_of(st.integers(0, 2_000_000).map(lambda n: f"{n:,}"), st.integers(0, 500).map(str),
                  st.sampled_from(MARKERS), st.integers(-50, -1).map(str),
                  st.floats(0, 100, allow_nan=False).map(lambda x: f"{x:.1f}"), TEXT)
ROW = st.tuples(st.sampled_from(sorted(NAMES)), st.integers(2019, 2024), st.integers(1, 12),
                st.sampled_from(["3", "12", "6"]), COUNT, COUNT, COUNT)
LAYOUT = st.tuples(st.sampled_from([",", ";", "\t"]), st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
                   st.sampled_from([["yjs_name", "cohort_end", "cohort_months", "cohort_size", "reoffenders",
                                     "reoffences"],
                                    ["YJS", "Cohort End", "Cohort-Months", "COHORT SIZE", "Reoffenders",
                                     "Reoffences"]]))


def _number(cell: str) -> float:
    return math.nan if cell.strip().lower() in MARKERS else float(cell.replace(",", ""))


@settings(max_examples=30, deadline=None)
@given(st.lists(ROW, max_size=25, unique_by=lambda r: (NAMES[r[0]], r[1], r[2], r[3])), LAYOUT)
def test_accepted_reoffending_counts_are_whole_as_written_and_rates_follow(rows, layout):
    delimiter, encoding, header = layout
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(
        [header, *([n, f"{y}-{m:02d}", mo, a, b, c] for n, y, m, mo, a, b, c in rows)])
    written = {(NAMES[n], pd.Timestamp(y, m, 1) + pd.offsets.MonthEnd(0), int(mo)): (a, b, c)
               for n, y, m, mo, a, b, c in rows}
    with tempfile.TemporaryDirectory() as folder:
        write(Path(folder), "services/lookup.csv", SERVICES_CSV)
        write(Path(folder), "reoffending/r.csv", text.getvalue(), encoding)
        services = read_services(Path(folder)).table
        got = read_reoffending(Path(folder), services)
    table = got.table
    assert len(table) + len(set(got.quarantine["row_number"])) == len(rows)
    for row in table.itertuples(index=False):
        counts = [row.cohort_size, row.reoffenders, row.reoffences]
        assert all(math.isnan(v) or (v >= 0 and float(v).is_integer()) for v in counts)
        assert row.suppressed == any(math.isnan(v) for v in counts[:2])  # the rate's counts alone
        assert not row.reoffenders > row.cohort_size and not row.reoffenders > row.reoffences
        expected = [_number(cell) for cell in written[(row.yjs_id, row.cohort_end, row.cohort_months)]]
        assert counts == pytest.approx(expected, nan_ok=True)
    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])
    values, dispersion = model_panel.build_panel(
        {"reoffending": table, "first_time_entrants": empty.assign(fte_count=[]),
         "custody": empty.assign(custodial_sentences=[])}, services,
        pd.DataFrame(columns=["la_code", "year", "population_10_17"]), dt.date(2026, 11, 1), 3)
    scored = values[values["numerator"].notna() & (values["denominator"] > 0)]
    assert scored["rate"].to_numpy() == pytest.approx((scored["numerator"] / scored["denominator"] * 100).to_numpy())
    assert values.loc[values["suppressed"], "rate"].isna().all()
    # a national rate where the period has two services or more and half those of the best covered up to it
    sizes = scored.groupby(["period_end", "period_months"]).size()
    best = sizes.groupby(level="period_end").max().cummax()
    for (end, months), group in scored.groupby(["period_end", "period_months"]):
        national = dispersion.set_index(["period_end", "period_months"]).loc[(end, months), "national_rate"]
        if len(group) >= max(2, 0.5 * best[end]):
            assert national == pytest.approx(group["numerator"].sum() / group["denominator"].sum() * 100)
        else:
            assert math.isnan(national) and group["z_score"].isna().all()


def test_dates_after_today_are_allowed_up_to_a_later_as_of(tmp_path):
    from pipeline.ingest.cells import dates_allowed_up_to

    write(tmp_path, "services/lookup.csv", SERVICES_CSV)
    services = read_services(tmp_path).table
    write(tmp_path, "first_time_entrants/fte.csv",
          "yjs_name,period_end,fte_count\nBolton,2021-12,40\nBolton,2031-12,41\n")
    out = read_first_time_entrants(tmp_path, services)
    assert len(out.table) == 1 and "after today" in out.quarantine["problem"].iloc[0]
    with dates_allowed_up_to(dt.date(2032, 6, 1)):
        later = read_first_time_entrants(tmp_path, services)
    assert len(later.table) == 2 and later.quarantine.empty
