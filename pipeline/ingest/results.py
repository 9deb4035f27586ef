"""What a reader hands back: the tidy table, its quarantine and its files.

:class:`Collector` is shared by the six readers so that every rejected row is
recorded the same way (source, file, row number, problem, the original cells)
and every file read is listed with its checksum; :func:`resolve_duplicates`
is the one rule for a key that appears twice, within or across files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from pipeline.ingest.cells import RowProblem
from pipeline.ingest.tables import Row, Sheet

QUARANTINE_COLUMNS = ["source", "file", "row_number", "problem", "raw"]
FILES_COLUMNS = ["source", "file", "sha256", "rows", "ingested_at"]
NOTE_PROBLEM = "footnote or note row, not data"


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
        self._now = pd.Timestamp.now(tz="UTC")

    def reject(self, row: Row, problem: str) -> None:
        self._rejected.append(
            {"source": self.source, "file": row.file, "row_number": row.number,
             "problem": problem, "raw": row.raw}
        )

    def parse(self, sheets: list[Sheet], parse_row: Callable[[Row, Sheet], dict | None]) -> list[Record]:
        """Parse every data row; a :class:`RowProblem` sends the row to quarantine.

        ``parse_row`` returns None for rows that are not wanted but not wrong
        (e.g. non-custody rows of the YJB outcome table).
        """
        records = []
        for sheet in sheets:
            rows = 0
            for row in sheet.read():
                rows += 1
                if row.note:
                    self.reject(row, NOTE_PROBLEM)
                    continue
                try:
                    values = parse_row(row, sheet)
                except RowProblem as problem:
                    self.reject(row, str(problem))
                    continue
                if values is not None:
                    records.append(Record((row,), values))
            self._files.append(
                {"source": self.source, "file": sheet.file, "sha256": sheet.sha256,
                 "rows": rows, "ingested_at": self._now}
            )
        return records

    def result(self, rows: Iterable[dict], columns: dict[str, str]) -> Ingested:
        """The tidy table with ``columns`` (name -> dtype), even when empty."""
        table = pd.DataFrame(list(rows), columns=list(columns)).astype(columns)
        quarantine = (
            pd.DataFrame(self._rejected, columns=QUARANTINE_COLUMNS)
            .astype({"row_number": "int64"})
            .sort_values(["file", "row_number"], kind="stable", ignore_index=True)
        )
        files = pd.DataFrame(self._files, columns=FILES_COLUMNS).astype({"rows": "int64"})
        files["ingested_at"] = pd.to_datetime(files["ingested_at"], utc=True)
        return Ingested(table.reset_index(drop=True), quarantine, files)


def resolve_duplicates(records: list[Record], key: tuple[str, ...], log: Collector) -> list[Record]:
    """One record per key: identical repeats collapse, conflicting ones are all quarantined.

    A figure given twice with different values cannot be trusted either way,
    so every row of that key goes to quarantine, naming the other row. Keys
    starting with ``_`` are bookkeeping and are left out of the message.
    """
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[tuple(record.values[k] for k in key)].append(record)
    kept = []
    for group_key, group in groups.items():
        if len(group) == 1 or len({_comparable(r.values) for r in group}) == 1:
            kept.append(group[0])
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
                log.reject(row, f"{label}: conflicts with {where} ({diffs})")
    return kept


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
