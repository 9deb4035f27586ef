"""The services lookup: which youth justice service each local authority is in.

Every other source is joined to services through this table (populations by
``la_code``, indicators and inspections by name), so it is strict: codes must
be GSS codes and an LA may belong to only one service.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.ingest.cells import RowProblem
from pipeline.ingest.names import slugify
from pipeline.ingest.results import Collector, Ingested
from pipeline.ingest.tables import Col, Layout, Row, Sheet, read_source

SOURCE = "services"
COLUMNS = {
    "la_code": "object", "la_name": "object", "yjs_name": "object",
    "yjs_id": "object", "region": "object", "country": "object",
}
LAYOUT = Layout("lookup", (
    Col("la_code"),
    Col("la_name"),
    Col("yjs_name", ("parent_yot_name", "yjs", "yot_name")),
    Col("region", required=False),
    Col("country", required=False),
))
GSS_CODE = re.compile(r"^[EWSN]\d{8}$")
COUNTRY_BY_LETTER = {"E": "England", "W": "Wales", "S": "Scotland", "N": "Northern Ireland"}


def read_services(data_dir: Path) -> Ingested:
    """One row per local authority with its service's name, id, region and country."""
    log = Collector(SOURCE)
    records = log.parse(read_source(data_dir, SOURCE, [LAYOUT]), _parse_row)
    rows, owner, first_name = [], {}, {}
    for record in records:
        values, row = record.values, record.rows[0]
        # Two spellings with one slug ("St Helens", "St. Helens") are one service.
        values["yjs_name"] = first_name.setdefault(values["yjs_id"], values["yjs_name"])
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


def _parse_row(row: Row, sheet: Sheet) -> dict:
    cells, labels = row.cells, sheet.labels
    code = cells["la_code"].upper()
    if not GSS_CODE.match(code):
        raise RowProblem(
            f"column {labels['la_code']}: {cells['la_code']!r} is not a GSS code (like E06000001)")
    for name in ("la_name", "yjs_name"):
        if not cells[name]:
            raise RowProblem(f"column {labels[name]}: empty; a name is required")
    if not slugify(cells["yjs_name"]):
        raise RowProblem(f"column {labels['yjs_name']}: {cells['yjs_name']!r} has no letters or digits")
    country = cells.get("country", "").strip().title() or COUNTRY_BY_LETTER[code[0]]
    return {
        "la_code": code,
        "la_name": cells["la_name"],
        "yjs_name": cells["yjs_name"],
        "yjs_id": slugify(cells["yjs_name"]),
        "region": cells.get("region") or None,
        "country": country,
    }
