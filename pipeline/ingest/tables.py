"""The one table reader behind every source: files in, rows of text out.

Published tables arrive as CSV (any of ``,`` ``;`` tab, UTF-8 with or without
a BOM, or Windows cp1252), xlsx or ods, often with title rows above the header
and notes below the data. :func:`read_source` finds, in each file of a source
folder, the header row holding a layout's columns and returns every row below
it as text keyed by field name, with its spreadsheet row number, so the
readers can parse cells themselves (see :mod:`pipeline.ingest.cells`) and say
exactly which row and column went wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.errors import IngestError
from pipeline.ingest.grids import grids

EXTENSIONS = (".csv", ".xlsx", ".ods")
HEADER_SEARCH_ROWS = 15  # title and note rows above a header, as in ONS/MoJ tables


@dataclass(frozen=True)
class Col:
    """A column a layout reads: its field name and the header spellings accepted.

    ``suffix`` also accepts any header whose key ends with it (ONS names its
    code column ``ltla20_code``, ``utla20_code`` ...).
    """

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    suffix: str | None = None


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[Col, ...]


@dataclass
class Row:
    file: str  # path relative to the data dir, forward slashes
    number: int  # spreadsheet row number (the header's own line counts)
    cells: dict[str, str]  # field -> stripped text ("" where the column is absent)
    raw: str  # the original cells as JSON object text, for the quarantine


@dataclass
class Sheet:
    file: str
    sha256: str
    layout: Layout
    labels: dict[str, str]  # field -> header label as written in the file
    rows: list[Row] = field(default_factory=list)
    notes: list[Row] = field(default_factory=list)  # footnote rows under the table


def key(label: str) -> str:
    """Header matching ignores case, spaces, underscores and punctuation."""
    return re.sub(r"[^0-9a-z]", "", str(label).lower())


def read_source(data_dir: Path, source: str, layouts: list[Layout]) -> list[Sheet]:
    """Read every data file in ``data_dir/source`` (sorted by name)."""
    folder = Path(data_dir) / source
    if not folder.is_dir():
        raise IngestError(f"{source}/: folder not found under {data_dir}")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not paths:
        raise IngestError(f"{source}/: no .csv, .xlsx or .ods file in {folder}")
    return [read_sheet(path, f"{source}/{path.name}", layouts) for path in paths]


def read_sheet(path: Path, name: str, layouts: list[Layout]) -> Sheet:
    """One file's table under the first header row that fits a layout."""
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{name}: file is empty")
    nearest: tuple[list[str], list[Col]] | None = None  # for the message when nothing fits
    for grid in grids(data, path.suffix.lower(), name):
        for index, header in enumerate(grid[:HEADER_SEARCH_ROWS]):
            for layout in layouts:
                found, missing = _match(header, layout)
                if not missing:
                    return _sheet(grid, index, layout, found, name, hashlib.sha256(data).hexdigest())
                closer = nearest is None or len(missing) < len(nearest[1])
                if closer and any(cell.strip() for cell in header):
                    nearest = (header, missing)
    if nearest is None:
        raise IngestError(f"{name}: not a table (nothing in the first {HEADER_SEARCH_ROWS} rows)")
    header, missing = nearest
    looked = "; ".join(", ".join((c.name, *c.aliases, *([f"*{c.suffix}"] if c.suffix else [])))
                       for c in missing)
    raise IngestError(
        f"{name}: no column for {', '.join(c.name for c in missing)} (looked for: {looked}); "
        f"columns found: {', '.join(_label(cell) for cell in header if cell.strip())}"
    )


def _match(header: list[str], layout: Layout) -> tuple[dict[str, int], list[Col]]:
    """Column positions of a layout's fields in a header row, and those missing."""
    keys = [key(cell) for cell in header]
    found, missing = {}, []
    for col in layout.columns:
        wanted = [key(n) for n in (col.name, *col.aliases)]
        position = next((keys.index(w) for w in wanted if w in keys), None)
        if position is None and col.suffix:
            position = next((i for i, k in enumerate(keys) if k.endswith(key(col.suffix))), None)
        if position is not None:
            found[col.name] = position
        elif col.required:
            missing.append(col)
    return found, missing


def _sheet(grid, index, layout, found, name, sha) -> Sheet:
    header = grid[index]
    labels = _unique_labels(header)
    sheet = Sheet(name, sha, layout, {f: _label(header[i]) for f, i in found.items()})
    for offset, cells in enumerate(grid[index + 1 :], start=index + 2):
        filled = [i for i, cell in enumerate(cells) if cell.strip()]
        if not filled:
            continue  # blank spacer rows carry nothing
        extra = [f"column_{i + 1}" for i in range(len(labels), len(cells))]  # cells past the header
        raw = json.dumps(dict(zip(labels + extra, cells)), ensure_ascii=False)
        values = {f: (cells[i].strip() if i < len(cells) else "") for f, i in found.items()}
        row = Row(name, offset, values, raw)
        # Notes under a table ("Source: ...", "1 The resettlement ...") fill only
        # the first cell; they are kept aside so the quarantine can show them.
        (sheet.notes if filled == [0] and len(header) > 1 else sheet.rows).append(row)
    return sheet


def _label(cell: str) -> str:
    """A header cell on one line ("Number\ncautioned" -> "Number cautioned")."""
    return " ".join(cell.split())


def _unique_labels(header: list[str]) -> list[str]:
    labels, seen = [], {}
    for i, cell in enumerate(header):
        label = _label(cell) or f"column_{i + 1}"
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}_{seen[label]}")
    return labels
