"""Any table file as sheets of text rows, row 1 first, read lazily.

CSV bytes are decoded as UTF-8 (with or without a BOM), as UTF-16 where
they start with its BOM, a byte that is not UTF-8 as Windows cp1252, and split on whichever
of ``,`` ``;`` tab ``|`` divides the lines alike. Spreadsheet cells are written as a CSV export would show them (dates
as ``YYYY-MM-DD``, whole numbers without ``.0``), so that every reader parses
the same text whatever the format.

Rows are produced one at a time (CSV rows from the decoded text, xlsx rows
from openpyxl's streaming read-only mode), so a large file costs memory in
proportion to its bytes, not to Python objects per cell (an .ods's
content is streamed too: :mod:`pipeline.ingest.ods`). A legacy .xls
(Excel 97-2003) is read by xlrd a sheet at a time, under its own size limit.
Merged cells, in an .ods (:mod:`.ods`), an xlsx or an .xls (:func:`_filled_down`):
the cells below a merge's first cell, down its first column, take its value.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time

import pandas as pd

from pipeline.ingest.errors import IngestError

DELIMITERS = (",", ";", "\t", "|")
MAX_FILE_BYTES = 256 * 2**20  # the whole file is read to hash and decode it
# An .ods is streamed (pipeline.ingest.ods), at ~65,000-100,000 cells a second
# (benchmarks/large_inputs.py: a 150,000-row outcome table in 14 s, 185 MB peak);
# its XML is ~50-70x its compressed size, so a lower limit bounds the time.
MAX_ODS_BYTES = 32 * 2**20


# A legacy .xls (Excel 97-2003, as ONS published its mid-year estimates up to
# mid-2020) is read whole by xlrd, a sheet at a time: its cells cost ~50-100
# bytes each in memory, so the limit bounds that (a sheet holds at most
# 65,536 rows).
MAX_XLS_BYTES = 64 * 2**20
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file that holds an .xls workbook
_ZIP = b"PK\x03\x04"  # an .xlsx (or .ods) package


def file_limit(suffix: str) -> int:
    return {".ods": MAX_ODS_BYTES, ".xls": MAX_XLS_BYTES}.get(suffix, MAX_FILE_BYTES)


def sheets(data: bytes, suffix: str, name: str) -> Iterator[tuple[str | None, Iterator[list[str]]]]:
    """The file's sheets in workbook order (CSV: one, untitled), each as its
    title and an iterator of rows of text cells.

    An Excel file is read by what it holds, not by its suffix: an ``.xls``
    is often an xlsx renamed, or a text table saved by a portal as
    "Excel", and an ``.xlsx`` is now and then a legacy workbook."""
    if suffix in (".xls", ".xlsx"):
        suffix = ".xls" if data.startswith(_OLE2) else ".xlsx" if data.startswith(_ZIP) else \
            ".csv" if suffix == ".xls" else suffix
    if suffix == ".csv":
        yield None, _csv_rows(data, name)
    elif suffix == ".ods":
        from pipeline.ingest import ods

        yield from ((title, _guarded(rows, name, suffix)) for title, rows in ods.sheets(data, name))
    elif suffix == ".xls":
        yield from _xls_sheets(data, name)
    else:
        yield from _xlsx_sheets(data, name)


def unreadable(name: str, suffix: str, exc: Exception) -> IngestError:
    reason = (str(exc).splitlines() or [""])[0]
    return IngestError(f"{name}: not a readable {suffix} spreadsheet ({type(exc).__name__}: {reason})")


def _guarded(rows: Iterable, name: str, suffix: str) -> Iterator[list[str]]:
    """A damaged part found while streaming fails the file, not the process."""
    try:
        yield from rows
    except IngestError:
        raise
    except Exception as exc:  # the engines raise many types for a damaged file
        raise unreadable(name, suffix, exc) from exc


def _xlsx_sheets(data: bytes, name: str) -> Iterator[tuple[str, Iterator[list[str]]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:
        raise unreadable(name, ".xlsx", exc) from exc
    # A workbook that asks to be calculated in full when opened (openpyxl, pandas' and XlsxWriter's
    # writers say so; Excel clears it when it saves) holds no results to trust: XlsxWriter saves 0
    # for every formula. Its formulas are read as unsaved.
    try:
        recalculate = _full_calculation_on_load(book)
    except Exception as exc:  # a damaged part
        raise unreadable(name, ".xlsx", exc) from exc
    for sheet in book.worksheets:
        sheet.reset_dimensions()  # stated dimensions are often wrong; read what is there
        rows = ([_xlsx_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
        try:
            merges, unsaved = _xlsx_scan(book, sheet, recalculate)
        except IngestError as exc:
            raise IngestError(f"{name} [{sheet.title}]: {exc}") from exc
        except Exception as exc:  # a damaged part (zipfile, zlib): as when its rows are read
            raise unreadable(name, ".xlsx", exc) from exc
        if unsaved:
            rows = _with_unsaved(rows, unsaved)
        yield sheet.title, _guarded(_filled_down(rows, merges), name, ".xlsx")


def _xls_sheets(data: bytes, name: str) -> Iterator[tuple[str, Iterator[list[str]]]]:
    import xlrd

    try:  # formatting_info: the merged ranges; on_demand: one sheet in memory at a time
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True,
                                  logfile=io.StringIO())
    except Exception as exc:
        raise unreadable(name, ".xls", exc) from exc
    for index, title in enumerate(book.sheet_names()):
        yield title, _guarded(_xls_rows(book, index), name, ".xls")


def _xls_rows(book, index: int) -> Iterator[list[str]]:
    """A legacy sheet's rows as text, as :func:`text` writes other
    spreadsheets' cells; merged ranges filled down as in an xlsx."""
    import xlrd

    sheet = book.sheet_by_index(index)
    merges = [(top + 1, bottom, left + 1) for top, bottom, left, _right in sheet.merged_cells if bottom - top > 1]

    def cell(kind: int, value) -> str:
        if kind == xlrd.XL_CELL_DATE:
            try:
                return text(xlrd.xldate.xldate_as_datetime(value, book.datemode))
            except (ValueError, OverflowError, xlrd.xldate.XLDateError):  # not a day Excel can show
                return text(value)
        if kind == xlrd.XL_CELL_BOOLEAN:
            return "TRUE" if value else "FALSE"
        if kind == xlrd.XL_CELL_ERROR:
            return xlrd.error_text_from_code.get(value, "#ERROR")
        return text(value)  # text, a number, or empty

    rows = ([cell(k, v) for k, v in zip(sheet.row_types(r), sheet.row_values(r))] for r in range(sheet.nrows))
    yield from _filled_down(rows, merges)
    book.unload_sheet(index)


_SHEET_DATA_END = re.compile(rb"</(?:\w+:)?sheetData\s*>")
_ROW_END = re.compile(rb"</(?:\w+:)?row\s*>")
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')
# A cell holding a formula and no value (<v/>, or no <v>): a workbook written by a script
# (openpyxl, pandas' writers) and never opened in Excel or LibreOffice, which would have saved
# the formula's result. An empty value in a cell typed t="str" is a saved empty text (=IF(..., "")).
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s/>]")
_FORMULA_CELL = re.compile(  # attributes, formula, the value element, its text
    rb"<(?:\w+:)?c\b([^>]*)>\s*<(?:\w+:)?f\b[^>]*?(?:/>|>([^<]*)</(?:\w+:)?f\s*>)\s*"
    rb"(<(?:\w+:)?v\s*/>|<(?:\w+:)?v\s*>([^<]*)</(?:\w+:)?v\s*>)?\s*</(?:\w+:)?c\s*>")
_CELL_REF = re.compile(rb'\br\s*=\s*"([A-Z]{1,3})([0-9]+)"')
_TEXT_TYPED = re.compile(rb'\bt\s*=\s*"str"')
UNSAVED = "(a formula with no saved value)"


def unsaved_formula(formula: str) -> str:
    """The text read for a formula cell whose result was never saved
    (``=E2+F2 (a formula with no saved value)``): no number, so its row is
    quarantined saying why, where an empty cell would be a suppressed count."""
    shown = formula.strip().lstrip("=")
    shown = shown if len(shown) <= 40 else shown[:40] + "..."  # the message stays short
    return f"={shown} {UNSAVED}" if shown else UNSAVED


def is_unsaved(cell: str) -> bool:
    """Whether a cell's text is :func:`unsaved_formula`'s."""
    return cell.rstrip().endswith(UNSAVED)


_CHUNK = 1 << 20  # bytes of the sheet's XML scanned at a time


def _xlsx_scan(book, sheet, recalculate: bool = False) -> tuple[list[tuple[int, int, int]],
                                                                 dict[int, dict[int, str]]]:
    """What openpyxl's streaming mode does not give, from the sheet's XML:

    - (first row, last row, column) of each merged range that spans several
      rows (1-based): the XML lists them after the rows;
    - the cells holding a formula whose value was never saved (every
      formula of a workbook to be ``recalculate``d on opening), as
      {row: {column: text}} (1-based): read for values, such a cell is
      empty (or XlsxWriter's 0), and an empty count is a suppressed one.
      The text (``=E2+F2 (a formula with no saved value)``) makes the row
      quarantined, saying why (:meth:`.tables.Sheet.not_data`), and an
      unread column loses nothing.

    The part is decompressed once more, a chunk at a time, and scanned a
    whole row at a time; a formula cell that names no position (``r`` is
    optional) fails the sheet: where its value belongs is unknown."""
    from openpyxl.utils import column_index_from_string

    path, archive = getattr(sheet, "_worksheet_path", None), getattr(book, "_archive", None)
    if path is None or archive is None:  # not the openpyxl this was written for: no filling
        return [], {}
    unsaved: dict[int, dict[int, str]] = {}

    def scan(cells: bytes) -> None:
        if _FORMULA_TAG.search(cells) is None:
            return
        for match in _FORMULA_CELL.finditer(cells):
            attributes, formula, value, shown = match.groups()
            saved = (shown and shown.strip()) or (value is not None and _TEXT_TYPED.search(attributes))
            if saved and not recalculate:
                continue  # its result saved (an empty one for a text result)
            ref = _CELL_REF.search(attributes)
            if ref is None:
                raise IngestError("a formula with no saved value in a cell that names no position "
                                  "(open and save the file in Excel or LibreOffice)")
            written = html.unescape(formula.decode("utf-8", "replace")) if formula else ""
            unsaved.setdefault(int(ref.group(2)), {})[column_index_from_string(ref.group(1).decode())] = \
                unsaved_formula(written)

    carry, after = b"", None
    with archive.open(path) as part:
        while chunk := part.read(_CHUNK):
            if after is not None:
                after += chunk
                continue
            buffer = carry + chunk
            end = _SHEET_DATA_END.search(buffer)
            if end is not None:
                scan(buffer[:end.start()])
                after, carry = buffer[end.end():], b""
                continue
            cut = _last_row_end(buffer)
            scan(buffer[:cut])
            carry = buffer[cut:]
    if after is None:  # no end to the rows found: a damaged part, read as far as it goes
        scan(carry)
    found = []
    for top, row1, _right, row2 in _MERGE.findall(after or b""):
        first, last = int(row1), int(row2)
        if last > first:
            found.append((first, last, column_index_from_string(top.decode())))
    return found, unsaved


_OFFICE_DOCUMENT = re.compile(rb'<Relationship\b[^>]*?Type="[^"]*/officeDocument"[^>]*?Target="/?([^"]+)"'
                              rb'|<Relationship\b[^>]*?Target="/?([^"]+)"[^>]*?Type="[^"]*/officeDocument"')
_FULL_CALCULATION = re.compile(rb'<(?:\w+:)?calcPr\b[^>]*?\bfullCalcOnLoad\s*=\s*"(?:1|true)"')


def _full_calculation_on_load(book) -> bool:
    """Whether the workbook asks to be calculated in full when opened
    (``<calcPr fullCalcOnLoad="1">``), read from its XML: openpyxl's
    object says so by default where the attribute is absent."""
    archive = getattr(book, "_archive", None)
    if archive is None:  # not the openpyxl this was written for: results trusted, as before
        return False
    found = _OFFICE_DOCUMENT.search(archive.read("_rels/.rels"))
    part = (found.group(1) or found.group(2)).decode() if found else "xl/workbook.xml"
    return _FULL_CALCULATION.search(archive.read(part)) is not None


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _xlsx_text(value) -> str:
    """:func:`text` of an xlsx cell, its characters escaped as the format
    escapes them (``_x000D_``, a carriage return, as Excel and XlsxWriter
    store one; ``_x005F_`` an underscore) given back: openpyxl's streaming
    reader leaves them as written, so a header "cohort size" over two lines
    read ``cohort_x000D_ size``."""
    if isinstance(value, str) and "_x" in value:
        value = _OOXML_ESCAPE.sub(lambda m: chr(int(m[1], 16)), value)
    return text(value)


def _last_row_end(buffer: bytes) -> int:
    """Where the last complete row of ``buffer`` ends (0: none yet). ``<``
    cannot stand in XML text, so a closing tag found is one."""
    position = len(buffer)
    while (position := buffer.rfind(b"row", 0, position)) > 0:
        start = buffer.rfind(b"</", max(0, position - 64), position)
        match = _ROW_END.match(buffer, start) if start >= 0 else None
        if match is not None and match.end() > position:
            return match.end()
    return 0


def _with_unsaved(rows: Iterator[list[str]], unsaved: dict[int, dict[int, str]]) -> Iterator[list[str]]:
    """Rows with each formula cell whose value was never saved showing so (see :func:`_xlsx_scan`)."""
    for number, row in enumerate(rows, start=1):
        cells = unsaved.get(number)
        if cells:
            row = row + [""] * (max(cells) - len(row))
            for column, shown in cells.items():
                row[column - 1] = shown
        yield row


def _filled_down(rows: Iterator[list[str]], merges: list[tuple[int, int, int]]) -> Iterator[list[str]]:
    """Rows with the cells under a merged range's first cell given its value,
    down the range's first column: a service name merged over its periods
    names every period's row, as in :mod:`.ods`. Only downwards: a title or
    note merged across the width stays in its first cell, so a note under
    the table is still seen as one."""
    if not merges:
        yield from rows
        return
    starting: dict[int, list[tuple[int, int]]] = {}
    for first, last, column in merges:
        starting.setdefault(first, []).append((column, last))
    down: dict[int, tuple[str, int]] = {}  # column -> (value, last row)
    for number, row in enumerate(rows, start=1):
        for column, (value, last) in list(down.items()):
            if number > last:
                del down[column]
                continue
            if len(row) < column:
                row = row + [""] * (column - len(row))
            if not row[column - 1].strip():
                row[column - 1] = value
        for column, last in starting.get(number, ()):
            if column <= len(row) and row[column - 1].strip():
                down[column] = (row[column - 1], last)
        yield row


def _cp1252_bytes(error: UnicodeDecodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 read as Windows cp1252, as Excel's "CSV"
    writes text on Windows: a file in cp1252 reads as it would decoded so
    whole, and a UTF-8 file with a line pasted from cp1252 keeps its UTF-8
    (decoded whole as cp1252, one en dash made every "Ynys Môn" in it
    "Ynys MÃ´n")."""
    bad = error.object[error.start:error.end]
    return bad.decode("cp1252", errors="replace"), error.end


_CP1252_BYTES = "yjt-cp1252-bytes"
codecs.register_error(_CP1252_BYTES, _cp1252_bytes)


def _csv_rows(data: bytes, name: str) -> Iterator[list[str]]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text", some portals
        try:
            content = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(f"{name}: not a readable UTF-16 text table ({exc.reason} at byte {exc.start})") from exc
    elif b"\x00" in data[:4096]:
        raise IngestError(f"{name}: not a text table (binary content in a .csv file)")
    else:
        content = data.decode("utf-8-sig", errors=_CP1252_BYTES)
    head = content[: 64 * 1024].splitlines()[:30]
    delimiter = max(DELIMITERS, key=lambda d: (*_consistency(head, d), -DELIMITERS.index(d)))
    return csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)


def _consistency(lines: list[str], delimiter: str) -> tuple[int, int]:
    """How many lines split into the same number (>1) of fields, and that number.

    The true delimiter splits every line of a table alike; a comma inside
    numbers ("1,234") or text splits only some of them.
    """
    if not any(delimiter in line for line in lines):  # every line one field: no need to split them
        return 0, 0
    counts = [len(r) for r in csv.reader(lines, delimiter=delimiter) if any(c.strip() for c in r)]
    counts = [c for c in counts if c > 1]
    if not counts:
        return 0, 0
    mode = max(set(counts), key=lambda c: (counts.count(c), c))
    return counts.count(mode), mode


def text(value) -> str:
    """Spreadsheet cell -> the text a CSV export would show."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d") if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
