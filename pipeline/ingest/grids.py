"""Any table file as a grid of text cells, row 1 first.

CSV bytes are decoded as UTF-8 (with or without a BOM) or else as Windows
cp1252, and split on whichever of ``,`` ``;`` tab ``|`` divides the lines
alike. Spreadsheet cells are written as a CSV export would show them (dates
as ``YYYY-MM-DD``, whole numbers without ``.0``), so that every reader parses
the same text whatever the format.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pandas as pd

from pipeline.ingest.errors import IngestError

DELIMITERS = (",", ";", "\t", "|")


def grids(data: bytes, suffix: str, name: str) -> list[list[list[str]]]:
    """The file's cells as text, one grid per sheet (CSV: one), row 1 first."""
    if suffix == ".csv":
        return [_csv_grid(data, name)]
    engine = "odf" if suffix == ".ods" else "openpyxl"
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=object, engine=engine)
    except Exception as exc:  # the engines raise many types for a damaged file
        reason = (str(exc).splitlines() or [""])[0]
        raise IngestError(
            f"{name}: not a readable {suffix} spreadsheet ({type(exc).__name__}: {reason})") from exc
    return [[[_text(v) for v in row] for row in frame.itertuples(index=False)] for frame in sheets.values()]


def _csv_grid(data: bytes, name: str) -> list[list[str]]:
    if b"\x00" in data[:4096]:
        raise IngestError(f"{name}: not a text table (binary content in a .csv file)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    lines = text.splitlines()[:30]
    delimiter = max(DELIMITERS, key=lambda d: (*_consistency(lines, d), -DELIMITERS.index(d)))
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


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


def _text(value) -> str:
    """Spreadsheet cell -> the text a CSV export would show."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d") if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
