"""The ranked list as files an inspector opens without any tools: a CSV and
an Excel workbook (one sheet per recommendation, a per-service profile sheet
and an 'about' sheet), read from the published warehouse so the files say
exactly what analysts query.

Each file is written beside its final name and renamed into place, so
someone opening the folder mid-refresh never sees half a workbook.

The workbook is written directly as SpreadsheetML (a zip of XML parts, see
``_write_xlsx``): the same cells, styles, widths and frozen panes that
``DataFrame.to_excel`` with openpyxl wrote, in a fraction of the time
(openpyxl builds and serialises an object per cell, and takes longer to
import than this takes to write the whole workbook).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.publish.warehouse import PublishError, read_only
from pipeline.settings import DEMO_NOTE

RECOMMENDATIONS = ("full_joint_inspection", "benchmark_visit", "monitor")
LIST_COLUMNS = ["rank", "yjs_name", "region", "recommendation", "concern_score", "rank_low",
                "rank_high", "months_since_inspection", "last_rating", "reasons"]
WIDTHS = {"reasons": 120, "yjs_name": 28, "region": 24, "recommendation": 22}
EXPORT_NAME = re.compile(r"inspection_targets_(\d{4}-\d{2}-\d{2})\.(csv|xlsx)")  # this project's files only


def read_published(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The tables the exports need, from a read-only connection."""
    with read_only(warehouse) as con:
        ranked = con.execute(
            "SELECT t.*, s.region FROM inspection_targets t LEFT JOIN services s USING (yjs_id) "
            "ORDER BY t.rank").df()
        return {"ranked": ranked,
                "profile": con.execute("SELECT * FROM service_profile").df(),
                "run": _run_metadata(con)}


def _run_metadata(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``run_metadata`` as ``.df()`` gives it. ``.df()`` converts a column
    with a time zone (``refreshed_at``) with pandas' ``tz_convert`` by the
    connection's zone's name, and pytz's first look-up of a name checks that
    every one of its ~600 zones has a file (~15-20 ms of the exports step in
    a fresh process). Here such a column is read in UTC and converted to
    the same pytz zone, built from its file alone (:func:`_pytz_zone`): the
    same values and type. Any zone it cannot build: ``.df()`` as it is."""
    zone = _pytz_zone(con.execute("SELECT current_setting('TimeZone')").fetchone()[0])
    run = con.execute("SELECT * FROM run_metadata")
    zoned = [d[0] for d in run.description if str(d[1]) == "TIMESTAMP WITH TIME ZONE"]
    if zone is None or not zoned:
        return run.df()
    quoted = ['"' + name.replace('"', '""') + '"' for name in zoned]
    in_utc = ", ".join(f"timezone('UTC', {q}) AS {q}" for q in quoted)  # a plain TIMESTAMP, in UTC
    df = con.execute(f"SELECT * REPLACE ({in_utc}) FROM run_metadata").df()
    for name in zoned:
        df[name] = df[name].dt.tz_localize("UTC").dt.tz_convert(zone)
    return df


def _pytz_zone(name: str):
    """The pytz zone pandas' ``tz_convert(name)`` converts to
    (``pytz.timezone``), built from its file without pytz's check of every
    zone's; None for a name pandas does not look up in pytz (UTC) or one
    whose file this cannot read."""
    if not name.isascii() or name.upper() == "UTC" or name.startswith("dateutil/") or name == "tzlocal()":
        return None
    try:
        import pytz
        from pytz.tzfile import build_tzinfo

        with pytz.open_resource(name) as fh:
            return build_tzinfo(name, fh)
    except Exception:  # not a zone's file (or no pytz): .df() says what it says
        return None


def _about(run: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    r = run.iloc[0] if len(run) else pd.Series(dtype=object)
    rows = [("as_of", str(pd.Timestamp(r.get("as_of")).date()) if "as_of" in r else ""),
            ("refreshed_at", str(r.get("refreshed_at", ""))),
            ("services ranked", len(ranked)),
            *[(k, int((ranked["recommendation"] == k).sum())) for k in RECOMMENDATIONS],
            ("rank", "1 = most in need of a full joint inspection; rank_low..rank_high is its 90% interval"),
            ("settings", str(r.get("settings", "")))]
    note = r.get("synthetic_note") if isinstance(r.get("synthetic_note"), str) else ""
    if note or bool(r.get("synthetic_data", False)):  # a warehouse from before the note: the whole demo's
        rows.insert(0, ("NOTE", note or DEMO_NOTE))
    return pd.DataFrame(rows, columns=["item", "value"])


def _replace(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


# --- the workbook ------------------------------------------------------------
# Cell styles (the xf index in styles.xml): as pandas' to_excel styled them.
_PLAIN, _HEADER, _WRAP, _DATETIME, _DATE = range(5)
_STYLES_XML = (
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="YYYY-MM-DD HH:MM:SS" />'
    '<numFmt numFmtId="165" formatCode="YYYY-MM-DD" /></numFmts>'
    '<fonts count="2"><font><name val="Calibri" /><family val="2" /><sz val="11" /></font>'
    '<font><b val="1" /></font></fonts>'
    '<fills count="2"><fill><patternFill /></fill><fill><patternFill patternType="gray125" /></fill></fills>'
    '<borders count="2"><border><left /><right /><top /><bottom /><diagonal /></border>'
    '<border><left style="thin" /><right style="thin" /><top style="thin" /><bottom style="thin" />'
    '</border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" /></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" />'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="1" applyAlignment="1" xfId="0">'
    '<alignment horizontal="center" vertical="top" /></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" applyAlignment="1" xfId="0">'
    '<alignment vertical="top" wrapText="1" /></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" applyNumberFormat="1" xfId="0" />'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" applyNumberFormat="1" xfId="0" /></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0" /></cellStyles>'
    '</styleSheet>')
_NS = "http://schemas.openxmlformats.org"
_REL = f"{_NS}/officeDocument/2006/relationships"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_ILLEGAL_XML = re.compile(r"[\000-\010\013\014\016-\037]")  # control characters XML 1.0 cannot hold
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_MAX_TEXT = 32_767  # Excel's limit on the characters in a cell
Sheet = tuple[pd.DataFrame, dict[int, float], bool, set[int]]  # frame, widths, freeze, wrapped columns


def _column_letter(n: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _escape(text: str, quote: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def _text(value: str) -> str:
    """An inline-string cell's content, escaped, keeping edge spaces."""
    value = value[:_MAX_TEXT]
    if not value.isprintable():  # only then can it hold a control character (printable: ~0.4 us saved a cell)
        value = _ILLEGAL_XML.sub("", value)
    body = _escape(value)
    stripped = value.strip()
    space = ' xml:space="preserve"' if stripped and stripped != value else ""
    return f"<is><t{space}>{body}</t></is>"


def _cell(ref: str, v, style: int = _PLAIN) -> str:
    """One cell, written as openpyxl writes what to_excel gives it: numbers
    to 16 significant digits, bools as 1/0, datetimes as Excel serial days,
    missing as an empty text cell, infinities as 'inf' / '-inf', anything
    else as text. Unlike openpyxl, text starting with '=' stays text (never
    a formula) and control characters XML cannot hold are dropped (openpyxl
    refused the whole workbook)."""
    s = f' s="{style}"' if style else ""
    if type(v) is str:  # most cells: text, as the last line below writes it, without the tests before it
        return f'<c r="{ref}"{s} t="inlineStr">{_text(v)}</c>'
    if isinstance(v, np.generic):  # a numpy scalar in an object column
        v = v.item()
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return f'<c r="{ref}"{s} t="inlineStr" />'
    if isinstance(v, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, float) and math.isinf(v):
        v = "inf" if v > 0 else "-inf"
    if isinstance(v, (int, float)):
        return f'<c r="{ref}"{s} t="n"><v>{v:.16g}</v></c>'
    if isinstance(v, dt.date):  # a pd.Timestamp or datetime is a date too
        if getattr(v, "tzinfo", None) is not None:
            raise ValueError("Excel does not support datetimes with timezones")
        when = v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time())
        delta = when - _EXCEL_EPOCH
        days = delta.days - (1 if 0 < delta.days <= 60 else 0)  # Excel's 1900 leap year
        serial = days + (delta.seconds + when.microsecond / 1e6) / 86_400
        style = style or (_DATETIME if isinstance(v, dt.datetime) else _DATE)
        return f'<c r="{ref}" s="{style}" t="n"><v>{serial:.16g}</v></c>'
    if pd.api.types.is_scalar(v) and pd.isna(v):
        return f'<c r="{ref}"{s} t="inlineStr" />'
    return f'<c r="{ref}"{s} t="inlineStr">{_text(str(v))}</c>'


def _sheet_xml(df: pd.DataFrame, widths: dict[int, float], freeze: bool, wrap: set[int]) -> str:
    """A worksheet: pandas' bold, boxed header row, then the frame's rows;
    ``widths`` per column number (1-based), ``wrap``ped columns (0-based),
    optionally the header row and first column frozen."""
    letters = [_column_letter(i) for i in range(1, df.shape[1] + 1)]
    rows = ['<row r="1">' + "".join(_cell(f"{c}1", str(name), _HEADER)
                                    for c, name in zip(letters, df.columns)) + "</row>"]
    columns = [df.iloc[:, i].tolist() for i in range(df.shape[1])]  # Python scalars, Timestamps
    styles = [_WRAP if i in wrap else _PLAIN for i in range(df.shape[1])]
    for r, row in enumerate(zip(*columns), start=2):
        rows.append(f'<row r="{r}">' + "".join(
            _cell(f"{c}{r}", v, st) for c, v, st in zip(letters, row, styles)) + "</row>")
    pane = ('<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" state="frozen" />'
            '<selection pane="topRight" /><selection pane="bottomLeft" />'
            '<selection pane="bottomRight" activeCell="A1" sqref="A1" />') if freeze else \
        '<selection activeCell="A1" sqref="A1" />'
    cols = "".join(f'<col width="{w:.16g}" customWidth="1" min="{i}" max="{i}" />'
                   for i, w in sorted(widths.items()))
    last = f"{letters[-1] if letters else 'A'}{len(df) + 1}"
    return (f'<worksheet xmlns="{_NS}/spreadsheetml/2006/main"><sheetPr><outlinePr summaryBelow="1" '
            f'summaryRight="1" /><pageSetUpPr /></sheetPr><dimension ref="A1:{last}" /><sheetViews>'
            f'<sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
            f'<sheetFormatPr baseColWidth="8" defaultRowHeight="15" />'
            + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>" + "".join(rows) +
            '</sheetData><pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" '
            'footer="0.5" /></worksheet>')


def _fitted(df: pd.DataFrame) -> Sheet:
    """Readable widths, wrapped reasons, a frozen header row."""
    widths = {i: WIDTHS.get(col, max(10, min(40, len(str(col)) + 2)))
              for i, col in enumerate(df.columns, start=1)}
    return df, widths, True, {i for i, col in enumerate(df.columns) if col == "reasons"}


def _write_xlsx(path: Path, sheets: dict[str, Sheet]) -> None:
    """A workbook of ``sheets`` (name -> frame, widths, freeze, wrapped
    columns), as the minimal set of SpreadsheetML parts."""
    names = list(sheets)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_NS}/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml" />'
            '<Default Extension="xml" ContentType="application/xml" />'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml" />'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml" />'
            '<Override PartName="/docProps/app.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml" />'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_SHEET_TYPE}" />'
                      for i in range(1, len(names) + 1)) +
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml" />'
            '</Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{_NS}/package/2006/relationships">'
            f'<Relationship Type="{_REL}/officeDocument" Target="xl/workbook.xml" Id="rId1" />'
            f'<Relationship Type="{_NS}/package/2006/relationships/metadata/core-properties" '
            'Target="docProps/core.xml" Id="rId2" />'
            f'<Relationship Type="{_REL}/extended-properties" Target="docProps/app.xml" Id="rId3" />'
            '</Relationships>'),
        "docProps/app.xml": (
            f'<Properties xmlns="{_NS}/officeDocument/2006/extended-properties">'
            '<Application>yjs_inspection_targeting</Application></Properties>'),
        "docProps/core.xml": (
            f'<cp:coreProperties xmlns:cp="{_NS}/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>yjs_inspection_targeting'
            f'</dc:creator><dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified></cp:coreProperties>'),
        "xl/workbook.xml": (
            f'<workbook xmlns:r="{_REL}" xmlns="{_NS}/spreadsheetml/2006/main"><workbookPr />'
            '<bookViews><workbookView visibility="visible" minimized="0" showHorizontalScroll="1" '
            'showVerticalScroll="1" showSheetTabs="1" tabRatio="600" firstSheet="0" activeTab="0" '
            'autoFilterDateGrouping="1" /></bookViews><sheets>'
            + "".join(f'<sheet name="{_escape(name, quote=True)}" sheetId="{i}" state="visible" r:id="rId{i}" />'
                      for i, name in enumerate(names, start=1)) +
            '</sheets><calcPr calcId="124519" fullCalcOnLoad="1" /></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_NS}/package/2006/relationships">'
            + "".join(f'<Relationship Type="{_REL}/worksheet" Target="/xl/worksheets/sheet{i}.xml" '
                      f'Id="rId{i}" />' for i in range(1, len(names) + 1)) +
            f'<Relationship Type="{_REL}/styles" Target="styles.xml" Id="rId{len(names) + 1}" />'
            '</Relationships>'),
        "xl/styles.xml": _STYLES_XML,
    }
    for i, (df, widths, freeze, wrap) in enumerate(sheets.values(), start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(df, widths, freeze, wrap)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, xml in parts.items():
            z.writestr(name, xml.encode("utf-8"))


def exports_folder(warehouse: Path) -> Path:
    """Where the exports of ``warehouse`` go: ``exports/`` beside it."""
    return Path(warehouse).parent / "exports"


def check_writable(folder: Path) -> None:
    """Make ``folder`` if need be and write a file in it (removed at once),
    raising :class:`PublishError` naming it where that fails (a file named
    ``exports``, no permission). The refresh calls this before it publishes:
    the exports are written after the swap, when their failure could no
    longer leave the last published warehouse as it was."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".writable-"):
            pass
    except OSError as error:
        raise PublishError(f"the exports folder {folder} cannot be written ({type(error).__name__}: "
                           f"{error.strerror or error}); nothing was published: move what is in the way "
                           "or make the folder writable") from None


def write_exports(warehouse: Path, folder: Path) -> list[Path]:
    """Write ``inspection_targets_<as_of>.csv`` and ``.xlsx`` into folder;
    returns their paths. A rerun for the same as-of overwrites them; earlier
    months' files stay as the record of what was handed out (a list dated
    later, which a published one replaced, goes: :func:`remove_replaced`)."""
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
    sheets = {kind: _fitted(listed[listed["recommendation"] == kind]) for kind in RECOMMENDATIONS}
    sheets["service_profile"] = _fitted(profile)
    sheets["about"] = (_about(t["run"], ranked), {1: 22, 2: 100}, False, set())
    try:
        _write_xlsx(xlsx_tmp, sheets)
    except BaseException:
        xlsx_tmp.unlink(missing_ok=True)
        raise
    xlsx = _replace(xlsx_tmp, stem.with_suffix(".xlsx"))
    return [csv, xlsx]


def exported_as_of(path: Path) -> dt.date | None:
    """The as-of of an export file by its name (``inspection_targets_<as_of>.csv``
    or ``.xlsx``), None for any other name."""
    name = EXPORT_NAME.fullmatch(Path(path).name)
    if not name:
        return None
    try:
        return dt.date.fromisoformat(name.group(1))
    except ValueError:  # 2026-13-45: not a date, so not one of ours
        return None


def remove_replaced(folder: Path, as_of: dt.date, today: dt.date | None = None) -> dict[dt.date, list[Path]]:
    """Remove the exports in ``folder`` of lists dated after ``as_of``, the
    list a refresh has just published, and after ``today``: those lists
    were published once (a date after today) and this one replaced them, yet
    their files would sort as the newest. A list dated today or earlier is
    never removed: warehouses in one folder share ``exports/``, and another
    warehouse's list of an earlier date than this one's is not replaced by it. Only this project's names (``inspection_targets_<YYYY-MM-DD>``
    ``.csv`` / ``.xlsx``, regular files) are touched; returns the removed
    files by the as-of of their list. Call it only for a refresh that
    published: a backfill leaves the published list, and every file, as they are."""
    removed: dict[dt.date, list[Path]] = {}
    if not folder.is_dir():
        return removed
    after = max(as_of, today or dt.date.today())
    for path in sorted(folder.iterdir()):
        dated = exported_as_of(path)
        if dated is None or dated <= after or path.is_symlink() or not path.is_file():
            continue
        path.unlink()
        removed.setdefault(dated, []).append(path)
    return removed
