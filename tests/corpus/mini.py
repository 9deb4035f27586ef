"""A small, complete data dir: the demo data cut down to a few services.

A full refresh of the 155-service demo takes long enough that a test
running several (killed, concurrent, read during) would be slow; the same
files cut to ``n`` services exercise the same code in a fraction of the
time. Rows are kept by the pipeline's own matching (service names through
:class:`ServiceMatcher`, population codes through their 2024 successor), so
every layout quirk of the demo files survives the cut.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pandas as pd

from pipeline.ingest import ServiceMatcher, slugify
from pipeline.ingest.geography import SplitAreaError, successor
from pipeline.ingest.tables import key
from pipeline.settings import REPO_ROOT

DEMO = REPO_ROOT / "data" / "demo"
NAME_COLUMNS = ("yjs_name", "YJS", "la_name")
PERIODS = ("periodend", "cohortend", "financialyear")


def build(out: Path, n: int = 40, since: int = 2021) -> Path:
    """Write the first ``n`` services of the demo lookup, with their rows of
    every other source, to ``out`` (a data dir); returns ``out``. Indicator
    periods ending before ``since`` are left out: the back-test ranks every
    month with data, so fewer months make a faster refresh."""
    lookup = pd.read_csv(DEMO / "services" / "services.csv", dtype=str)
    keep_ids = list(dict.fromkeys(lookup["yjs_name"].map(slugify)))[:n]
    services = lookup[lookup["yjs_name"].map(slugify).isin(keep_ids)]
    codes = set(services["la_code"])
    matcher = ServiceMatcher(services.assign(yjs_id=services["yjs_name"].map(slugify)))
    for source in sorted(p for p in DEMO.iterdir() if p.is_dir()):
        (out / source.name).mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.csv")):
            year = re.match(r"mye(\d{4})", path.name)
            if year and int(year[1]) < since - 1:
                continue  # populations of years no kept period ends in
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
            header, body = rows[0], rows[1:]
            keep = _keeper(header, codes, matcher, source.name)
            period = next((i for i, h in enumerate(header) if key(h) in PERIODS), None)
            if period is not None:
                keep = (lambda k, i: lambda row: k(row) and int(row[i][:4]) >= since)(keep, period)
            with open(out / source.name / path.name, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows([header] + [r for r in body if r and keep(r)])
    shutil.copy(DEMO / "README.md", out / "README.md")  # keeps the synthetic banner
    return out


def _keeper(header: list[str], codes: set[str], matcher: ServiceMatcher, source: str):
    if source == "services":
        return lambda row: row[0] in codes
    if source == "population":
        return lambda row: _carried(row[0]) in codes
    column = next(i for i, h in enumerate(header) if h in NAME_COLUMNS)
    return lambda row: matcher.match(row[column]) is not None


def _carried(code: str) -> str | None:
    try:
        return successor(code)
    except SplitAreaError:
        return None
