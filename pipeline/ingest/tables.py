"""The one table reader behind every source: files in, rows of text out.

Published tables arrive as CSV (any of ``,`` ``;`` tab, UTF-8 with or without
a BOM, or Windows cp1252), xlsx or ods, often with title rows above the header
and notes below the data. :func:`read_source` finds, in each file of a source
folder, the header row holding a layout's columns (:mod:`.headers`) and
streams every row below it as text keyed by field name, with its spreadsheet
row number, so the readers can parse cells themselves (see
:mod:`pipeline.ingest.cells`) and say exactly which row and column went wrong.

Rows are made one at a time and a row's original cells are turned into the
quarantine's JSON only if it is quarantined, so memory follows the rows a
reader keeps, not the rows a file has.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.faults import pause_point
from pipeline.ingest.discovery import source_files
from pipeline.ingest.errors import IngestError
from pipeline.ingest.grids import sheets
from pipeline.ingest.headers import (  # noqa: F401 - re-exported for the readers
    HEADER_SEARCH_ROWS, Col, Header, Layout, find_header, key, label, no_header_error,
)


class Row:
    """One data row: file, spreadsheet row number, cells by field, raw on demand."""

    __slots__ = ("file", "number", "cells", "note", "_original", "_labels")

    def __init__(self, file: str, number: int, cells: dict[str, str], original: list[str],
                 labels: list[str], note: bool = False):
        self.file = file  # path relative to the data dir, forward slashes
        self.number = number  # spreadsheet row number (the header's own line counts)
        self.cells = cells  # field -> stripped text ("" where the column is absent)
        self.note = note  # a footnote under the table, not data
        self._original, self._labels = original, labels

    @property
    def raw(self) -> str:
        """The original cells as JSON object text, for the quarantine."""
        extra = [f"column_{i + 1}" for i in range(len(self._labels), len(self._original))]
        return json.dumps(dict(zip(self._labels + extra, self._original)), ensure_ascii=False)


@dataclass
class Sheet:
    """A file's table, found under its header; :meth:`read` streams its rows once."""

    file: str
    sha256: str
    layout: Layout
    labels: dict[str, str]  # field -> header label as written in the file
    _header: Header
    _body: Iterator[list[str]]

    def read(self) -> Iterator[Row]:
        header, found = self._header, self._header.found
        labels = _unique_labels(header.cells)
        wide = len(header.cells) > 1
        data_rows = 0
        for number, cells in enumerate(self._body, start=header.index + 2):
            filled = [i for i, cell in enumerate(cells) if cell.strip()]
            if not filled:
                continue  # blank spacer rows carry nothing
            values = {f: (cells[i].strip() if i < len(cells) else "") for f, i in found.items()}
            # Notes under a table ("Source: ...", "1 The resettlement ...") fill only
            # the first cell; they are kept aside so the quarantine can show them.
            note = filled == [0] and wide
            data_rows += not note
            if data_rows > self.layout.max_rows:
                raise IngestError(
                    f"{self.file}: over {self.layout.max_rows:,} data rows (at row {number:,}), "
                    "more than a table of this folder can hold; check it is the right file, "
                    "or split it")
            yield Row(self.file, number, values, cells, labels, note)


def read_source(data_dir: Path, source: str, layouts: list[Layout]) -> list[Sheet]:
    """Every data file in ``data_dir/source`` (sorted by name), its header found."""
    pause_point("ingest")
    return [read_sheet(path, name, layouts) for path, name in source_files(Path(data_dir), source)]


def read_sheet(path: Path, name: str, layouts: list[Layout]) -> Sheet:
    """One file's table under the first header row that fits a layout."""
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{name}: file is empty")
    sha, nearest = hashlib.sha256(data).hexdigest(), None
    for rows in sheets(data, path.suffix.lower(), name):
        top = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        header, miss = find_header(top, layouts)
        if header is not None:
            labels = {f: label(header.cells[i]) for f, i in header.found.items()}
            body = itertools.chain(top[header.index + 1:], rows)
            return Sheet(name, sha, header.layout, labels, header, body)
        if miss is not None and (nearest is None or len(miss[1]) < len(nearest[1])):
            nearest = miss
    raise no_header_error(name, nearest)


def _unique_labels(header: list[str]) -> list[str]:
    labels, seen = [], {}
    for i, cell in enumerate(header):
        text = label(cell) or f"column_{i + 1}"
        seen[text] = seen.get(text, 0) + 1
        labels.append(text if seen[text] == 1 else f"{text}_{seen[text]}")
    return labels
