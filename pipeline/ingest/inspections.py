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
joint inspection. ``overall_rating`` is read, as published; the domain columns
are not (empty domain cells are extraction misses), nor is ``score_%`` where
the rating can be read (West Sussex's score says Good, its published rating
Requires improvement). Where it cannot (Portsmouth's cell holds a footnote
sentence), the inspection still happened: the rating is taken from its score
on the 2018 framework's bands (:func:`rating_by_score`) and ``rating_note``
says so, rather than losing the inspection, which would make a service
inspected last month look never inspected and eligible for a visit.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import (
    RowProblem, is_suppressed, month_first_dates, plausible_date, parse_date, without_notes,
)
from pipeline.ingest.names import JOINT, NAME_HEADERS, ServiceMatcher
from pipeline.ingest.results import Collector, Ingested, resolve_duplicate_rows, resolve_duplicates, row_by_row
from pipeline.ingest.tables import Block, Col, Layout, Row, Sheet, read_source

SOURCE = "inspections"
COLUMNS = {"yjs_id": "object", "yjs_name": "object", "published": "datetime64[ns]",
           "inspection_type": "object", "overall_rating": "object", "rating_score": "Int64",
           "rating_note": "object"}  # rating_score missing where its rows disagree (_disagreeing)
# said in the quarantine of an inspection listed twice with two ratings (see _disagreeing)
KEPT_UNRATED = "; the inspection is kept, its rating unknown (inspections.rating_note)"
LAYOUT = Layout("inspections", (
    Col("yjs_name", (*NAME_HEADERS, "la_name")),
    Col("published", ("publication_date", "date_published")),
    Col("overall_rating", ("rating",)),
    Col("inspection_type", required=False, descriptive=True),
    Col("score", ("score_percent", "percentage_score"), required=False, descriptive=True),  # the scrape's score_%
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
# The 2018 framework's overall rating by points out of 36 (DOMAIN.md): the
# highest points of each rating.
SCORE_BANDS = ((6, "inadequate"), (18, "requires improvement"), (30, "good"), (36, "outstanding"))


def read_inspections(data_dir: Path, services: pd.DataFrame) -> Ingested:
    """One row per service and publication date, with the rating on both scales' 1-4."""
    log = Collector(SOURCE)
    matcher = ServiceMatcher(services)
    # Dates are day first unless a file's own dates say otherwise: a first
    # read of each file (they are small) finds those written month first,
    # all the sheets of a workbook together (one tool wrote them).
    dates: dict[str, list[str]] = {}
    for sheet in read_source(data_dir, SOURCE, [LAYOUT]):
        dates.setdefault(sheet.source_file, []).extend(row.cells["published"] for row in sheet.read())
    month_first = {file: month_first_dates(values) for file, values in dates.items()}

    def parse_row(row: Row, sheet: Sheet) -> dict:
        cells, labels = row.cells, sheet.labels
        published = _published(cells["published"], labels["published"], month_first[sheet.source_file])
        try:
            rating, score = rating_score(cells["overall_rating"], published, labels["overall_rating"])
            note = None
        except RowProblem as unread:  # the inspection happened: its score may say how it was rated
            rating, score, note = rating_by_score(cells.get("score", ""), published, unread, labels,
                                                  cells["overall_rating"])
        kind = cells.get("inspection_type") or ("joint" if JOINT.search(cells["yjs_name"]) else None)
        yjs_id = matcher.lookup(cells["yjs_name"])
        return {"yjs_id": yjs_id, "yjs_name": matcher.names[yjs_id], "published": published,
                "inspection_type": kind, "overall_rating": rating, "rating_score": score, "rating_note": note}

    def parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
        """``parse_row`` a column at a time; the rows it refuses are left to it."""
        labels = sheet.labels
        order = month_first[sheet.source_file]
        published, settled = block.distinct("published").parse(
            lambda v: _published(v, labels["published"], order), "datetime64[ns]", pd.NaT)
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
            "rating_note": None,  # rows rated by their score are left to parse_row
        })
        return values, settled

    key = ("yjs_id", "published")
    sheets = read_source(data_dir, SOURCE, [LAYOUT])
    if not row_by_row():
        frame = log.parse_blocks(sheets, parse_block, parse_row, list(COLUMNS))
        keys = list(zip(frame["yjs_id"], frame["published"]))
        frame["inspection_type"] = _types_told(keys, frame["inspection_type"].tolist())
        frame["rating_note"] = _notes_told(keys, list(zip(frame["overall_rating"], frame["rating_score"])),
                                           frame["rating_note"].tolist())
        frame = frame[np.array(_published_ratings(keys, frame["rating_note"].tolist()), dtype=bool)]
        table = resolve_duplicate_rows(frame, key, list(COLUMNS), log, kept=KEPT_UNRATED)
        if len(table) < len(frame):  # repeats collapsed, or conflicting ones quarantined
            lost = frame[~frame.set_index(list(key)).index.isin(table.set_index(list(key)).index)]
            if len(lost):
                table = pd.concat([table[list(COLUMNS)].astype({"rating_score": "Int64"}), pd.DataFrame(
                    _disagreeing(lost[list(COLUMNS)].to_dict("records"), key), columns=list(COLUMNS)).astype(COLUMNS)])
        return log.result(table.sort_values(list(key)), COLUMNS)
    records = log.parse(sheets, parse_row)
    keys = [(r.values["yjs_id"], r.values["published"]) for r in records]
    types = _types_told(keys, [r.values["inspection_type"] for r in records])
    notes = _notes_told(keys, [(r.values["overall_rating"], r.values["rating_score"]) for r in records],
                        [r.values["rating_note"] for r in records])
    for record, kind, note in zip(records, types, notes):
        record.values["inspection_type"], record.values["rating_note"] = kind, note
    records = [r for r, kept in zip(records, _published_ratings(keys, [r.values["rating_note"] for r in records]))
               if kept]
    table = [r.values for r in resolve_duplicates(records, key, log, kept=KEPT_UNRATED)]
    resolved = {(v["yjs_id"], v["published"]) for v in table}
    table += _disagreeing([r.values for r in records if (r.values["yjs_id"], r.values["published"]) not in resolved],
                          key)
    return log.result(sorted(table, key=lambda v: (v["yjs_id"], v["published"])), COLUMNS)


def _disagreeing(rows: list[dict], key: tuple[str, str]) -> list[dict]:
    """One inspection for each service and date whose rows disagree (a
    rating corrected in a second file, the list and the scrape apart),
    quarantined as conflicting figures are: the rows agree that it
    happened, and losing it would make a service inspected last month look
    never inspected, eligible for a visit. Its rating is unknown
    (``overall_rating`` and ``rating_score`` missing: a neutral rating term,
    no outcome for the model to learn from), its ``rating_note`` gives the
    ratings listed."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in key), []).append(row)
    out = []
    for group in groups.values():
        if len({(row["overall_rating"], row["rating_score"]) for row in group}) == 1:  # apart in a note only
            out.append(group[0])
            continue
        ratings = list(dict.fromkeys(str(row["overall_rating"]) for row in group))
        out.append({**group[0], "overall_rating": None, "rating_score": pd.NA,
                    "rating_note": f"its rows disagree on the rating ({' / '.join(ratings)}; see the quarantine): "
                                   "the inspection counts, its rating is unknown"})
    return out


def _published_ratings(keys: list[tuple], notes: list[str | None]) -> list[bool]:
    """Which rows to keep: an inspection rated from its score (a note) gives
    way to the same inspection (service and date) listed with its published
    rating elsewhere, which is the better record, rather than conflicting
    with it and losing both."""
    published = {k for k, note in zip(keys, notes) if note is None}
    return [note is None or k not in published for k, note in zip(keys, notes)]


def _notes_told(keys: list[tuple], ratings: list[tuple], notes: list[str | None]) -> list[str | None]:
    """Each inspection's ``rating_note``, the same in every row of it rated
    alike from its score: rows of one inspection (service and date) whose
    ratings were read from their scores, which agree on the rating and
    differ only in how the score was written (61.11% and 61.1%: both 22 of
    36 points, Good) are one inspection, not a conflict that would
    quarantine both as "rating unknown" while the rating is known. They
    take the first such row's note; rows with no note (a published rating)
    keep none (``_published_ratings`` prefers them)."""
    first: dict[tuple, str] = {}
    for k, rating, note in zip(keys, ratings, notes):
        if isinstance(note, str):
            first.setdefault((k, rating), note)
    return [first[(k, rating)] if isinstance(note, str) else note for k, rating, note in zip(keys, ratings, notes)]


def _types_told(keys: list[tuple], types: list[str | None]) -> list[str | None]:
    """Each inspection's type, the same in every row of it (service and
    date): one listed with and without the optional ``inspection_type``, or
    with two spellings or names of it (``Standard`` and ``standard``, the
    scrape's ``- JI`` read as joint beside a list's ``FJI``), is one
    inspection, not a conflict that loses both. Its types are given as
    written, first spelling first, joined by "; " where they differ."""
    told: dict[tuple, dict[str, str]] = {}  # key -> lower-cased type -> first spelling
    for k, kind in zip(keys, types):
        if kind is not None:
            told.setdefault(k, {}).setdefault(kind.strip().lower(), kind.strip())
    joined = {k: "; ".join(spellings.values()) for k, spellings in told.items()}
    return [joined.get(k, kind) for k, kind in zip(keys, types)]


def rating_score(value: str, published: pd.Timestamp, column: str = "overall_rating") -> tuple[str, int]:
    """The rating as published (sentence case) and its score, 1 best ... 4 worst."""
    rating, score = _rating(value, column)
    if score is None:  # "Good": best of the old scale, second of the new
        score = 2 if published >= NEW_SCALE_FROM else 1
    return rating, score


def rating_by_score(value: str, published: pd.Timestamp, unread: RowProblem,
                    labels: dict[str, str], rating_cell: str = "") -> tuple[str, int, str]:
    """The rating of an inspection whose rating cell could not be read, from
    its score in % on the 2018 framework (points out of 36: 0-6 Inadequate,
    7-18 Requires improvement, 19-30 Good, 31-36 Outstanding), with a note
    saying so. ``unread`` is raised where there is no such score: none in
    the file, not a percentage of whole points out of 36 (a fraction such as
    0.6111 from a cell formatted as %, points typed as 22, the real scrape's
    Bridgend at 4.56%), an inspection of the older scale, or a rating cell
    that says there is no rating (empty, a suppression marker, "Not rated",
    "Withdrawn").
    """
    said = rating_cell.strip().lower()
    if is_suppressed(said) or any(word in said for word in _NO_RATING):
        raise unread
    text = value.strip().removesuffix("%").strip()
    try:
        percent = float(text)
    except ValueError:
        raise unread from None
    exact = percent * 36 / 100
    if published < NEW_SCALE_FROM or not 0 < percent <= 100 or abs(exact - round(exact)) > 0.05:
        raise unread
    points = round(exact)
    rating, score = RATINGS[next(name for top, name in SCORE_BANDS if points <= top)]
    cell = labels["overall_rating"]
    return rating, score or 2, (f"{cell} not read ({str(unread).split(': ', 1)[-1].split(' (expected')[0]}); "
                                f"rated from {labels['score']} {value.strip()}: {points} of 36 points")


_NO_RATING = ("not rated", "unrated", "no rating", "withdrawn", "not inspected", "cancelled", "postponed")


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


def _published(value: str, column: str, month_first: bool = False) -> pd.Timestamp:
    return plausible_date(parse_date(value, column, month_first), value, column, "a publication date")
