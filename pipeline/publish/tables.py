"""The contract's output tables, assembled from the assets' values, in the
contract's column order (extra columns after)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from pipeline import ingest
from pipeline.dates import to_datetime
from pipeline.settings import REPO_ROOT

CONTRACT_COLUMNS = {
    "services": ["yjs_id", "yjs_name", "country", "region", "la_codes", "population_10_17"],
    "indicator_values": ["yjs_id", "indicator", "period_end", "numerator", "denominator", "rate",
                         "expected", "z_score", "funnel_band", "suppressed"],
    "inspections": ["yjs_id", "published", "inspection_type", "overall_rating", "rating_score"],
    "inspection_targets": ["as_of", "rank", "yjs_id", "yjs_name", "recommendation",
                           "concern_score", "rank_low", "rank_high", "months_since_inspection",
                           "last_rating", "reasons"],
    "quarantine": ["source", "file", "row_number", "problem", "raw"],
    "source_files": ["source", "file", "sha256", "rows", "ingested_at"],
}
VIEWS_DIR = REPO_ROOT / "sql" / "views"


def ordered(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Contract columns first (all must be present), extra columns after,
    in a new frame indexed 0..n-1. One copy, not two: the columns taken by
    position (``take``, as ``df[columns]`` takes them, without marking the
    result a copy of ``df``), then ``reset_index`` only where the index is
    not 0..n-1 already (it copies every column again: ~2.5 ms of the
    ~3 ms a large table took)."""
    first = CONTRACT_COLUMNS.get(name, [])
    missing = [c for c in first if c not in df.columns]
    if missing:
        raise ValueError(f"table {name}: missing contract columns {missing}")
    columns = first + [c for c in df.columns if c not in first]
    if not df.columns.is_unique:  # df[columns] gives each name's columns, as many as it has
        return df[columns].reset_index(drop=True)
    out = df.take(df.columns.get_indexer(columns), axis=1)
    index = out.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None:
        return out
    return out.reset_index(drop=True)


def inspections_table(inspections: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Past inspections published on or before as_of."""
    seen = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    return seen.sort_values(["published", "yjs_id"], ignore_index=True)


def run_metadata(as_of: dt.date, data_dir, synthetic_note: str, rules, limits=None) -> pd.DataFrame:
    """One row describing the run that published the warehouse;
    ``synthetic_note`` (``settings.synthetic_note``) says which of its figures
    are the demo's, "" if none. ``settings`` holds the ranking ``rules`` and,
    under "guards", the plausibility guards' ``limits`` it ran with (a list
    let through with a guard switched off says so)."""
    settings = dict(vars(rules))
    if limits is not None:
        settings["guards"] = dict(vars(limits))
    return pd.DataFrame([{
        "as_of": pd.Timestamp(as_of), "refreshed_at": pd.Timestamp.now(tz="UTC"),
        "data_dir": str(data_dir), "synthetic_data": bool(synthetic_note),
        "settings": json.dumps(settings, sort_keys=True),
        "synthetic_note": synthetic_note,
    }])


def collect(ingested: dict[str, ingest.Ingested]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All sources' quarantined rows and files read, in one table each."""
    q = [i.quarantine for i in ingested.values() if len(i.quarantine)]
    f = [i.files for i in ingested.values() if len(i.files)]
    quarantine = pd.concat(q, ignore_index=True) if q else pd.DataFrame(columns=CONTRACT_COLUMNS["quarantine"])
    files = pd.concat(f, ignore_index=True) if f else pd.DataFrame(columns=CONTRACT_COLUMNS["source_files"])
    return quarantine, files


def view_statements() -> list[str]:
    """The CREATE VIEW statements of sql/views/, one file each, in name order."""
    return [p.read_text(encoding="utf-8") for p in sorted(VIEWS_DIR.glob("*.sql"))]
