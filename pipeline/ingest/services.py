"""The services lookup: which youth justice service each local authority is in.

Every other source is joined to services through this table (populations by
``la_code``, indicators and inspections by name), so it is strict: codes must
be GSS codes and an LA may belong to only one service. A lookup that assigns
one LA to two services stops the refresh, naming both rows: keeping the
first would decide the LA's service (its population, its figures) by the
order of the rows (the same assignment twice is harmless).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import RowProblem, without_notes
from pipeline.ingest.errors import IngestError
from pipeline.ingest.geography import SPLIT_INTO, superseded
from pipeline.ingest.names import NAME_HEADERS, normalise_name, service_id
from pipeline.ingest.results import ROW_FILE, ROW_NUMBER, Collector, Ingested, row_by_row
from pipeline.ingest.tables import Block, Col, Layout, Row, Sheet, read_source

SOURCE = "services"
COLUMNS = {
    "la_code": "object", "la_name": "object", "yjs_name": "object",
    "yjs_id": "object", "region": "object", "country": "object",
}
LAYOUT = Layout("lookup", (
    Col("la_code"),
    Col("la_name"),
    Col("yjs_name", ("parent_yot_name", *NAME_HEADERS)),
    Col("region", required=False, descriptive=True),
    Col("country", required=False, descriptive=True),
))
GSS_CODE = re.compile(r"^[EWSN]\d{8}$")
COUNTRY_BY_LETTER = {"E": "England", "W": "Wales", "S": "Scotland", "N": "Northern Ireland"}
# ONS lists Wales among the regions of England and Wales, so a Welsh LA
# whose lookup gives no region (the real one has no region column) is in
# region Wales; an English LA's region cannot be told from its code alone.
REGION_OF_COUNTRY = {"Wales": "Wales"}


def read_services(data_dir: Path) -> Ingested:
    """One row per local authority with its service's name, id, region and country."""
    log = Collector(SOURCE)
    sheets = read_source(data_dir, SOURCE, [LAYOUT])
    if not row_by_row():
        return _assign(log, log.parse_blocks(sheets, _parse_block, _parse_row, list(COLUMNS)))
    records = log.parse(sheets, _parse_row)
    rows, owner, first_named, clashes = [], {}, {}, []
    for record in records:
        values, row = record.values, record.rows[0]
        # Spellings that name one service ("St Helens", "St. Helens YOT") are
        # one service: its id and name as first spelt.
        values["yjs_id"], values["yjs_name"] = first_named.setdefault(
            _same_service(values["yjs_name"], values["yjs_id"]), (values["yjs_id"], values["yjs_name"]))
        code = values["la_code"]
        if code in owner:
            earlier_row, earlier = owner[code]
            if earlier["yjs_id"] != values["yjs_id"]:
                clashes.append((code, values["la_name"], row.file, row.number, values["yjs_name"],
                                earlier_row.file, earlier_row.number, earlier["yjs_name"]))
            continue  # a repeat of the same assignment adds nothing
        owner[code] = (row, values)
        rows.append(values)
    if clashes:
        raise _two_services(clashes)
    aside = _superseded([v["la_code"] for v in rows], [v["la_name"] for v in rows], [v["yjs_name"] for v in rows])
    for values, problem in zip(rows, aside):
        if problem:
            log.reject(owner[values["la_code"]][0], problem)
    return log.result([v for v, problem in zip(rows, aside) if not problem], COLUMNS)


def _superseded(codes: list[str], names: list[str], services: list[str]) -> list[str | None]:
    """Why each LA of a lookup is set aside, or None: an LA whose area
    became part of another LA the lookup also lists (Corby beside North
    Northamptonshire, :func:`geography.superseded`) would have its
    population counted twice in its service. Its figures and populations
    by the old code are carried to the new one, as in a lookup of the
    current geography."""
    later = superseded(codes)
    if not later:
        return [None] * len(codes)
    where = {code: i for i, code in enumerate(codes)}
    out = []
    for code, name, service in zip(codes, names, services):
        new = later.get(code)
        if new is None:
            out.append(None)
            continue
        i = where[new]
        if code in SPLIT_INTO:
            out.append(f"la_code {code} ({name}, service '{service}') was split between "
                       f"{' and '.join(SPLIT_INTO[code])}, of which the lookup also lists {new} ({names[i]}, "
                       f"service '{services[i]}'): {code}'s population would be counted twice, so this row "
                       "is set aside")
            continue
        out.append(f"la_code {code} ({name}, service '{service}') became part of {new} ({names[i]}), which the "
                   f"lookup also lists (service '{services[i]}'): {code}'s population would be counted twice, "
                   f"so this row is set aside and figures by {code} go to {new}")
    return out


def _two_services(clashes: list[tuple]) -> IngestError:
    """The error for LAs assigned to two services: the first, by both its rows
    (code, LA name, the later row's file, number and service, the earlier
    row's), and how many more."""
    code, la_name, file, number, service, earlier_file, earlier_number, earlier = clashes[0]
    more = len({c[0] for c in clashes}) - 1
    others = f" ({more} more LA{' is' if more == 1 else 's are'} assigned to two services)" if more else ""
    return IngestError(
        f"{file}: row {number} assigns la_code {code} ({la_name}) to service '{service}', but {earlier_file} "
        f"row {earlier_number} assigns it to '{earlier}': an LA belongs to one service, so the lookup must say "
        f"which{others}")


def _assign(log: Collector, frame: pd.DataFrame) -> Ingested:
    """The loop of :func:`read_services` over a frame of records: each
    service named as first spelt, each LA kept in its first row (an LA
    given to two services stops the refresh)."""
    same = [_same_service(name, slug) for name, slug in zip(frame["yjs_name"], frame["yjs_id"])]
    frame[["yjs_id", "yjs_name"]] = frame.groupby(same, sort=False)[["yjs_id", "yjs_name"]].transform("first")
    first = ~frame.duplicated("la_code").to_numpy()
    owner = frame[first].set_index("la_code")
    later = frame[~first]
    earlier = owner.loc[later["la_code"]]
    clash = later[later["yjs_id"].to_numpy() != earlier["yjs_id"].to_numpy()]
    if len(clash):
        earlier = owner.loc[clash["la_code"]]
        raise _two_services(list(zip(clash["la_code"], clash["la_name"], clash[ROW_FILE], clash[ROW_NUMBER],
                                     clash["yjs_name"], earlier[ROW_FILE], earlier[ROW_NUMBER],
                                     earlier["yjs_name"])))
    kept = frame[first]
    aside = _superseded(kept["la_code"].tolist(), kept["la_name"].tolist(), kept["yjs_name"].tolist())
    if any(aside):
        bad = np.array([bool(p) for p in aside])
        log.reject_rows(kept[bad], [p for p in aside if p])
        kept = kept[~bad]
    return log.result(kept, COLUMNS)


def _parse_block(block: Block, sheet: Sheet) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`_parse_row` a column at a time; the rows it refuses are left to it."""
    labels = sheet.labels
    code, settled = block.distinct("la_code").parse(lambda v: _code(v, labels["la_code"]))
    yjs_id, named = block.distinct("yjs_name").parse(lambda v: _slug(v, labels["yjs_name"]))
    (la_name, _), (yjs_name, _) = (block.distinct(n).parse(lambda v: _spaced(without_notes(v)))
                                   for n in ("la_name", "yjs_name"))
    region = block.text("region")
    settled &= named & la_name.astype(bool)
    country, _ = block.distinct("country").parse(str.title)
    by_letter, _ = block.distinct("la_code").parse(lambda v: COUNTRY_BY_LETTER.get(v.upper()[:1]))
    country = np.where(country.astype(bool), country, by_letter)
    by_country = np.array([REGION_OF_COUNTRY.get(c) for c in country], dtype=object)
    values = pd.DataFrame({
        "la_code": code, "la_name": la_name, "yjs_name": yjs_name, "yjs_id": yjs_id,
        "region": np.where(region.astype(bool), region, by_country),
        "country": country,
    })
    return values, settled


def _same_service(name: str, slug: str) -> str:
    """What two rows share when they name one service: the name as the other
    sources' names are matched (:func:`normalise_name`: "Kingston & Richmond
    YOT" is "Kingston and Richmond"), else its slug. Two ids for names that
    match alike would split a service, each part with some of its LAs, while
    every figure named either way went to one of them."""
    return normalise_name(name) or slug


def _spaced(name: str) -> str:
    """A name as published, with its spaces made single and plain ("WEST  MERCIA ",
    "Gwynedd\u00a0and Ynys Môn" as a copy from a web page gives them)."""
    return " ".join(name.split())


def _code(value: str, column: str) -> str:
    code = value.upper()
    if not GSS_CODE.match(code):
        raise RowProblem(f"column {column}: {value!r} is not a GSS code (like E06000001)")
    return code


def _slug(value: str, column: str) -> str:
    slug = service_id(value)
    if not slug:
        raise RowProblem(f"column {column}: {value!r} has no letters or digits")
    return slug


def _parse_row(row: Row, sheet: Sheet) -> dict:
    cells, labels = row.cells, sheet.labels
    code = _code(cells["la_code"], labels["la_code"])
    names = {name: _spaced(without_notes(cells[name])) for name in ("la_name", "yjs_name")}  # "Bolton [note 3]"
    for name, value in names.items():
        if not value:
            raise RowProblem(f"column {labels[name]}: empty; a name is required")
    yjs_id = _slug(cells["yjs_name"], labels["yjs_name"])
    country = cells.get("country", "").strip().title() or COUNTRY_BY_LETTER[code[0]]
    return {
        "la_code": code,
        "la_name": names["la_name"],
        "yjs_name": names["yjs_name"],
        "yjs_id": yjs_id,
        "region": cells.get("region") or REGION_OF_COUNTRY.get(country),
        "country": country,
    }
