"""Past inspections of youth justice services and their overall ratings.

HMI Probation rated services on two scales: good / satisfactory /
unsatisfactory / poor (2012-2017) and Outstanding / Good / Requires
improvement / Inadequate (from mid-2018). ``rating_score`` puts both on one
1 (best) ... 4 (worst) scale. "Good" is on both, at a different place: it is
the best of the old scale (1) and the second of the new (2), so the
publication date decides. The new framework's first reports were published in
June 2018, hence :data:`NEW_SCALE_FROM`.

The HMI Probation scrape (``la_name``, ``publication_date``...) is read as it
is: its ``la_name`` is the service's name and a trailing ``- JI`` marks a
joint inspection. Only ``overall_rating`` is read, as published; ``score_%``
and the domain columns are not (West Sussex's score says Good, its published
rating Requires improvement, and empty domain cells are extraction misses).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import RowProblem, plausible_date, parse_date, without_notes
from pipeline.ingest.names import JOINT, NAME_HEADERS, ServiceMatcher
from pipeline.ingest.results import Collector, Ingested, resolve_duplicate_rows, resolve_duplicates, row_by_row
from pipeline.ingest.tables import Block, Col, Layout, Row, Sheet, read_source

SOURCE = "inspections"
COLUMNS = {"yjs_id": "object", "yjs_name": "object", "published": "datetime64[ns]",
           "inspection_type": "object", "overall_rating": "object", "rating_score": "int64"}
LAYOUT = Layout("inspections", (
    Col("yjs_name", (*NAME_HEADERS, "la_name")),
    Col("published", ("publication_date", "date_published")),
    Col("overall_rating", ("rating",)),
    Col("inspection_type", required=False),
))
NEW_SCALE_FROM = pd.Timestamp("2018-06-01")
# normalised rating -> (as published, score); None: depends on the scale
RATINGS = {
    "outstanding": ("Outstanding", 1),
    "good": ("Good", None),
    "requires improvement": ("Requires improvement", 3),
    "inadequate": ("Inadequate", 4),
    "satisfactory": ("Satisfactory", 2),
    "unsatisfactory": ("Unsatisfactory", 3),
    "poor": ("Poor", 4),
}
_UNSPACED = {rating.replace(" ", ""): rating for rating in RATINGS}


def read_inspections(data_dir: Path, services: pd.DataFrame) -> Ingested:
    """One row per service and publication date, with the rating on both scales' 1-4."""
    log = Collector(SOURCE)
    matcher = ServiceMatcher(services)

    def parse_row(row: Row, sheet: Sheet) -> dict:
        cells, labels = row.cells, sheet.labels
        published = _published(cells["published"], labels["published"])
        rating, score = rating_score(cells["overall_rating"], published, labels["overall_rating"])
        kind = cells.get("inspection_type") or ("joint" if JOINT.search(cells["yjs_name"]) else None)
        yjs_id = matcher.lookup(cells["yjs_name"])
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], "published": published,
                "inspection_type": kind, "overall_rating": rating, "rating_score": score}

    def parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """``parse_row`` a column at a time; the rows it refuses are left to it."""
        labels = sheet.labels
        published, settled = block.distinct("published").parse(lambda v: _published(v, labels["published"]),
                                                                "datetime64[ns]", pd.NaT)
        rating, rated = block.distinct("overall_rating").parse(lambda v: _rating(v, labels["overall_rating"]))
        names = block.distinct("yjs_name")
        yjs_id, matched = names.parse(matcher.lookup)
        settled &= rated & matched
        joint, _ = names.parse(lambda v: "joint" if JOINT.search(v) else None)
        kind = block.text("inspection_type")
        # 0 for "Good", whose score the publication date decides (see rating_score)
        score = np.array([r[1] if r and r[1] else 0 for r in rating], dtype=np.int64)
        values = pd.DataFrame({
            "yjs_id": yjs_id, "yjs_name": names.parse(lambda v: matcher.names[matcher.lookup(v)])[0],
            "published": published,
            "inspection_type": np.where(kind.astype(bool), kind, joint),
            "overall_rating": [r[0] if r else None for r in rating],
            "rating_score": np.where(score > 0, score, np.where(published >= NEW_SCALE_FROM, 2, 1)),
        })
        return values, settled

    key = ("yjs_id", "published")
    sheets = read_source(data_dir, SOURCE, [LAYOUT])
    if not row_by_row():
        frame = log.parse_blocks(sheets, parse_block, parse_row, list(COLUMNS))
        table = resolve_duplicate_rows(frame, key, list(COLUMNS), log)
        return log.result(table.sort_values(list(key)), COLUMNS)
    records = log.parse(sheets, parse_row)
    table = [r.values for r in resolve_duplicates(records, key, log)]
    return log.result(sorted(table, key=lambda v: (v["yjs_id"], v["published"])), COLUMNS)


def rating_score(value: str, published: pd.Timestamp, column: str = "overall_rating") -> tuple[str, int]:
    """The rating as published (sentence case) and its score, 1 best ... 4 worst."""
    rating, score = _rating(value, column)
    if score is None:  # "Good": best of the old scale, second of the new
        score = 2 if published >= NEW_SCALE_FROM else 1
    return rating, score


def _rating(value: str, column: str) -> tuple[str, int | None]:
    """The rating as published and its score, None where the date decides."""
    normal = " ".join(re.sub(r"[^a-z]+", " ", without_notes(value.strip()).lower()).split())
    normal = _UNSPACED.get(normal.replace(" ", ""), normal)  # "Requires i mprov ement", as a PDF's text splits it
    if normal not in RATINGS:
        shown = value if len(value) <= 40 else value[:40].rstrip() + "…"
        raise RowProblem(f"column {column}: {shown!r} is not a rating (expected one of "
                         "Outstanding, Good, Requires improvement, Inadequate, "
                         "Satisfactory, Unsatisfactory, Poor)")
    return RATINGS[normal]


def _published(value: str, column: str) -> pd.Timestamp:
    return plausible_date(parse_date(value, column), value, column, "a publication date")
