"""The one table reader behind every source: files in, rows of text out.

Published tables arrive as CSV (any of ``,`` ``;`` tab, UTF-8 with or without
a BOM, or Windows cp1252), xlsx or ods, often with title rows above the header
and notes below the data. :func:`read_source` finds, in each file of a source
folder and each sheet of a workbook, the header row holding a layout's
columns (:mod:`.headers`) and streams every row below it (of every sheet
where one fits) as text keyed by field name, with its spreadsheet
row number, so the readers can parse cells themselves (see
:mod:`pipeline.ingest.cells`) and say exactly which row and column went wrong.

A sheet is read in one of two ways (see :mod:`pipeline.ingest.results`).
:meth:`Sheet.blocks` hands the rows over as columns, a :class:`Block` of up
to :data:`BLOCK_ROWS` rows at a time, for the readers' column path;
:meth:`Sheet.read` makes one :class:`Row` at a time, for the row path, the
reference the column path must agree with. Either way a row's original cells
are turned into the quarantine's JSON only if it is quarantined, and the
cells kept for that are held compactly (:meth:`Block.compact`), so memory
follows the rows a reader keeps, not the rows a file has. A block keeps its
rows as read and makes a column only of the header's fields the reader
asks for: ONS's single-year-of-age tables have ~95 columns, of which
the population reader reads ten.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.faults import pause_point
from pipeline.ingest.cells import Distinct
from pipeline.ingest.discovery import source_files
from pipeline.ingest.errors import IngestError
from pipeline.ingest.grids import UNSAVED, is_unsaved, sheets
from pipeline.ingest.headers import (  # noqa: F401 - re-exported for the readers
    HEADER_SEARCH_ROWS, Col, Header, Layout, find_header, key, label, no_header_error,
)

NOTE_PROBLEM = "footnote or note row, not data"
BLOCK_ROWS = 65_536  # rows parsed together by the column path
# Rows taken from the file at a time, each kept as a tuple: the garbage collector stops
# tracking a tuple of text the first time it looks at it, where a block's row lists would be
# walked at every collection of their generation, and promoted to the oldest, whose
# collections walk the whole process (population's blocks: 0.15 full collections a read,
# 8.7 ms in collections, -> none, 3.8 ms)
_BATCH = 512
# A kept block of fewer rows keeps its cells as read (see Block.compact): making its rows
# anew costs more time than a small block's repeated cells take memory (the demo's long
# population table, 12,720 rows: 2.8 ms to save ~2 MB)
COMPACT_ROWS = 16_384


class Row:
    """One data row: file, spreadsheet row number, cells by field, raw on demand."""

    __slots__ = ("file", "number", "cells", "note", "_original", "_labels")

    def __init__(self, file: str, number: int, cells: dict[str, str], original: list[str],
                 labels: list[str], note: str = ""):
        self.file = file  # path relative to the data dir, forward slashes
        self.number = number  # spreadsheet row number (the header's own line counts)
        self.cells = cells  # field -> stripped text ("" where the column is absent)
        self.note = note  # why the row is not data (see not_data), "" for a data row
        self._original, self._labels = original, labels

    @property
    def original(self) -> list[str]:
        """The cells as read."""
        return self._original

    @property
    def raw(self) -> str:
        """The original cells as JSON object text, for the quarantine."""
        return raw(self._labels, self._original)

    @property
    def identity(self) -> int:
        """:func:`row_identity` of the cells as read."""
        return row_identity(self._original)


def row_identity(cells) -> int:
    """A number for a row's cells as read, the same for rows equal in every
    cell (within a process: Python's hash of the cells), so that a row given
    twice is told from two rows alike in the columns read."""
    return hash(tuple(cells))


class Block:
    """Consecutive rows of a sheet as columns, blank rows left out: what
    :meth:`Sheet.read` would yield for them, for parsing a whole column at once.

    ``rows`` holds each row's cells as read (a tuple, of any length), and
    ``lengths`` their numbers. A field's cells are read through
    :meth:`distinct`, which strips them, from its column (:meth:`column`:
    "" beyond the end of a short row), made when first asked for: the
    columns no reader reads are never made (eight ONS tables of ~330 rows
    and ~95 columns, of which ten are read: their blocks 16 -> 4 ms).
    """

    def __init__(self, sheet: Sheet, number: np.ndarray, note: np.ndarray, rows: np.ndarray,
                 lengths: np.ndarray, columns: dict[int, np.ndarray] | None = None,
                 distinct: dict[str, Distinct] | None = None):
        self.sheet = sheet
        self.number = number  # spreadsheet row numbers
        self.note = note  # footnotes under the table (see Sheet.read)
        self.rows = rows
        self.lengths = lengths
        self._columns = columns or {}  # column position -> its cells, as made so far
        self._distinct = distinct or {}

    def __len__(self) -> int:
        return len(self.number)

    def has(self, field: str) -> bool:
        """Whether the sheet has a column for ``field``."""
        return field in self.sheet.found

    def column(self, at: int) -> np.ndarray:
        """The cells of the header's column ``at`` ("" beyond a short row's end)."""
        if at not in self._columns:
            rows = self.rows.tolist()
            if len(rows) and self.lengths.min() > at:  # every row reaches it
                cells = list(map(operator.itemgetter(at), rows))
            else:
                cells = [row[at] if len(row) > at else "" for row in rows]
            self._columns[at] = np.fromiter(cells, dtype=object, count=len(cells))
        return self._columns[at]

    def distinct(self, field: str) -> Distinct:
        """A field's cells (all "" where the sheet has no column for it)."""
        if field not in self._distinct:
            at = self.sheet.found.get(field)
            cells = self.column(at) if at is not None else np.full(len(self), "", dtype=object)
            distinct = Distinct.of(cells)
            if self.sheet.title is not None and field in self.sheet.descriptive:  # as Sheet.cells_read
                unsaved = _unsaved_values(distinct)
                if unsaved.any():
                    values = distinct.values.copy()
                    values[unsaved] = ""
                    distinct = Distinct(distinct.codes, values)
            self._distinct[field] = distinct
        return self._distinct[field]

    def text(self, field: str) -> np.ndarray:
        """A field's cells, stripped."""
        return self.distinct(field).parse(str)[0]

    def take(self, positions: np.ndarray) -> Block:
        """The rows at ``positions`` (indices or a boolean mask)."""
        return Block(self.sheet, self.number[positions], self.note[positions], self.rows[positions],
                     self.lengths[positions], {at: c[positions] for at, c in self._columns.items()},
                     {f: d.take(positions) for f, d in self._distinct.items()})

    def original(self, i: int) -> list[str]:
        """Row ``i``'s cells as read."""
        return list(self.rows[i])

    def identities(self) -> np.ndarray:
        """:func:`row_identity` of each row, as :attr:`Row.identity` gives it."""
        return np.fromiter(map(row_identity, self.rows.tolist()), dtype=np.int64, count=len(self))

    def originals(self, positions: np.ndarray) -> list[tuple[str, ...]]:
        """The cells as read of the rows at ``positions``."""
        return list(map(tuple, self.rows[positions].tolist()))

    def compact(self) -> Block:
        """The block to keep (its columns dropped): in a large block (of
        :data:`COMPACT_ROWS` rows or more), a field's cells are replaced by
        the objects of its distinct values, so repeated values cost no
        memory. The rows as long as the header are made anew from the
        columns; the others (a note, a ragged row) are kept as read."""
        distinct = {self.sheet.found[f]: d for f, d in self._distinct.items() if f in self.sheet.found}
        rows = self.rows
        if len(self) >= COMPACT_ROWS and distinct:
            full = np.flatnonzero(self.lengths == len(self.sheet.columns))
            columns = [(distinct[at].cells() if at in distinct else self.column(at))[full].tolist()
                       for at in range(len(self.sheet.columns))]
            rows = rows.copy()
            rows[full] = np.fromiter(zip(*columns), dtype=object, count=len(full))
        return Block(self.sheet, self.number, self.note, rows, self.lengths)

    def row(self, i: int) -> Row:
        """Row ``i`` as :meth:`Sheet.read` makes it."""
        original = self.original(i)
        cells = self.sheet.cells_read(original)
        return Row(self.sheet.file, int(self.number[i]), cells, original, self.sheet.columns,
                   self.sheet.not_data(original) if self.note[i] else "")


@dataclass
class Sheet:
    """A file's table, found under its header; :meth:`read` or :meth:`blocks` streams its rows once."""

    file: str  # as rows and messages name it: the file, or "file [sheet]" (see read_sheets)
    sha256: str
    layout: Layout
    labels: dict[str, str]  # field -> header label as written in the file
    _header: Header
    _body: Iterator[list[str]]
    source_file: str = ""  # the file itself, as source_files lists it (default: ``file``)
    title: str | None = None  # the sheet's name in its workbook (None for a CSV file)
    # data rows read so far from this sheet's file, shared by a workbook's
    # sheets: the layout's row limit bounds the file, as it did when one sheet was read
    file_rows: list[int] = field(default_factory=lambda: [0])
    columns: list[str] = field(init=False)  # every column's label, made unique, for Row.raw
    # the fields found whose columns are descriptions (Col.descriptive): see cells_read
    descriptive: frozenset[str] = field(init=False)

    def __post_init__(self):
        self.columns = _unique_labels(self._header.cells)
        self.descriptive = frozenset(c.name for c in self.layout.columns if c.descriptive and c.name in self.found)
        # the header's columns up to its last label
        self._labelled = max((i + 1 for i, cell in enumerate(self._header.cells) if cell.strip()), default=0)
        self.source_file = self.source_file or self.file

    def not_data(self, cells: Sequence[str], filled: list[int] | None = None) -> str:
        """Why a row that is not blank is not data, or "" where it is
        (``filled``: the positions of its filled cells, where known).

        Notes under a table ("Source: ...", "1 The resettlement ...") fill
        only the first cell. A text file's row with cells filled past the
        header's last column has had one cell split in two (an unquoted
        thousands separator: "1,234" would read as 1); a workbook's cell
        cannot split, so a column right of the header there is a remark.
        """
        if filled is None:
            filled = [i for i, cell in enumerate(cells) if cell.strip()]
        if self.title is not None and (unsaved := self._unsaved(cells)):
            return unsaved
        if filled == [0] and len(self._header.cells) > 1:
            return NOTE_PROBLEM
        width = self._labelled  # a header's trailing empty cells (its own trailing delimiters) are no columns
        if self.title is None and filled and filled[-1] >= width:
            return (f"{filled[-1] + 1} cells where the header has {width}: a comma in an unquoted figure or name "
                    "(1,234) shifts the cells after it")
        return ""

    def cells_read(self, cells: Sequence[str]) -> dict[str, str]:
        """A row's fields, stripped ("" where the column is absent, and for a
        descriptive one holding a formula whose result the file does not hold)."""
        values = {f: (cells[i].strip() if i < len(cells) else "") for f, i in self.found.items()}
        if self.title is not None:
            for f in self.descriptive:
                if is_unsaved(values[f]):
                    values[f] = ""
        return values

    def _unsaved(self, cells: Sequence[str]) -> str:
        """The problem of a row one of whose columns read is a formula whose
        result the workbook does not hold (:func:`.grids.unsaved_formula`),
        in any column: a name or region so read would be published as the
        formula's text, a count as suppressed. "" if none."""
        for f, at in self.found.items():
            if f not in self.descriptive and at < len(cells) and is_unsaved(cells[at]):
                written = cells[at].rstrip()[:-len(UNSAVED)].strip()
                return (f"column {self.labels.get(f, f)}: {f'{written!r} is ' if written else ''}a formula whose "
                        "result the file does not hold (written by a program: open it in Excel or LibreOffice "
                        "and save it, which saves the results)")
        return ""

    def read(self) -> Iterator[Row]:
        header, found = self._header, self._header.found
        data_rows = self.file_rows[0]
        for number, cells in enumerate(self._body, start=header.index + 2):
            filled = [i for i, cell in enumerate(cells) if cell.strip()]
            if not filled:
                continue  # blank spacer rows carry nothing
            values = self.cells_read(cells)
            # notes under a table and split rows are kept aside so the quarantine can show them
            note = self.not_data(cells, filled)
            data_rows += not note
            self.file_rows[0] = data_rows
            if data_rows > self.layout.max_rows:
                raise self._too_long(number)
            yield Row(self.file, number, values, cells, self.columns, note)

    @property
    def found(self) -> dict[str, int]:
        """Field -> column position."""
        return self._header.found

    def blocks(self) -> Iterator[Block]:
        """The rows :meth:`read` yields, up to :data:`BLOCK_ROWS` at a time as columns.

        A block is checked against the row limit as a whole, before it is
        handed over, so a file over the limit fails with the same message; a
        file that turns out unreadable part-way fails as in :meth:`read`.
        """
        first, data_rows = self._header.index + 2, self.file_rows[0]
        while True:
            rows: list[tuple[str, ...]] = []
            try:
                while len(rows) < BLOCK_ROWS:
                    read = len(rows)
                    # the rows read before any damage stay, and still count towards the limit
                    rows.extend(map(tuple, itertools.islice(self._body, _BATCH)))
                    if len(rows) == read:
                        break
            except Exception:
                self._block(first, rows, data_rows)
                raise
            if not rows:
                return
            block, data_rows = self._block(first, rows, data_rows)
            self.file_rows[0] = data_rows
            first += len(rows)
            yield block

    def _block(self, first: int, rows: list[tuple[str, ...]], data_rows: int) -> tuple[Block, int]:
        """Rows numbered from ``first`` as a :class:`Block`, blank ones dropped,
        and the count of data rows so far."""
        n = len(rows)
        block = Block(self, np.arange(first, first + n, dtype=np.int64), np.zeros(n, dtype=bool),
                      np.fromiter(rows, dtype=object, count=n), np.fromiter(map(len, rows), dtype=np.int64, count=n))
        # A filled field right of the first column makes a data row; the other
        # rows are looked at cell by cell, as read() does.
        unsure = np.arange(n)
        for f, at in self.found.items():
            if at and len(unsure):
                unsure = unsure[~block.distinct(f).parse(bool, bool, False)[0][unsure]]
        blank = np.zeros(n, dtype=bool)
        for i in unsure:
            original = block.original(i)
            filled = [at for at, cell in enumerate(original) if cell.strip()]
            blank[i] = not filled
            block.note[i] = bool(self.not_data(original, filled))
        if self.title is not None:  # a workbook's formulas without their results (see _unsaved)
            for f in self.found:
                if f in self.descriptive:
                    continue  # read as not given (Block.distinct)
                distinct = block.distinct(f)
                marked = _unsaved_values(distinct)
                if marked.any():
                    block.note |= marked[distinct.codes]
        if self.title is None:  # a text file's rows with cells past the header's last label
            for i in np.flatnonzero(block.lengths > self._labelled):
                if any(cell.strip() for cell in rows[i][self._labelled:]):
                    block.note[i] = bool(self.not_data(block.original(i)))
        if blank.any():
            block = block.take(~blank)
        counts = data_rows + np.cumsum(~block.note)
        over = np.flatnonzero(counts > self.layout.max_rows)
        if over.size:
            raise self._too_long(int(block.number[over[0]]))
        return block, int(counts[-1]) if len(counts) else data_rows

    def _too_long(self, number: int) -> IngestError:
        return IngestError(
            f"{self.file}: over {self.layout.max_rows:,} data rows (at row {number:,}"
            f"{', counting the rows of the sheets before it' if self.file != self.source_file else ''}), "
            "more than a table of this folder can hold; check it is the right file, or split it")


def _unsaved_values(distinct: Distinct) -> np.ndarray:
    """Which of a column's distinct values are formulas whose results the file does not hold."""
    return np.fromiter(map(is_unsaved, distinct.values), dtype=bool, count=len(distinct.values))


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), made once


def raw(labels: list[str], cells: Sequence[str]) -> str:
    """A row's cells as JSON object text, keyed by the header's labels
    (``column_N`` beyond them), for the quarantine."""
    if len(cells) > len(labels):
        labels = labels + [f"column_{i + 1}" for i in range(len(labels), len(cells))]
    return _JSON.encode(dict(zip(labels, cells)))


def read_source(data_dir: Path, source: str, layouts: list[Layout]) -> list[Sheet]:
    """Every table in the files of ``data_dir/source`` (files sorted by
    name, a workbook's sheets in order), its header found; of a workbook
    with a table per sex, the one for everyone (:func:`_everyone`)."""
    pause_point("ingest")
    return [sheet for path, name in source_files(Path(data_dir), source)
            for sheet in _everyone(name, read_sheets(path, name, layouts))]


# a sheet's name saying it is of one sex ("MYE2 - Males"), not both ("Males and females")
_MALE, _FEMALE = (re.compile(rf"\b({words})\b", re.IGNORECASE) for words in ("males?|men|boys", "females?|women|girls"))
# or by its last letter, as ONS named them from mid-2012 to mid-2018 ("MYE2 - All", "MYE2 - M", "MYE2 - F")
_LETTER = re.compile(r"(.*?)[\s_:-]+([mf])\s*", re.IGNORECASE)


def _one_sex(titles: list[str]) -> set[str]:
    """The titles of sheets of one sex: named so in words, or by a last
    letter M or F where the workbook has both ("Table M" alone is not)."""
    words = {t for t in titles if t and bool(_MALE.search(t)) != bool(_FEMALE.search(t))}
    letters = {t: _LETTER.fullmatch(t) for t in titles if t and _LETTER.fullmatch(t)}
    pairs = {(m[1].lower(), m[2].lower()) for m in letters.values()}
    return words | {t for t, m in letters.items()
                    if (m[1].lower(), "f" if m[2].lower() == "m" else "m") in pairs}


def _everyone(name: str, sheets: list[Sheet]) -> list[Sheet]:
    """A workbook's tables less those of one sex, where it has others.

    Publishers give the same table for everyone and for each sex on their
    own sheets (ONS's MYE2: persons, males, females): the one for everyone
    counts; read together, the three would be taken for copies that
    disagree and all quarantined. A workbook whose every table is of one
    sex fails: its figures are not everyone's.
    """
    titles = _one_sex([s.title for s in sheets])
    one_sex = [s for s in sheets if s.title in titles]
    if one_sex and len(one_sex) == len(sheets):
        raise IngestError(f"{name}: every table is of one sex (sheets {', '.join(repr(s.title) for s in one_sex)}); "
                          "the figures counted are for everyone (persons): add that sheet")
    return [s for s in sheets if s not in one_sex]


def read_sheets(path: Path, name: str, layouts: list[Layout]) -> list[Sheet]:
    """A file's tables: every sheet with a header row that fits a layout.

    A workbook's other sheets (notes, contents, charts) are passed over; a
    file with no sheet that fits fails, naming the columns the nearest
    header lacks. Where a workbook has more than one table, each is named
    ``file [sheet]`` (its row numbers are the sheet's own), so that the
    quarantine and messages say where a row is; tables from different
    sheets are compared as tables from different files are.
    """
    data = path.read_bytes()
    if not data or data.isspace():  # not data.strip(), which copies the whole file
        raise IngestError(f"{name}: file is empty")
    sha, nearest, found = hashlib.sha256(data).hexdigest(), None, []
    for title, rows in sheets(data, path.suffix.lower(), name):
        top = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        header, miss = find_header(top, layouts)
        if header is not None and header.ambiguous:
            where = f"{name} [{title}]" if title is not None else name
            field_name, columns = next(iter(header.ambiguous.items()))
            raise IngestError(
                f"{where}: columns {' and '.join(f'{i + 1} ({label(header.cells[i])!r})' for i in columns)} of the "
                f"header in row {header.index + 1} all read as {field_name}; which one is meant cannot be told: "
                "rename or remove the others")
        if header is not None:
            found.append((title, header, itertools.chain(top[header.index + 1:], rows)))
        elif miss is not None and (nearest is None or len(miss[1]) < len(nearest[1])):
            nearest = miss
    if not found:
        raise no_header_error(name, nearest)
    file_rows = [0]
    return [Sheet(f"{name} [{title}]" if len(found) > 1 else name, sha, header.layout,
                  {f: label(header.cells[i]) for f, i in header.found.items()}, header, body,
                  source_file=name, title=title, file_rows=file_rows)
            for title, header, body in found]


def _unique_labels(header: list[str]) -> list[str]:
    labels, seen = [], {}
    for i, cell in enumerate(header):
        text = label(cell) or f"column_{i + 1}"
        seen[text] = seen.get(text, 0) + 1
        labels.append(text if seen[text] == 1 else f"{text}_{seen[text]}")
    return labels
