"""The corpus of bad inputs, each with the outcome the contract asks for.

``read``: the file is read as meant. ``quarantine``: the bad rows go to the
quarantine with a reason naming the column and value, the good rows are
read, the refresh goes on. ``stop``: the file cannot be read at all, the
refresh stops with one line naming the file and what is wrong. ``guard``:
every row is plausible on its own but the whole is not (a file in the wrong
unit); the readers accept it and the plausibility guards stop the refresh
before publishing. Each case writes its file(s) into a copy of the valid
base dir (:mod:`.base`), replacing the base file of its source.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.corpus.base import PERIODS, SERVICES, fte_csv, write
from tests.corpus.sheets import write_ods, write_xlsx

FTE = "first_time_entrants/fte.csv"
HEAD = "yjs_name,period_end,fte_count\n"


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the input, in words
    source: str  # the reader that reads it
    files: Callable[[Path], object]  # writes the bad file(s) into a data dir
    expect: str  # read | quarantine | stop | guard
    detail: str = ""  # text the problem or message must contain
    rows: int | None = None  # rows the reader must keep, when it matters
    check: Callable | None = field(default=None, compare=False)  # more assertions on Ingested


def fte(text: str, encoding: str = "utf-8", name: str = FTE):
    return lambda d: ((d / FTE).unlink(missing_ok=True), write(d, name, text, encoding))


def _xlsx_two_row_header(d: Path):
    (d / FTE).unlink()
    write_xlsx(d / "first_time_entrants/fte.xlsx", [
        ["", "Period", "", "FTE"], ["YJS", "end", "months", "count"],
        ["Bolton", "2022-03", 12, 40], ["Hartlepool", "2022-03", 12, 41], ["Atlantis", "2022-03", 12, 9],
    ], merges=("B1:C1",))


def _ods_merged(d: Path):
    (d / FTE).unlink()
    write_ods(d / "first_time_entrants/fte.ods", [
        ["First-time entrants by youth justice service", "", ""],
        ["yjs_name", "period_end", "fte_count"],
        ["Bolton", "2021-03", 40], ["", "2022-03", 42], ["Hartlepool", "2021-03", 7],
    ], merges={(0, 0): (1, 3), (2, 0): (2, 1)})


def _link_outside(d: Path):
    outside = d.parent / f"{d.name}-outside.csv"
    outside.write_text(HEAD + "Bolton,2022-03,5\n")
    os.symlink(outside, d / "first_time_entrants/extra.csv")


def _link_to_nothing(d: Path):
    os.symlink(d / "first_time_entrants/moved.csv", d / "first_time_entrants/fte_2026.csv")


def _link_loop(d: Path):
    os.symlink(d / "first_time_entrants/loop.csv", d / "first_time_entrants/loop.csv")


def _bolton_twice(got):
    bolton = got.table[got.table.yjs_id == "bolton"]
    assert bolton["fte_count"].tolist() == [40.0, 42.0], bolton


def _row_numbers(got):
    assert got.quarantine[["row_number", "problem"]].values.tolist() == [
        [5, "service name 'Atlantis' matches no service in the services lookup"]]


def _ynys_mon(got):
    assert got.table["yjs_id"].tolist() == ["gwynedd-and-ynys-mon"]


N = len(SERVICES) * len(PERIODS)  # rows of the base FTE file
CASES = [
    Case("missing_required_column", "FTE file without its fte_count column", "first_time_entrants",
         fte("yjs_name,period_end\nBolton,2022-03\n"), "stop",
         "first_time_entrants/fte.csv: no column for fte_count"),
    Case("renamed_column_cosmetic", "headers 'YJS', 'Period End', 'FTE Count'", "first_time_entrants",
         fte("YJS,Period End,FTE Count\nBolton,2022-03,40\nHull YOS,2022-03,12\n"), "read", rows=2),
    Case("renamed_column_semantic", "fte_count renamed 'first_time_entrants'", "first_time_entrants",
         fte("yjs_name,period_end,first_time_entrants\nBolton,2022-03,40\n"), "stop",
         "columns found: yjs_name, period_end, first_time_entrants"),
    Case("semicolon_delimiter", "semicolon-separated", "first_time_entrants",
         fte("yjs_name;period_end;fte_count\nBolton;2022-03;40\nHartlepool;2022-03;41\n"), "read", rows=2),
    Case("unsupported_delimiter", "colon-separated file", "first_time_entrants",
         fte("yjs_name:period_end:fte_count\nBolton:2022-03:40\n"), "stop", "no column for yjs_name"),
    Case("utf8_bom", "UTF-8 with a byte-order mark before the first header", "first_time_entrants",
         fte("\ufeff" + HEAD + "Bolton,2022-03,40\n"), "read", rows=1),
    Case("cp1252_text", "Windows cp1252, tab-separated, 'Gwynedd & Ynys Môn'", "first_time_entrants",
         fte("yjs_name\tperiod_end\tfte_count\nGwynedd & Ynys Môn\t2022-03\t80\n", "cp1252"), "read", rows=1,
         check=_ynys_mon),
    Case("footnotes_and_blank_rows", "blank rows, a source line and a footnote under the table",
         "first_time_entrants", fte(HEAD + "Bolton,2022-03,40\n,,\n\nSource: YJB,,\n1 Provisional,,\n"),
         "quarantine", "footnote or note row, not data", rows=1),
    Case("xlsx_two_row_header", ".xlsx, header split over two rows under a merged 'Period'",
         "first_time_entrants", _xlsx_two_row_header, "quarantine", "'Atlantis' matches no service",
         rows=2, check=_row_numbers),
    Case("ods_merged_cells", ".ods, merged title, service name merged down two rows",
         "first_time_entrants", _ods_merged, "read", rows=3, check=_bolton_twice),
    Case("text_in_count", "'twelve' in fte_count", "first_time_entrants",
         fte(HEAD + "Bolton,2022-03,twelve\nHartlepool,2022-03,41\n"), "quarantine",
         "column fte_count: 'twelve' is not a number", rows=1),
    Case("negative_count", "-4 in fte_count", "first_time_entrants",
         fte(HEAD + "Bolton,2022-03,-4\nHartlepool,2022-03,41\n"), "quarantine", "'-4' is negative", rows=1),
    Case("decimal_count", "a rate (12.5) in a count column", "first_time_entrants",
         fte(HEAD + "Bolton,2022-03,12.5\nHartlepool,2022-03,41\n"), "quarantine", "not a whole number", rows=1),
    Case("point_thousands", "a thousand written '1.000', as European Excel writes it, in a semicolon file",
         "first_time_entrants", fte("yjs_name;period_end;fte_count\nBolton;2022-03;1.000\nHartlepool;2022-03;41\n"),
         "quarantine", "'1.000' is ambiguous: 1000 with a point between thousands, or 1 with a decimal point",
         rows=1),
    Case("reoffenders_over_cohort", "41 reoffenders in a cohort of 40", "reoffending",
         lambda d: write(d, "reoffending/reoffending.csv",
                         "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
                         "Bolton,2022-03,12,40,41,60\nHartlepool,2022-03,12,40,10,20\n"),
         "quarantine", "column reoffenders: 41 is more than cohort_size 40", rows=1),
    Case("reoffences_under_reoffenders", "10 reoffenders with 6 reoffences", "reoffending",
         lambda d: write(d, "reoffending/reoffending.csv",
                         "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n"
                         "Bolton,2022-03,12,40,10,6\nHartlepool,2022-03,12,40,10,20\n"),
         "quarantine", "column reoffenders: 10 is more than reoffences 6", rows=1),
    Case("rates_per_1000_as_counts", "FTE rates per 1,000 (2.0) given as counts", "first_time_entrants",
         fte(fte_csv(per_la=2)), "guard", "national fte rate"),
    Case("counts_in_thousands", "FTE counts multiplied by 1,000", "first_time_entrants",
         fte(fte_csv(per_la=40_000)), "guard", "more than 10% of the population"),
    Case("conflicting_duplicates", "Bolton 2022-03 given as 40 in one file, 45 in another",
         "first_time_entrants", lambda d: write(d, "first_time_entrants/revised.csv", HEAD + "Bolton,2022-03,45\n"),
         "quarantine", "conflicts with first_time_entrants/", rows=N - 1),
    Case("future_period", "a period ending in 2099", "first_time_entrants",
         fte(HEAD + "Bolton,2099-03,40\nHartlepool,2022-03,41\n"), "quarantine", "after today", rows=1),
    Case("future_inspection", "an inspection published in 2099", "inspections",
         lambda d: write(d, "inspections/inspections.csv",
                         "yjs_name,published,overall_rating\nBolton,2099-01-01,Good\nHull,2021-09-16,Good\n"),
         "quarantine", "after today", rows=1),
    Case("future_population_year", "population estimates for 2099", "population",
         lambda d: write(d, "population/later.csv", "la_code,year,age,population\n"
                         + "".join(f"E08000001,2099,{a},2500\n" for a in range(10, 18))),
         "quarantine", "after this year"),
    Case("ancient_period", "a period ending in 0202 (a typo; too early for a date column)",
         "first_time_entrants", fte(HEAD + "Bolton,0202-03,40\nHartlepool,2022-03,41\n"),
         "quarantine", "before 1900", rows=1),
    Case("ancient_inspection", "an inspection published on 16/09/0021", "inspections",
         lambda d: write(d, "inspections/inspections.csv",
                         "yjs_name,published,overall_rating\nBolton,16/09/0021,Good\nHull,2021-09-16,Good\n"),
         "quarantine", "before 1900", rows=1),
    Case("ancient_population_year", "population estimates for 0202", "population",
         lambda d: write(d, "population/earlier.csv", "la_code,year,age,population\n"
                         + "".join(f"E08000001,0202,{a},2500\n" for a in range(10, 18))),
         "quarantine", "before 1900"),
    Case("empty_file", "an empty .csv", "first_time_entrants", fte(""), "stop", "fte.csv: file is empty"),
    Case("header_only", "a second file with a header and no rows", "first_time_entrants",
         lambda d: write(d, "first_time_entrants/empty_table.csv", HEAD), "read", rows=N),
    Case("every_row_quarantined", "an FTE file whose every count is a decimal rate", "first_time_entrants",
         fte(HEAD + "".join(f"{s},2022-03,{200.5 + i}\n" for i, s in enumerate(SERVICES))), "guard",
         "no national fte rate any more"),
    Case("unmatched_service", "service 'Atlantis YOT'", "first_time_entrants",
         fte(HEAD + "Atlantis YOT,2022-03,5\nBolton,2022-03,40\n"), "quarantine",
         "service name 'Atlantis YOT' matches no service", rows=1),
    Case("la_in_no_service", "a lookup row whose service is blank", "services",
         lambda d: write(d, "services/extra.csv", "la_code,la_name,yjs_name\nE06000002,Middlesbrough,\n"),
         "quarantine", "column yjs_name: empty; a name is required", rows=12),
    Case("la_in_two_services", "a lookup row giving Bolton's LA to Hartlepool as well", "services",
         lambda d: write(d, "services/extra.csv", "la_code,la_name,yjs_name\nE08000001,Bolton,Hartlepool\n"),
         "stop", "services/lookup.csv: row 3 assigns la_code E08000001 (Bolton) to service 'Bolton', but "
         "services/extra.csv row 2 assigns it to 'Hartlepool': an LA belongs to one service"),
    Case("population_la_outside_lookup", "population of an LA no service covers", "population",
         lambda d: write(d, "population/extra.csv", "la_code,year,age,population\n"
                         + "".join(f"E06000002,2021,{a},2500\n" for a in range(10, 18))),
         "quarantine", "is not a local authority in the services lookup"),
    Case("binary_csv", "binary content named .csv", "first_time_entrants",
         lambda d: (d / FTE).write_bytes(b"PK\x03\x04\x00\x00junk" * 10), "stop", "not a text table"),
    Case("broken_xlsx", "an .xlsx that is not a zip", "first_time_entrants",
         lambda d: write(d, "first_time_entrants/more.xlsx", "not a spreadsheet"), "stop",
         "not a readable .xlsx spreadsheet"),
    Case("oversized_ods", "a 33 MB .ods", "first_time_entrants",
         lambda d: (d / "first_time_entrants/big.ods").write_bytes(b"\0" * (33 * 2**20)), "stop",
         "more than the 32 MB a .ods input may be"),
    Case("oversized_xls", "a 65 MB legacy .xls", "first_time_entrants",
         lambda d: (d / "first_time_entrants/big.xls").write_bytes(b"\0" * (65 * 2**20)), "stop",
         "more than the 64 MB a .xls input may be"),
    Case("broken_xls", "an .xls that is a damaged compound file", "first_time_entrants",
         lambda d: (d / "first_time_entrants/more.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
         "stop", "not a readable .xls spreadsheet"),
    Case("link_outside_data_dir", "a symbolic link to a file outside the data dir", "first_time_entrants",
         _link_outside, "stop", "outside the data dir"),
    Case("link_to_nothing", "a symbolic link to a file that is not there (a share not mounted)",
         "first_time_entrants", _link_to_nothing, "stop", "first_time_entrants/fte_2026.csv: a link to "),
    Case("link_loop", "a symbolic link to itself", "first_time_entrants", _link_loop, "stop",
         "first_time_entrants/loop.csv: a link that cannot be followed"),
    Case("office_lock_file", "Excel's '~$fte.xlsx' lock file beside the data", "first_time_entrants",
         lambda d: write(d, "first_time_entrants/~$fte.xlsx", "lock"), "read", rows=N),
]
