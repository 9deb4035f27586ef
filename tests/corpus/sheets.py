"""Spreadsheets with the quirks publishers' files have, written in code:
merged cells (openpyxl for .xlsx, odfpy for .ods, so the merge is a real
``covered-table-cell`` as LibreOffice writes it, xlwt for a legacy .xls)
and title rows."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

# the namespaces a hand-written content.xml uses: ODF's and LibreOffice's calcext
_ODS_NAMESPACES = " ".join(
    [f'xmlns:{p}="urn:oasis:names:tc:opendocument:xmlns:{p}:1.0"' for p in ("office", "table", "text")]
    + ['xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'])
_ODS_MANIFEST = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                 '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
                 'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                 '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                 "</manifest:manifest>")


def write_ods_xml(target: Path | BinaryIO, tables: Iterable[str]) -> None:
    """An .ods whose spreadsheet body is ``tables``, the tables' XML written
    by hand and streamed into content.xml as it comes, so a large table is
    never held whole (odfpy, in :func:`write_ods`, is far slower at size)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        with archive.open("content.xml", "w") as content:
            content.write(f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NAMESPACES} '
                          'office:version="1.2"><office:body><office:spreadsheet>'.encode())
            for part in tables:
                content.write(part.encode())
            content.write(b"</office:spreadsheet></office:body></office:document-content>")


def write_xlsx(path: Path, rows: list[list], merges: tuple[str, ...] = ()) -> Path:
    """``rows`` from A1; ``merges`` in Excel ranges ("B1:C1")."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Table_1"
    for row in rows:
        sheet.append(row)
    for cells in merges:
        sheet.merge_cells(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_ods(path: Path, rows: list[list], merges: dict[tuple[int, int], tuple[int, int]] = None) -> Path:
    """``merges``: (row, column) of a merged cell, 0-based -> (rows, columns) it spans.
    The cells it covers are written as covered cells whatever ``rows`` holds there."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableCell, TableRow
    from odf.text import P

    merges = merges or {}
    covered = {(r + dr, c + dc) for (r, c), (nr, nc) in merges.items()
               for dr in range(nr) for dc in range(nc) if dr or dc}
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Table_1")
    for r, row in enumerate(rows):
        element = TableRow()
        for c, value in enumerate(row):
            if (r, c) in covered:
                element.addElement(CoveredTableCell())
                continue
            span = merges.get((r, c))
            extra = {"numberrowsspanned": span[0], "numbercolumnsspanned": span[1]} if span else {}
            if isinstance(value, (int, float)):
                cell = TableCell(valuetype="float", value=value, **extra)
            else:
                cell = TableCell(valuetype="string", **extra)
            if value not in (None, ""):
                cell.addElement(P(text=str(value)))
            element.addElement(cell)
        table.addElement(element)
    doc.spreadsheet.addElement(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


class XlsError(str):
    """An error cell (``#DIV/0!``) for :func:`write_xls`."""


def write_xls(path: Path, sheets: dict[str, list[list]], merges: dict[str, list[tuple]] | None = None) -> None:
    """A legacy Excel 97-2003 workbook (xlwt): dates as date cells, numbers as
    numbers, :class:`XlsError` as error cells; ``merges`` per sheet as (first
    row, last row, first column, last column), 0-based and inclusive."""
    import xlwt

    book, day = xlwt.Workbook(), xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for title, rows in sheets.items():
        sheet, merged = book.add_sheet(title), {(r, c) for r, _, c, _ in (merges or {}).get(title, [])}
        for first, last, left, right in (merges or {}).get(title, []):
            sheet.write_merge(first, last, left, right, rows[first][left])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if (r, c) in merged or value in ("", None):
                    continue
                if isinstance(value, XlsError):
                    sheet.row(r).set_cell_error(c, str(value))
                    continue
                sheet.write(r, c, value, day) if isinstance(value, dt.date) else sheet.write(r, c, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(path))
