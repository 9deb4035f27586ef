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

import pandas as pd

from pipeline.ingest.cells import RowProblem, not_future, parse_date
from pipeline.ingest.names import ServiceMatcher
from pipeline.ingest.results import Collector, Ingested, resolve_duplicates
from pipeline.ingest.tables import Col, Layout, Row, Sheet, read_source

SOURCE = "inspections"
COLUMNS = {"yjs_id": "object", "yjs_name": "object", "published": "datetime64[ns]",
           "inspection_type": "object", "overall_rating": "object", "rating_score": "int64"}
LAYOUT = Layout("inspections", (
    Col("yjs_name", ("yjs", "la_name")),
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
_JOINT = re.compile(r"-\s*ji\s*$", re.IGNORECASE)


def read_inspections(data_dir: Path, services: pd.DataFrame) -> Ingested:
    """One row per service and publication date, with the rating on both scales' 1-4."""
    log = Collector(SOURCE)
    matcher = ServiceMatcher(services)

    def parse_row(row: Row, sheet: Sheet) -> dict:
        cells, labels = row.cells, sheet.labels
        published = not_future(parse_date(cells["published"], labels["published"]),
                               cells["published"], labels["published"], "a publication date")
        rating, score = rating_score(cells["overall_rating"], published, labels["overall_rating"])
        kind = cells.get("inspection_type") or ("joint" if _JOINT.search(cells["yjs_name"]) else None)
        yjs_id = matcher.match(cells["yjs_name"])
        if yjs_id is None:
            raise RowProblem(f"service name {cells['yjs_name']!r} matches no service in the services lookup")
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], "published": published,
                "inspection_type": kind, "overall_rating": rating, "rating_score": score}

    records = log.parse(read_source(data_dir, SOURCE, [LAYOUT]), parse_row)
    table = [r.values for r in resolve_duplicates(records, ("yjs_id", "published"), log)]
    return log.result(sorted(table, key=lambda v: (v["yjs_id"], v["published"])), COLUMNS)


def rating_score(value: str, published: pd.Timestamp, column: str = "overall_rating") -> tuple[str, int]:
    """The rating as published (sentence case) and its score, 1 best ... 4 worst."""
    normal = " ".join(re.sub(r"[^a-z]+", " ", value.lower()).split())
    if normal not in RATINGS:
        shown = value if len(value) <= 40 else value[:40].rstrip() + "…"
        raise RowProblem(f"column {column}: {shown!r} is not a rating (expected one of "
                         "Outstanding, Good, Requires improvement, Inadequate, "
                         "Satisfactory, Unsatisfactory, Poor)")
    rating, score = RATINGS[normal]
    if score is None:  # "Good": best of the old scale, second of the new
        score = 2 if published >= NEW_SCALE_FROM else 1
    return rating, score
