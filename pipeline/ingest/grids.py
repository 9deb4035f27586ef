"""Any table file as sheets of text rows, row 1 first, read lazily.

CSV bytes are decoded as UTF-8 (with or without a BOM) or else as Windows
cp1252, and split on whichever of ``,`` ``;`` tab ``|`` divides the lines
alike. Spreadsheet cells are written as a CSV export would show them (dates
as ``YYYY-MM-DD``, whole numbers without ``.0``), so that every reader parses
the same text whatever the format.

Rows are produced one at a time (CSV rows from the decoded text, xlsx rows
from openpyxl's streaming read-only mode), so a large file costs memory in
proportion to its bytes, not to Python objects per cell. An .ods document is
held whole by odfpy, hence its lower size limit (:mod:`pipeline.ingest.ods`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time

import pandas as pd

from pipeline.ingest.errors import IngestError

DELIMITERS = (",", ";", "\t", "|")
MAX_FILE_BYTES = 256 * 2**20  # the whole file is read to hash and decode it
MAX_ODS_BYTES = 8 * 2**20  # odfpy's document tree takes ~100x the file's size


def file_limit(suffix: str) -> int:
    return MAX_ODS_BYTES if suffix == ".ods" else MAX_FILE_BYTES


def sheets(data: bytes, suffix: str, name: str) -> Iterator[tuple[str | None, Iterator[list[str]]]]:
    """The file's sheets in workbook order (CSV: one, untitled), each as its
    title and an iterator of rows of text cells."""
    if suffix == ".csv":
        yield None, _csv_rows(data, name)
    elif suffix == ".ods":
        from pipeline.ingest import ods  # odfpy loads slowly; only when needed

        yield from ((title, _guarded(rows, name, suffix)) for title, rows in ods.sheets(data, name))
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
    for sheet in book.worksheets:
        sheet.reset_dimensions()  # stated dimensions are often wrong; read what is there
        rows = sheet.iter_rows(values_only=True)
        yield sheet.title, _guarded(([text(v) for v in row] for row in rows), name, ".xlsx")


def _csv_rows(data: bytes, name: str) -> Iterator[list[str]]:
    if b"\x00" in data[:4096]:
        raise IngestError(f"{name}: not a text table (binary content in a .csv file)")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    head = content[: 64 * 1024].splitlines()[:30]
    delimiter = max(DELIMITERS, key=lambda d: (*_consistency(head, d), -DELIMITERS.index(d)))
    return csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)


def _consistency(lines: list[str], delimiter: str) -> tuple[int, int]:
    """How many lines split into the same number (>1) of fields, and that number.

    The true delimiter splits every line of a table alike; a comma inside
    numbers ("1,234") or text splits only some of them.
    """
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
