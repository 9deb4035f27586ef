"""OpenDocument spreadsheets (.ods) as rows of text, merged cells filled in.

ODS is how ONS, MoJ and the YJB publish most tables. pandas' reader turns
the cells hidden under a merged cell into blanks, so a service name merged
down over its three periods would leave two rows without a name. Here the
cells below a merged cell, down its first column, take its value: the
publisher meant it for every row the merge spans. Cells to its right stay
blank, as in an xlsx (:func:`pipeline.ingest.grids._filled_down`): a title
or note merged across the width stays in its first cell, so a note under
the table is still seen as one, and a merged header is read by its labels.

Repeated rows and columns (``number-rows-repeated``) are expanded, except
the blank ones at the end of a sheet or row, which LibreOffice writes by
the million.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

_MAX_REPEAT = 10_000  # a repeated non-blank row or cell beyond this is not data


def sheets(data: bytes, name: str) -> Iterator[tuple[str, Iterator[list[str]]]]:
    from odf import table
    from odf.opendocument import load

    try:
        doc = load(io.BytesIO(data))
        found = doc.spreadsheet.getElementsByType(table.Table)
    except Exception as exc:  # odfpy raises many types for a damaged file
        from pipeline.ingest.grids import unreadable

        raise unreadable(name, ".ods", exc) from exc
    for sheet in found:
        yield str(sheet.getAttribute("name") or ""), _rows(sheet)


def _rows(sheet) -> Iterator[list[str]]:
    from odf import table

    merged: dict[tuple[int, int], str] = {}  # (row, column) -> value of the covering cell
    blank_rows, number = 0, 0
    for row in sheet.getElementsByType(table.TableRow):
        repeat = _int(row, "numberrowsrepeated")
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


def _cells(row, number: int, merged: dict) -> list[str]:
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

    for cell in row.childNodes:
        kind = getattr(cell, "qname", (None, None))[1]
        if kind not in ("table-cell", "covered-table-cell"):
            continue  # annotations, soft page breaks
        repeat = _int(cell, "numbercolumnsrepeated")
        column = len(values) + pending_blank
        if kind == "table-cell":
            value = _value(cell)
            rows = _int(cell, "numberrowsspanned")
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


def _int(element, attribute: str) -> int:
    value = element.getAttribute(attribute)
    return int(value) if value else 1


def _value(cell) -> str:
    """The cell as a CSV export shows it: numbers without ``.0``, ISO dates."""
    kind = cell.getAttribute("valuetype")
    if kind in ("float", "percentage", "currency"):
        number = float(cell.getAttribute("value"))
        return str(int(number)) if number.is_integer() else str(number)
    if kind == "date":
        stamp = cell.getAttribute("datevalue")
        return stamp[:10] if stamp.endswith("T00:00:00") or len(stamp) == 10 else stamp
    if kind == "boolean":
        return "True" if cell.getAttribute("booleanvalue") == "true" else "False"
    return "\n".join(_string(p) for p in cell.childNodes if getattr(p, "qname", (0, 0))[1] == "p")


def _string(element) -> str:
    """Text of a paragraph: spans nested, ``text:s`` runs of spaces, tabs."""
    parts = []
    for node in element.childNodes:
        kind = getattr(node, "qname", (None, None))[1]
        if node.nodeType == node.TEXT_NODE:
            parts.append(str(node.data))
        elif kind == "s":
            parts.append(" " * _int(node, "c"))
        elif kind == "tab":
            parts.append("\t")
        elif kind == "line-break":
            parts.append("\n")
        else:
            parts.append(_string(node))
    return "".join(parts)
