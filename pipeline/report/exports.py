"""The ranked list as files an inspector opens without any tools: a CSV and
an Excel workbook (one sheet per recommendation, a per-service profile sheet
and an 'about' sheet), read from the published warehouse so the files say
exactly what analysts query.

Each file is written beside its final name and renamed into place, so
someone opening the folder mid-refresh never sees half a workbook.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

RECOMMENDATIONS = ("full_joint_inspection", "benchmark_visit", "monitor")
LIST_COLUMNS = ["rank", "yjs_name", "region", "recommendation", "concern_score", "rank_low",
                "rank_high", "months_since_inspection", "last_rating", "reasons"]
WIDTHS = {"reasons": 120, "yjs_name": 28, "region": 24, "recommendation": 22}
SYNTHETIC_NOTE = "DEMO DATA: the indicator figures, populations and ratings are SYNTHETIC."


def read_published(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The tables the exports need, from a read-only connection."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ranked = con.execute(
            "SELECT t.*, s.region FROM inspection_targets t LEFT JOIN services s USING (yjs_id) "
            "ORDER BY t.rank").df()
        return {"ranked": ranked,
                "profile": con.execute("SELECT * FROM service_profile").df(),
                "run": con.execute("SELECT * FROM run_metadata").df()}


def _about(run: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    r = run.iloc[0] if len(run) else pd.Series(dtype=object)
    rows = [("as_of", str(pd.Timestamp(r.get("as_of")).date()) if "as_of" in r else ""),
            ("refreshed_at", str(r.get("refreshed_at", ""))),
            ("services ranked", len(ranked)),
            *[(k, int((ranked["recommendation"] == k).sum())) for k in RECOMMENDATIONS],
            ("rank", "1 = most in need of a full joint inspection; rank_low..rank_high is its 90% interval"),
            ("settings", str(r.get("settings", "")))]
    if bool(r.get("synthetic_data", False)):
        rows.insert(0, ("NOTE", SYNTHETIC_NOTE))
    return pd.DataFrame(rows, columns=["item", "value"])


def _replace(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


def _fit_columns(sheet, df: pd.DataFrame) -> None:
    """Readable widths, wrapped reasons, a frozen header row."""
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    for i, col in enumerate(df.columns, start=1):
        width = WIDTHS.get(col, max(10, min(40, len(str(col)) + 2)))
        sheet.column_dimensions[get_column_letter(i)].width = width
        if col == "reasons":
            for cell in sheet[get_column_letter(i)][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "B2"


def write_exports(warehouse: Path, folder: Path) -> list[Path]:
    """Write ``inspection_targets_<as_of>.csv`` and ``.xlsx`` into folder;
    returns their paths. A rerun for the same as-of overwrites them; earlier
    months' files stay as the record of what was handed out."""
    t = read_published(warehouse)
    ranked, profile = t["ranked"], t["profile"]
    as_of = pd.Timestamp(ranked["as_of"].iloc[0]).date().isoformat() if len(ranked) else "empty"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"inspection_targets_{as_of}"
    listed = ranked[[c for c in LIST_COLUMNS if c in ranked.columns]]

    csv_tmp = stem.with_suffix(".csv.tmp")
    ranked.to_csv(csv_tmp, index=False)
    csv = _replace(csv_tmp, stem.with_suffix(".csv"))

    xlsx_tmp = stem.with_suffix(".tmp.xlsx")
    with pd.ExcelWriter(xlsx_tmp, engine="openpyxl") as xl:
        for kind in RECOMMENDATIONS:
            part = listed[listed["recommendation"] == kind]
            part.to_excel(xl, sheet_name=kind, index=False)
            _fit_columns(xl.sheets[kind], part)
        profile.to_excel(xl, sheet_name="service_profile", index=False)
        _fit_columns(xl.sheets["service_profile"], profile)
        about = _about(t["run"], ranked)
        about.to_excel(xl, sheet_name="about", index=False)
        xl.sheets["about"].column_dimensions["A"].width = 22
        xl.sheets["about"].column_dimensions["B"].width = 100
    xlsx = _replace(xlsx_tmp, stem.with_suffix(".xlsx"))
    return [csv, xlsx]
