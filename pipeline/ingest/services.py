"""The services lookup: which youth justice service each local authority is in.

Every other source is joined to services through this table (populations by
``la_code``, indicators and inspections by name), so it is strict: codes must
be GSS codes and an LA may belong to only one service.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.cells import RowProblem, without_notes
from pipeline.ingest.names import NAME_HEADERS, normalise_name, slugify
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
    Col("region", required=False),
    Col("country", required=False),
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
    rows, owner, first_named = [], {}, {}
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
                log.reject(row, f"column la_code: {code} is already assigned to service "
                                f"'{earlier['yjs_name']}' ({earlier_row.file} row {earlier_row.number}); "
                                "an LA belongs to one service")
            continue  # a repeat of the same assignment adds nothing
        owner[code] = (row, values)
        rows.append(values)
    return log.result(rows, COLUMNS)


def _assign(log: Collector, frame: pd.DataFrame) -> Ingested:
    """The loop of :func:`read_services` over a frame of records: each
    service named as first spelt, each LA kept in its first row."""
    same = [_same_service(name, slug) for name, slug in zip(frame["yjs_name"], frame["yjs_id"])]
    frame[["yjs_id", "yjs_name"]] = frame.groupby(same, sort=False)[["yjs_id", "yjs_name"]].transform("first")
    first = ~frame.duplicated("la_code").to_numpy()
    owner = frame[first].set_index("la_code")
    later = frame[~first]
    earlier = owner.loc[later["la_code"]]
    clash = later[later["yjs_id"].to_numpy() != earlier["yjs_id"].to_numpy()]
    earlier = owner.loc[clash["la_code"]]
    log.reject_rows(clash, [
        f"column la_code: {code} is already assigned to service '{name}' ({file} row {number}); "
        "an LA belongs to one service"
        for code, name, file, number in zip(clash["la_code"], earlier["yjs_name"], earlier[ROW_FILE],
                                            earlier[ROW_NUMBER])])
    return log.result(frame[first], COLUMNS)


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
    slug = slugify(value)
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
