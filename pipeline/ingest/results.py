"""What a reader hands back: the tidy table, its quarantine and its files.

:class:`Collector` is shared by the six readers so that every rejected row is
recorded the same way (source, file, row number, problem, the original cells)
and every file read is listed with its checksum; :func:`resolve_duplicates`
is the one rule for a key that appears twice, within or across files.

Each reader has two paths to the same result. The column path
(:meth:`Collector.parse_blocks`, :func:`resolve_duplicate_rows`) parses a
block of rows a column at a time and keeps the records in a frame; only the
rows it cannot settle with certainty go through the reader's row parser, and
only the keys that repeat through :func:`resolve_duplicates`. The row path
(:meth:`Collector.parse`, one :class:`Record` per row) is the reference: it
is what :func:`one_row_at_a_time` selects, and what the column path is tested
against, row for row and message for message.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.ingest.cells import RowProblem
from pipeline.ingest.tables import Block, Row, Sheet, raw

QUARANTINE_COLUMNS = ["source", "file", "row_number", "problem", "raw"]
FILES_COLUMNS = ["source", "file", "sha256", "rows", "ingested_at"]
# Where a record of the column path comes from (see Collector.parse_blocks).
ROW_FILE, ROW_NUMBER, ROW_KEPT = "__file", "__number", "__kept"

_ROW_BY_ROW: ContextVar[bool] = ContextVar("row_by_row", default=False)


@contextmanager
def one_row_at_a_time():
    """Within the block, the readers take the row path (the reference)."""
    token = _ROW_BY_ROW.set(True)
    try:
        yield
    finally:
        _ROW_BY_ROW.reset(token)


def row_by_row() -> bool:
    """True within :func:`one_row_at_a_time`."""
    return _ROW_BY_ROW.get()


@dataclass
class Ingested:
    table: pd.DataFrame  # tidy rows, schema per source
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    files: pd.DataFrame  # FILES_COLUMNS


@dataclass
class Record:
    """A parsed row (or a sum of rows) and the input rows it came from."""

    rows: tuple[Row, ...]
    values: dict


class Collector:
    """Quarantine and file list for one source, filled while it is read."""

    def __init__(self, source: str):
        self.source = source
        self._rejected: list[dict] = []
        self._files: list[dict] = []
        self._kept: list[Block] = []  # the rows of parse_blocks' records, as read
        self._now = pd.Timestamp.now(tz="UTC")

    def reject(self, row: Row, problem: str) -> None:
        self._rejected.append(
            {"source": self.source, "file": row.file, "row_number": row.number,
             "problem": problem, "raw": row.raw}
        )

    def rejected_where(self, says: Callable[[str], bool]) -> dict[str, tuple[int, str]]:
        """Per file, its first row quarantined so far whose problem ``says``
        (the row's number and problem)."""
        found: dict[str, tuple[int, str]] = {}
        for rejected in self._rejected:
            if rejected["file"] not in found and says(rejected["problem"]):
                found[rejected["file"]] = (rejected["row_number"], rejected["problem"])
        return found

    def parse(self, sheets: list[Sheet], parse_row: Callable[[Row, Sheet], dict | list[dict] | None]) -> list[Record]:
        """Parse every data row; a :class:`RowProblem` sends the row to quarantine.

        ``parse_row`` returns None for rows that are not wanted but not wrong
        (e.g. non-custody rows of the YJB outcome table), and a list for a
        row that holds several records (a population for each year).
        """
        records = []
        for sheet in sheets:
            rows = 0
            for row in sheet.read():
                rows += 1
                if row.note:
                    self.reject(row, row.note)
                    continue
                values = self._parse_row(row, sheet, parse_row)
                if isinstance(values, list):
                    records.extend(Record((row,), v) for v in values)
                elif values is not None:
                    records.append(Record((row,), values))
            self._list_file(sheet, rows)
        return records

    def _parse_row(self, row: Row, sheet: Sheet, parse_row: Callable[[Row, Sheet], dict | None]) -> dict | None:
        """``parse_row``'s values, or None: not wanted, or quarantined for its :class:`RowProblem`."""
        try:
            return parse_row(row, sheet)
        except RowProblem as problem:
            self.reject(row, str(problem))
            return None

    def _list_file(self, sheet: Sheet, rows: int) -> None:
        # one entry per file: a workbook's tables add up
        listed = next((f for f in self._files if f["file"] == sheet.source_file), None)
        if listed is not None:
            listed["rows"] += rows
            return
        self._files.append({"source": self.source, "file": sheet.source_file, "sha256": sheet.sha256,
                            "rows": rows, "ingested_at": self._now})

    def parse_blocks(self, sheets: list[Sheet],
                     parse_block: Callable[[Block, Sheet], tuple[pd.DataFrame, np.ndarray]],
                     parse_row: Callable[[Row, Sheet], dict | None], columns: Sequence[str]) -> pd.DataFrame:
        """:meth:`parse` a block of rows at a time: the records as a frame.

        ``parse_block`` returns the ``columns`` of the rows it does not know
        to be unwanted, indexed by position in the block, and a mask of
        those it settled; the others go through ``parse_row`` as in
        :meth:`parse`. A row holding several records (see :meth:`parse`)
        repeats its position, its records settled all or none. The frame
        has the ``columns`` and, for each record, its ROW_FILE, ROW_NUMBER
        and ROW_KEPT (where its row's cells as read are kept, for the
        quarantine: block << 32 | position), in the order :meth:`parse`
        makes them.
        """
        frames, files, numbers, kept_at = [], [], [], []  # each block's records and where they come from
        for sheet in sheets:
            rows = 0
            for block in sheet.blocks():
                rows += len(block)
                for i in np.flatnonzero(block.note):
                    row = block.row(i)
                    self.reject(row, row.note)
                data = block.take(~block.note) if block.note.any() else block
                values, settled = parse_block(data, sheet)
                parsed, at = [], []
                for i in dict.fromkeys(values.index[~settled]):  # a row once, however many its records
                    found = self._parse_row(data.row(i), sheet, parse_row)
                    found = found if isinstance(found, list) else [] if found is None else [found]
                    parsed.extend(found)
                    at.extend([i] * len(found))
                if not settled.all():
                    values = values[settled]
                if parsed:
                    one_by_one = pd.DataFrame(parsed, index=at, columns=list(columns))
                    values = (pd.concat([values, one_by_one]).sort_index(kind="stable") if len(values)
                              else one_by_one)
                if len(values):
                    positions, kept = np.unique(values.index.to_numpy(), return_inverse=True)
                    self._kept.append((data.take(positions) if len(positions) < len(data) else data).compact())
                    frames.append(values)
                    files.append(np.full(len(values), sheet.file, dtype=object))
                    numbers.append(data.number[positions][kept])
                    kept_at.append((len(self._kept) - 1 << 32) + kept)
            self._list_file(sheet, rows)
        if not frames:
            return pd.DataFrame(columns=[*columns, ROW_FILE, ROW_NUMBER, ROW_KEPT])
        # the bookkeeping columns added once to the whole frame, not to each block's
        frame = pd.concat(frames, ignore_index=True)
        frame[ROW_FILE], frame[ROW_NUMBER] = np.concatenate(files), np.concatenate(numbers)
        frame[ROW_KEPT] = np.concatenate(kept_at)
        return frame

    def rows(self, frame: pd.DataFrame) -> list[Row]:
        """The input rows of the records of a :meth:`parse_blocks` frame."""
        return [Row(sheet.file, number, {}, cells, sheet.columns) for sheet, number, cells in self._as_read(frame)]

    def _as_read(self, frame: pd.DataFrame) -> Iterator[tuple[Sheet, int, tuple[str, ...]]]:
        """Each record's sheet, row number and cells as read."""
        kept = frame[ROW_KEPT].to_numpy(dtype=np.int64)
        blocks, at = kept >> 32, kept & 0xFFFFFFFF
        cells: list = [None] * len(kept)
        for b in np.unique(blocks):
            mine = np.flatnonzero(blocks == b)
            for i, original in zip(mine, self._kept[b].originals(at[mine])):
                cells[i] = original
        return zip((self._kept[b].sheet for b in blocks.tolist()), frame[ROW_NUMBER].tolist(), cells)

    def grouped_rows(self, frame: pd.DataFrame, groups: list[np.ndarray]) -> list[tuple[Row, ...]]:
        """The input rows at each array of positions in ``frame``."""
        if not groups:
            return []
        rows = iter(self.rows(frame.iloc[np.concatenate(groups)]))
        return [tuple(itertools.islice(rows, len(positions))) for positions in groups]

    def reject_rows(self, frame: pd.DataFrame, problems: Iterable[str]) -> None:
        """:meth:`reject` each row of a :meth:`parse_blocks` frame."""
        for (sheet, number, cells), problem in zip(self._as_read(frame), problems):
            self._rejected.append({"source": self.source, "file": sheet.file, "row_number": number,
                                   "problem": problem, "raw": raw(sheet.columns, cells)})

    def result(self, rows: Iterable[dict] | pd.DataFrame, columns: dict[str, str]) -> Ingested:
        """The tidy table with ``columns`` (name -> dtype), even when empty.

        The quarantine (sorted by file and row number) and the file list are
        made a column at a time with their dtypes given: a frame of a few
        rows costs less so than built from records and converted."""
        if isinstance(rows, pd.DataFrame):
            table = rows[list(columns)]
            converted = {c: dtype for c, dtype in columns.items() if table[c].dtype != dtype}
            if converted:  # only the columns not yet of their dtype
                table = table.astype(converted, copy=False)
        else:
            table = pd.DataFrame(list(rows), columns=list(columns)).astype(columns)
        rejected = sorted(self._rejected, key=lambda r: (r["file"], r["row_number"]))  # stable
        quarantine = _frame(rejected, QUARANTINE_COLUMNS, {"row_number": np.int64})
        files = _frame(self._files, FILES_COLUMNS, {"rows": np.int64})
        files["ingested_at"] = to_datetime(files["ingested_at"], utc=True)
        return Ingested(table.reset_index(drop=True), quarantine, files)


def _frame(records: list[dict], columns: list[str], dtypes: dict) -> pd.DataFrame:
    """``records`` as a frame of ``columns``, each of its dtype in ``dtypes`` (else object)."""
    return pd.DataFrame({c: np.array([r[c] for r in records], dtype=dtypes.get(c, object)) for c in columns})


def resolve_duplicates(records: list[Record], key: tuple[str, ...], log: Collector,
                       kept: str = "") -> list[Record]:
    """One record per key: identical repeats collapse, conflicting ones are all quarantined.

    A figure given twice with different values cannot be trusted either way,
    so every row of that key goes to quarantine, naming the other row. Keys
    starting with ``_`` are bookkeeping and are left out of the message.
    ``kept``, added to the message, says what the caller keeps of such a key
    (an inspection's date: :mod:`.inspections`).
    """
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[tuple(record.values[k] for k in key)].append(record)
    resolved = []
    for group_key, group in groups.items():
        if len(group) == 1 or len({_comparable(r.values) for r in group}) == 1:
            resolved.append(group[0])
            continue
        label = " ".join(f"{k} {_show(v)}" for k, v in zip(key, group_key) if not k.startswith("_"))
        for record in group:
            other = next(r for r in group if _comparable(r.values) != _comparable(record.values))
            diffs = ", ".join(
                f"{k} {_show(v)} vs {_show(other.values[k])}" for k, v in record.values.items()
                if not k.startswith("_") and k != "suppressed"  # follows from the counts shown
                and _comparable({k: v}) != _comparable({k: other.values[k]})
            )
            where = f"{other.rows[0].file} row {other.rows[0].number}"
            for row in record.rows:
                log.reject(row, f"{label}: conflicts with {where} ({diffs}){kept}")
    return resolved


def resolve_duplicate_rows(frame: pd.DataFrame, key: tuple[str, ...], values: Sequence[str], log: Collector,
                           rows_of: Callable[[pd.DataFrame], list[tuple[Row, ...]]] | None = None,
                           kept: str = "") -> pd.DataFrame:
    """:func:`resolve_duplicates` for a frame of records (``values`` in the
    order the row path's records hold them): the rows of a key that repeats
    are made into :class:`Record` and resolved by that same rule; the others
    pass as they are. ``rows_of`` gives each record's input rows, where a
    record is more than its own row.
    """
    repeated = frame.duplicated(list(key), keep=False).to_numpy()
    if not repeated.any():
        return frame
    subset = frame[repeated]
    rows = rows_of(subset) if rows_of else [(row,) for row in log.rows(subset)]
    records = [Record(r, v) for r, v in zip(rows, subset[list(values)].to_dict("records"))]
    resolved = {id(record) for record in resolve_duplicates(records, key, log, kept)}
    repeated[repeated] = [id(record) not in resolved for record in records]
    return frame[~repeated]


def first_of_groups(group: np.ndarray) -> np.ndarray:
    """Which rows are the first of their group, for groups numbered in order
    of first appearance (``groupby(sort=False).ngroup()``)."""
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] > np.maximum.accumulate(group)[:-1]
    return first


def group_rows(group: np.ndarray, wanted: Iterable[int]) -> dict[int, np.ndarray]:
    """The positions of the rows of each ``wanted`` group (``group``: each
    row's group number), in order."""
    rows = np.flatnonzero(np.isin(group, list(wanted)))
    return {g: rows[at] for g, at in pd.Series(rows).groupby(group[rows]).indices.items()}


def _comparable(values: dict) -> tuple:
    """Values as a hashable tuple in which NaN equals NaN (both "not published")."""
    return tuple((k, None if isinstance(v, float) and math.isnan(v) else v) for k, v in sorted(values.items()))


def _show(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "not published"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
