"""Finding a table's header row: the layouts a source accepts and the header
spellings of each column.

Published tables put title and note rows above the header, and some split
the header over two rows (a merged group label such as "Period" above
"end" and "months"). :func:`find_header` looks through the first rows for
one that holds a layout's required columns, or two adjacent rows that do
when read together, the upper row's labels carried right over the blanks a
merged cell leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.ingest.cells import without_notes
from pipeline.ingest.errors import IngestError

HEADER_SEARCH_ROWS = 30  # title and note rows above a header, as in ONS/MoJ tables (some have 20)
MAX_ROWS = 250_000  # a per-service table: 155 services x 1,600 periods


@dataclass(frozen=True)
class Col:
    """A column a layout reads: its field name and the header spellings accepted.

    ``suffix`` also accepts any header whose key ends with it, or with it
    and then a year (ONS names its code column ``ltla20_code``,
    ``utla20_code``, and in its time series ``ladcode21`` ...).
    """

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    suffix: str | None = None
    # a description the row does without: a formula here whose result the file does not hold is read
    # as not given, not a reason to set the row aside (see tables.Sheet._unsaved)
    descriptive: bool = False


@dataclass(frozen=True)
class Layout:
    """A table shape a source accepts. ``max_rows`` bounds the data rows of one
    file: a file far larger than the source can be is the wrong file, and
    refusing it keeps the memory a refresh needs bounded.

    ``series``, where given, is a pattern of header keys (see :func:`key`)
    of which the table has one column or more, each a field named by its
    key: a column per year (``population_2011``, ``population_2012`` ...).
    ``series_label`` names them in messages.
    """

    name: str
    columns: tuple[Col, ...]
    max_rows: int = MAX_ROWS
    series: str | None = None
    series_label: str = ""


@dataclass(frozen=True)
class Header:
    index: int  # 0-based row of the (lower) header row
    layout: Layout
    found: dict[str, int]  # field -> column position
    cells: list[str]  # the header's labels, one per column
    # field -> the positions of the columns that all read as it (the table is refused: see tables.read_source)
    ambiguous: dict[str, list[int]] = field(default_factory=dict)


_NOT_KEY = re.compile(r"[^0-9a-z]")
_YEAR_AFTER = re.compile(r"\d{2,4}$")  # "ladcode23": a code column named with its geography's year


def key(label: str) -> str:
    """Header matching ignores case, spaces, underscores and punctuation, and
    footnote references ("fte_count [note 2]"); a "%" is read as "percent",
    so that "Reoffenders (%)" is not the count "Reoffenders"."""
    return _NOT_KEY.sub("", without_notes(str(label).strip()).lower().replace("%", "percent"))


def label(cell: str) -> str:
    """A header cell on one line ("Number\\ncautioned" -> "Number cautioned")."""
    return " ".join(str(cell).split())


def find_header(rows: list[list[str]], layouts: list[Layout]) -> tuple[Header | None, tuple | None]:
    """The first header that fits a layout, else the nearest miss (for the message)."""
    nearest = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        # two rows read together, then with a count under a group label read as the group ("Reoffenders"
        # over "Number" and "%"), where that alone fits
        candidates = [row] + ([_two_rows(rows[index - 1], row), _two_rows(rows[index - 1], row, True)]
                              if index else [])
        for cells in candidates:
            keys = [key(cell) for cell in cells]  # once for every layout tried
            for layout in layouts:
                found, missing = _match(keys, layout)
                if missing is None:
                    continue
                if not missing:
                    return Header(index, layout, found, cells, _ambiguous(keys, found)), None
                if cells is row and any(c.strip() for c in row) and (
                        nearest is None or len(missing) < len(nearest[1])):
                    nearest = (row, missing)
    return None, nearest


def no_header_error(name: str, nearest: tuple | None) -> IngestError:
    if nearest is None:
        return IngestError(f"{name}: not a table (nothing in the first {HEADER_SEARCH_ROWS} rows)")
    header, missing = nearest
    looked = "; ".join(", ".join((c.name, *c.aliases, *([f"*{c.suffix}"] if c.suffix else [])))
                       for c in missing)
    return IngestError(
        f"{name}: no column for {', '.join(c.name for c in missing)} (looked for: {looked}); "
        f"columns found: {', '.join(label(cell) for cell in header if cell.strip())}"
    )


def _ambiguous(keys: list[str], found: dict[str, int]) -> dict[str, list[int]]:
    """The fields that more than one column of the header reads as (two
    "Reoffenders" columns, of two cohorts or a count and its share): which
    one is meant cannot be told, and the first had been taken."""
    return {f: same for f, at in found.items() if len(same := [i for i, k in enumerate(keys) if k == keys[at]]) > 1}


def _two_rows(upper: list[str], lower: list[str], counts: bool = False) -> list[str]:
    """Labels of a header split over two rows: "Period" (merged over two
    columns) above "end" and "months" reads "Period end", "Period months".
    A label merged down over both rows (the workbook readers fill a merged
    cell's value into every cell it covers) is read once: "yjs_name" above
    "yjs_name" reads "yjs_name". With ``counts``, so is a group label above
    "Number": the group's count ("Reoffenders" above "Number" and "%" reads
    "Reoffenders", "Reoffenders %"; without, "Reoffenders Number")."""
    carried, combined = "", []
    for i in range(max(len(upper), len(lower))):
        above = upper[i].strip() if i < len(upper) else ""
        below = lower[i].strip() if i < len(lower) else ""
        carried = above or (carried if below else "")
        # "Number" under a group label is its count ("Reoffenders" over "Number" and "%")
        combined.append(carried if below == carried or (counts and carried and key(below) in _A_COUNT)
                        else f"{carried} {below}".strip())
    return combined


_A_COUNT = frozenset({"number", "numbers", "no", "count", "n"})  # as key() keys them


def _match(keys: list[str], layout: Layout) -> tuple[dict[str, int], list[Col] | None]:
    """Column positions of a layout's fields in a header row (its cells as
    :func:`key` keys them), and those missing (None: a layout with a series,
    and no column of it)."""
    found, missing = {}, []
    for col in layout.columns:
        wanted = [key(n) for n in (col.name, *col.aliases)]
        position = next((keys.index(w) for w in wanted if w in keys), None)
        if position is None and col.suffix:
            position = next((i for i, k in enumerate(keys) if _YEAR_AFTER.sub("", k).endswith(key(col.suffix))),
                            None)
        if position is not None:
            found[col.name] = position
        elif col.required:
            missing.append(col)
    if layout.series:
        series = {k: i for i, k in enumerate(keys) if k and re.fullmatch(layout.series, k)}
        found.update(series)
        if not series:  # without one, the table is not of this layout: not a near miss either
            return found, None
    return found, missing
