"""OpenDocument spreadsheets (.ods) as rows of text, merged cells filled in.

ODS is how ONS, MoJ and the YJB publish most tables. The document's
``content.xml`` is streamed (:func:`xml.etree.ElementTree.iterparse` over the
zip member as it is decompressed), a row at a time, each row's elements
cleared once read: a large table costs time in proportion to its size and
memory in proportion to one row, not a document tree (odfpy's tree took
over 1 GiB per MB of a compressed table). The sheets' names come from one
pass over the document; each sheet's rows from a pass of its own, read
only as far as they are wanted.

pandas' reader turns the cells hidden under a merged cell into blanks, so a
service name merged down over its three periods would leave two rows
without a name. Here the cells below a merged cell, down its first column,
take its value: the publisher meant it for every row the merge spans. Cells
to its right stay blank, as in an xlsx
(:func:`pipeline.ingest.grids._filled_down`): a title or note merged across
the width stays in its first cell, so a note under the table is still seen
as one, and a merged header is read by its labels.

Repeated rows and columns (``number-rows-repeated``) are expanded, except
the blank ones at the end of a sheet or row, which LibreOffice writes by
the million.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

from pipeline.ingest.grids import unsaved_formula

_MAX_REPEAT = 10_000  # a repeated non-blank row or cell beyond this is not data
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE, ROW = f"{{{_TABLE_NS}}}table", f"{{{_TABLE_NS}}}table-row"
CELL, COVERED = f"{{{_TABLE_NS}}}table-cell", f"{{{_TABLE_NS}}}covered-table-cell"
_NAME = f"{{{_TABLE_NS}}}name"
_ROWS_REPEATED, _COLUMNS_REPEATED = f"{{{_TABLE_NS}}}number-rows-repeated", f"{{{_TABLE_NS}}}number-columns-repeated"
_ROWS_SPANNED = f"{{{_TABLE_NS}}}number-rows-spanned"
_VALUE_TYPE, _VALUE = f"{{{_OFFICE_NS}}}value-type", f"{{{_OFFICE_NS}}}value"
_DATE_VALUE, _BOOLEAN_VALUE = f"{{{_OFFICE_NS}}}date-value", f"{{{_OFFICE_NS}}}boolean-value"
_FORMULA = f"{{{_TABLE_NS}}}formula"
_SAVED_VALUE = {"float": _VALUE, "percentage": _VALUE, "currency": _VALUE, "date": _DATE_VALUE,
                "boolean": _BOOLEAN_VALUE}  # where a typed cell keeps its value
_P, _S, _TAB, _LINE_BREAK = (f"{{{_TEXT_NS}}}{n}" for n in ("p", "s", "tab", "line-break"))
_SPACES = f"{{{_TEXT_NS}}}c"


def sheets(data: bytes, name: str) -> Iterator[tuple[str, Iterator[list[str]]]]:
    """Each table of the document, in order: its name and its rows (read when asked for)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        titles = [str(table.get(_NAME) or "") for _, table in _tables(archive)]
    except Exception as exc:  # a damaged zip or XML: many types
        from pipeline.ingest.grids import unreadable

        raise unreadable(name, ".ods", exc) from exc
    for index, title in enumerate(titles):
        yield title, _rows(archive, index)


def _tables(archive: zipfile.ZipFile, rows_of: int | None = None) -> Iterator[tuple[str, ElementTree.Element]]:
    """One pass over ``content.xml``: ("table", element) as each sheet (a
    table not inside another) starts, and ("row", element) as each row of
    sheet number ``rows_of`` ends, freed once the caller has it. Stops
    after that sheet."""
    depth, count = 0, -1  # tables open; sheets started
    with archive.open("content.xml") as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            if element.tag == TABLE:
                if event == "start":
                    if depth == 0:
                        count += 1
                        yield "table", element
                    depth += 1
                    continue
                depth -= 1
                element.clear()  # its rows, already freed
                if depth == 0 and count == rows_of:
                    return
            elif event == "end" and element.tag == ROW:
                if depth == 1 and count == rows_of:
                    yield "row", element
                element.clear()


def _rows(archive: zipfile.ZipFile, index: int) -> Iterator[list[str]]:
    merged: dict[tuple[int, int], str] = {}  # (row, column) -> value of the covering cell
    blank_rows, number = 0, 0
    for kind, row in _tables(archive, index):
        if kind != "row":
            continue
        repeat = _int(row, _ROWS_REPEATED)
        cells = _cells(row, number, merged)
        if not any(cells):
            blank_rows += repeat
            number += repeat
            continue
        if repeat > _MAX_REPEAT:
            raise ValueError(f"row {number + 1} is repeated {repeat:,} times; not a table")
        yield from ([] for _ in range(blank_rows))
        blank_rows = 0
        for _ in range(repeat):
            yield list(cells)
        number += repeat


def _cells(row: ElementTree.Element, number: int, merged: dict) -> list[str]:
    values: list[str] = []
    pending_blank = 0

    def put(value: str, repeat: int) -> None:
        nonlocal pending_blank
        if not value:
            pending_blank += repeat
            return
        if repeat > _MAX_REPEAT:
            raise ValueError(f"a cell is repeated {repeat:,} times in row {number + 1}; not a table")
        values.extend([""] * pending_blank + [value] * repeat)
        pending_blank = 0

    for cell in row:
        if cell.tag not in (CELL, COVERED):
            continue  # annotations, soft page breaks
        repeat = _int(cell, _COLUMNS_REPEATED)
        column = len(values) + pending_blank
        if cell.tag == CELL:
            value = _value(cell)
            rows = _int(cell, _ROWS_SPANNED)
            for dr in range(1, rows):  # down the first column only (see the module doc)
                merged[(number + dr, column)] = value
            put(value, repeat)
        else:
            if not any((number, column + k) in merged for k in range(min(repeat, _MAX_REPEAT))):
                put("", repeat)
                continue
            for k in range(repeat):
                put(merged.pop((number, column + k), ""), 1)
    return values


def _int(element: ElementTree.Element, attribute: str) -> int:
    value = element.get(attribute)
    return int(value) if value else 1


def _value(cell: ElementTree.Element) -> str:
    """The cell as a CSV export shows it: numbers without ``.0``, ISO dates."""
    kind = cell.get(_VALUE_TYPE)
    formula = cell.get(_FORMULA)
    if formula is not None and (kind is None or (kind in _SAVED_VALUE and cell.get(_SAVED_VALUE[kind]) is None)):
        # a formula whose result was never saved (a script wrote it; LibreOffice saves results):
        # read as empty it would be a suppressed count
        return unsaved_formula(re.sub(r"^[A-Za-z]+:(?==)", "", formula))  # "of:=[.E2]+[.F2]": its syntax named
    if kind in ("float", "percentage", "currency"):
        number = float(cell.get(_VALUE))
        return str(int(number)) if number.is_integer() else str(number)
    if kind == "date":
        stamp = cell.get(_DATE_VALUE) or ""
        return stamp[:10] if stamp.endswith("T00:00:00") or len(stamp) == 10 else stamp
    if kind == "boolean":
        return "True" if cell.get(_BOOLEAN_VALUE) == "true" else "False"
    return "\n".join(_string(p) for p in cell if p.tag == _P)


def _string(element: ElementTree.Element) -> str:
    """Text of a paragraph: spans nested, ``text:s`` runs of spaces, tabs."""
    parts = [element.text or ""]
    for node in element:
        if node.tag == _S:
            parts.append(" " * _int(node, _SPACES))
        elif node.tag == _TAB:
            parts.append("\t")
        elif node.tag == _LINE_BREAK:
            parts.append("\n")
        else:
            parts.append(_string(node))
        parts.append(node.tail or "")
    return "".join(parts)
