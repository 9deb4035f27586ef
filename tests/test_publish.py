"""Atomic publication of the DuckDB warehouse."""

import hashlib
import json
import os
import subprocess
import sys
import re
import sqlite3

import duckdb
import pandas as pd
import pytest

from pipeline.publish import warehouse as wh


def targets(as_of: str, n: int = 3, offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"as_of": pd.Timestamp(as_of), "rank": range(1, n + 1),
                         "yjs_id": [f"s{i}" for i in range(n)],
                         "concern_score": [offset + i for i in range(n)]})


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_writes_tables_with_date_types(tmp_path):
    db = tmp_path / "w.duckdb"
    counts = wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    assert counts == {"inspection_targets": 3, "ranking_history": 3}
    with duckdb.connect(str(db), read_only=True) as con:
        t = con.execute("SELECT data_type FROM information_schema.columns "
                        "WHERE table_name='inspection_targets' AND column_name='as_of'").fetchone()
        assert t[0] == "DATE"
    assert not list(tmp_path.glob("*.staging-*")) and not list(tmp_path.glob("*.wal"))


def test_a_column_with_no_value_has_the_contracts_type_not_duckdbs_null(tmp_path):
    # a list as of a date before any figure: no indicator rows; the demo's rating_note: all NULL
    db = tmp_path / "w.duckdb"
    empty = pd.DataFrame(columns=["yjs_id", "indicator", "period_end", "numerator", "suppressed", "extra"])
    inspections = pd.DataFrame({"yjs_id": ["a"], "published": [pd.Timestamp("2024-01-02")], "rating_note": [None],
                                "last_period_end": [pd.Timestamp("2024-03-31")]})
    wh.publish(db, {"inspection_targets": targets("2025-01-01"), "indicator_values": empty,
                    "inspections": inspections})
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(con.execute("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                                 ).fetchall())
    assert {k: types[k] for k in ("indicator_values.yjs_id", "indicator_values.period_end",
                                  "indicator_values.numerator", "indicator_values.suppressed",
                                  "indicator_values.extra", "inspections.rating_note",
                                  "inspections.last_period_end")} == {
        "indicator_values.yjs_id": "VARCHAR", "indicator_values.period_end": "DATE",
        "indicator_values.numerator": "DOUBLE", "indicator_values.suppressed": "BOOLEAN",
        "indicator_values.extra": "VARCHAR", "inspections.rating_note": "VARCHAR",
        "inspections.last_period_end": "DATE"}


def test_read_only_reads_the_file_as_a_read_only_connection_would(tmp_path):
    db = tmp_path / "it's.duckdb"  # a quote in the path
    wh.publish(db, {"inspection_targets": targets("2025-01-01")},
               ["CREATE VIEW top AS SELECT yjs_id FROM inspection_targets WHERE rank = 1"])
    for _ in range(2):  # detached after each use: the same file again
        with wh.read_only(db) as con:
            assert con.execute("SELECT count(*) FROM inspection_targets").fetchone() == (3,)
            assert con.execute("SELECT * FROM top").fetchall() == [("s0",)]
            with pytest.raises(duckdb.Error):  # read-only
                con.execute("DELETE FROM inspection_targets")
            with pytest.raises(duckdb.Error):  # and the file is locked against writers, as usual
                duckdb.connect(str(db))
    assert set(wh.read_tables(db, ["inspection_targets", "quarantine"])) == {"inspection_targets", "quarantine"}
    wh.publish(db, {"inspection_targets": targets("2025-02-01", n=5)})  # swapped for a new file
    with wh.read_only(db) as con:
        assert con.execute("SELECT count(*) FROM inspection_targets").fetchone() == (5,)
    (tmp_path / "junk.duckdb").write_text("not a database")
    # a file DuckDB would take for another format by its name or header: an export (its CatalogException
    # had come out as a traceback) or a SQLite database (its extension sought on the network)
    (tmp_path / "targets.csv").write_text("rank,yjs_id\n1,s0\n")
    sqlite = sqlite3.connect(tmp_path / "lite.db")
    sqlite.execute("CREATE TABLE t (a)")
    sqlite.commit()
    sqlite.close()
    for path in (tmp_path / "junk.duckdb", tmp_path / "missing.duckdb", tmp_path / "targets.csv",
                 tmp_path / "lite.db"):  # one sentence naming the file
        with pytest.raises(wh.PublishError, match=f"^the warehouse {re.escape(str(path))} cannot be read "):
            with wh.read_only(path):
                pass
    assert not (tmp_path / "missing.duckdb").exists()  # never created, as read_only=True


def test_a_failed_publish_leaves_the_published_file_byte_identical(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    before = sha(db)

    def boom(staging):
        assert staging.exists()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        wh.publish(db, {"inspection_targets": targets("2025-02-01")}, after_write=boom)
    assert sha(db) == before
    assert not wh.staging_files(db)
    assert len(wh.read_table(db, "ranking_history")) == 3


def test_a_killed_refresh_leftover_is_cleaned_by_the_next(tmp_path):
    db = tmp_path / "w.duckdb"
    stale = tmp_path / "w.duckdb.staging-99999"
    stale.write_bytes(b"half written")
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    assert not stale.exists()


def test_history_keeps_one_snapshot_per_as_of(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    wh.publish(db, {"inspection_targets": targets("2025-02-01")})
    wh.publish(db, {"inspection_targets": targets("2025-02-01", offset=10)})
    hist = wh.read_table(db, "ranking_history")
    assert len(hist) == 6
    assert hist.groupby("as_of").size().tolist() == [3, 3]
    feb = hist[pd.to_datetime(hist["as_of"]) == "2025-02-01"]
    assert feb["concern_score"].min() == 10


def test_history_read_under_the_lock_is_not_read_again(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    with pytest.raises(ValueError, match="refresh_lock"):  # read without the lock: may be stale
        wh.publish(db, {"inspection_targets": targets("2025-02-01")}, history=None)
    with wh.refresh_lock(db):
        history = wh.read_tables(db, [wh.HISTORY_TABLE])[wh.HISTORY_TABLE]
        monkeypatch.setattr(wh, "read_table", lambda *a: pytest.fail("the history was read twice"))
        counts = wh.publish(db, {"inspection_targets": targets("2025-02-01")}, history=history)
    assert counts["ranking_history"] == 6
    merged = wh.read_tables(db, [wh.HISTORY_TABLE])[wh.HISTORY_TABLE]
    assert sorted(pd.to_datetime(merged["as_of"]).dt.strftime("%Y-%m").unique()) == ["2025-01", "2025-02"]


def test_a_reader_open_during_publish_keeps_its_snapshot(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01", offset=0)})
    reader = duckdb.connect(str(db), read_only=True)
    try:
        wh.publish(db, {"inspection_targets": targets("2025-02-01", offset=100)})
        old = reader.execute("SELECT max(concern_score) FROM inspection_targets").fetchone()[0]
        assert old == 2
    finally:
        reader.close()
    with duckdb.connect(str(db), read_only=True) as fresh:
        assert fresh.execute("SELECT max(concern_score) FROM inspection_targets").fetchone()[0] == 102


def test_views_are_created(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")},
               ["CREATE VIEW top_one AS SELECT * FROM inspection_targets WHERE rank = 1"])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM top_one").fetchone()[0] == 1


def test_a_backfill_of_an_earlier_month_keeps_the_latest_list(tmp_path):
    db = tmp_path / "w.duckdb"
    marker = pd.DataFrame({"as_of": [pd.Timestamp("2025-03-01")]})
    wh.publish(db, {"inspection_targets": targets("2025-03-01", offset=50), "run_metadata": marker})
    counts = wh.publish(db, {"inspection_targets": targets("2025-01-01", offset=0),
                             "run_metadata": marker.assign(as_of=pd.Timestamp("2025-01-01"))})
    assert counts == {"ranking_history": 6}
    current = wh.read_table(db, "inspection_targets")
    assert (pd.to_datetime(current["as_of"]) == "2025-03-01").all()
    assert current["concern_score"].min() == 50
    assert (pd.to_datetime(wh.read_table(db, "run_metadata")["as_of"]) == "2025-03-01").all()
    assert wh.read_table(db, "ranking_history")["as_of"].nunique() == 2
def leave_a_wal(db) -> None:
    """A read-write session that committed a change and ended without a
    checkpoint (an analyst's session that died): the change is in ``<db>.wal``."""
    with duckdb.connect(str(db)) as con:
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute("CREATE TABLE my_notes AS SELECT 1 AS a")
    assert db.with_name(db.name + ".wal").exists()


def test_a_wal_left_beside_the_warehouse_does_not_outlive_the_file_it_belongs_to(tmp_path):
    """The swap had left the old file's WAL beside the new file: DuckDB refused the warehouse ("WAL
    does not match database file") for every reader and every later refresh."""
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    leave_a_wal(db)
    wh.publish(db, {"inspection_targets": targets("2025-02-01", offset=10)})
    assert not list(tmp_path.glob("*.wal*")) and not list(tmp_path.glob("*.staging-*"))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT min(concern_score) FROM inspection_targets").fetchone() == (10,)
        assert con.execute("SELECT count(DISTINCT as_of) FROM ranking_history").fetchone() == (2,)
    wh.publish(db, {"inspection_targets": targets("2025-03-01")})  # and the next refresh too


def test_a_backfill_keeps_what_the_published_files_wal_holds(tmp_path):
    """A backfill changes only ranking_history: the published file's committed changes still in its WAL
    are kept (the copy had been of the file alone, its WAL left to spoil the new file)."""
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-03-01")})
    leave_a_wal(db)
    assert wh.publish(db, {"inspection_targets": targets("2025-01-01")}) == {"ranking_history": 6}
    assert not list(tmp_path.glob("*.wal*"))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT a FROM my_notes").fetchall() == [(1,)]
        assert con.execute("SELECT count(DISTINCT as_of) FROM ranking_history").fetchone() == (2,)


def open_in_another_process(db, read_only: bool) -> str:
    """What opening ``db`` in a fresh process says: "ok", or DuckDB's error."""
    code = ("import duckdb, sys\ntry:\n    duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro').close()\n"
            "    print('ok')\nexcept duckdb.Error as e:\n    print(str(e).splitlines()[0])")
    return subprocess.run([sys.executable, "-c", code, str(db), "ro" if read_only else "rw"], capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_no_session_opens_the_published_file_for_writing_while_it_is_replaced(tmp_path):
    """A read-write session opened between the refresh's read of the file and the swap wrote the old
    file's WAL beside the new file: DuckDB then refused the warehouse. Readers still open it."""
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    seen = {}

    def during(staging):
        seen["rw"], seen["ro"] = open_in_another_process(db, False), open_in_another_process(db, True)

    wh.publish(db, {"inspection_targets": targets("2025-02-01")}, after_write=during)
    assert "lock" in seen["rw"].lower() and seen["ro"] == "ok", seen
    assert open_in_another_process(db, False) == "ok"  # and after the swap, as before
    assert not list(tmp_path.glob("*.wal"))


def test_a_session_writing_the_published_file_stops_the_publication_saying_so(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    before = sha(db)
    with duckdb.connect(str(db)):  # an analyst's read-write session, in this process: the same locks
        with pytest.raises(wh.PublishError, match=r"is open for writing by another session \(a read-write "
                                                  r"connection\); close it, or query the warehouse read-only"):
            with wh.readers_only(db):
                pass
    assert sha(db) == before


def test_a_failed_swap_puts_the_wal_back(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    leave_a_wal(db)
    before = sha(db), sha(db.with_name("w.duckdb.wal"))
    real_replace = os.replace

    def failing(src, dst):
        if str(src).endswith(f".staging-{os.getpid()}"):
            raise OSError("no space left")
        return real_replace(src, dst)

    monkeypatch.setattr(wh.os, "replace", failing)
    with pytest.raises(OSError, match="no space left"):
        wh.publish(db, {"inspection_targets": targets("2025-02-01")})
    assert (sha(db), sha(db.with_name("w.duckdb.wal"))) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb", "w.duckdb.lock", "w.duckdb.wal"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT a FROM my_notes").fetchall() == [(1,)]


# --- one publisher at a time, names and values, links ----------------------------

import signal  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from pipeline.settings import REPO_ROOT  # noqa: E402


def small_warehouse(db: Path, as_of: str = "2025-01-01") -> Path:
    """A warehouse with the tables tests/corpus/reader.py queries."""
    wh.publish(db, {
        "inspection_targets": targets(as_of),
        "services": pd.DataFrame({"yjs_id": ["s0", "s1", "s2"]}),
        "run_metadata": pd.DataFrame({"as_of": [pd.Timestamp(as_of)],
                                      "refreshed_at": [pd.Timestamp.now(tz="UTC")]}),
    })
    return db


def child(args: list[str], **env) -> subprocess.Popen:
    """A child process running a module of tests.corpus from the repo root."""
    full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO_ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_publisher_waits_then_refuses_naming_the_holder(tmp_path):
    db = small_warehouse(tmp_path / "w.duckdb")
    before, marker = sha(db), tmp_path / "paused"
    holder = child(["tests.corpus.publisher", str(db)], YJT_PAUSE_AT="locked",
                   YJT_PAUSE_MARKER=str(marker), YJT_PAUSE_SECONDS="60")
    try:
        wait_for(marker)
        started = time.monotonic()
        with pytest.raises(wh.PublishError, match=rf"another refresh is running \(pid {holder.pid} since "):
            with wh.refresh_lock(db, timeout=1):
                pass
        assert 1 <= time.monotonic() - started < 5  # it waited, then refused
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with wh.refresh_lock(db, timeout=5):  # the kernel released the dead holder's lock
        pass
    assert sha(db) == before


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    db = tmp_path / "w.duckdb"
    with wh.refresh_lock(db, timeout=0):
        wh.publish(db, {"inspection_targets": targets("2025-01-01")})  # takes it again
    assert len(wh.read_table(db, "inspection_targets")) == 3


def test_names_are_ours_and_values_are_never_sql(tmp_path):
    db = tmp_path / "w.duckdb"
    hostile = "x'); DROP TABLE inspection_targets; --"
    wh.publish(db, {"inspection_targets": targets("2025-01-01").assign(**{'odd "name"': hostile})})
    got = wh.read_table(db, "inspection_targets")
    assert (got['odd "name"'] == hostile).all()
    for bad in ('inspection_targets"; DROP TABLE x; --', "Targets", "1st"):
        with pytest.raises(ValueError, match="is not a warehouse table name"):
            wh.read_table(db, bad)
        with pytest.raises(ValueError, match="is not a warehouse table name"):
            wh.publish(tmp_path / "v.duckdb", {"inspection_targets": targets("2025-01-01"), bad: targets("2025-01-01")})


def test_a_linked_warehouse_is_replaced_at_its_target(tmp_path):
    real = tmp_path / "store" / "w.duckdb"
    wh.publish(real, {"inspection_targets": targets("2025-01-01")})
    link = tmp_path / "w.duckdb"
    link.symlink_to(real)
    wh.publish(link, {"inspection_targets": targets("2025-02-01")})
    assert link.is_symlink() and link.resolve() == real
    assert wh.read_table(real, "ranking_history")["as_of"].nunique() == 2


def test_readers_connecting_while_the_file_is_swapped_never_fail(tmp_path):
    """15 swaps while 2 readers open a new connection for every query: a
    connection opened while os.replace runs gets the old file or the new one."""
    db, stop = small_warehouse(tmp_path / "w.duckdb"), tmp_path / "stop"
    logs = [tmp_path / f"reader{i}.jsonl" for i in range(2)]
    readers = [child(["tests.corpus.reader", str(db), str(log), str(stop), "fresh"]) for log in logs]
    try:
        wait_for(logs[-1])
        publisher = child(["tests.corpus.publisher", str(db), "15"])
        assert publisher.wait(timeout=120) == 0, publisher.stderr.read()
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=30)
    answers = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    errors = [a["error"] for a in answers if not a["ok"]]
    assert not errors, errors[:3]
    assert len({a["row"][4] for a in answers}) > 5  # they saw many of the 16 versions


# --- the Excel export ------------------------------------------------------

def _cells(path):
    """Every cell's value, type, number format and look, per sheet, as openpyxl reads them."""
    import openpyxl

    book, out = openpyxl.load_workbook(path), {}
    for sheet in book.worksheets:
        widths = {k: d.width for k, d in sheet.column_dimensions.items() if d.customWidth}
        out[sheet.title] = (sheet.dimensions, sheet.freeze_panes, widths, [
            (c.coordinate, c.value, c.data_type, c.number_format, bool(c.font.b),
             tuple(getattr(c.border, side).style for side in ("left", "right", "top", "bottom")),
             c.alignment.horizontal, c.alignment.vertical, bool(c.alignment.wrap_text))
            for row in sheet.iter_rows() for c in row])
    return out


def test_the_workbook_reads_as_pandas_and_openpyxl_wrote_it(tmp_path):
    """The exports' own xlsx writer gives the cells, formats, header style,
    widths and frozen panes that DataFrame.to_excel (openpyxl) gave."""
    import datetime as dt

    import numpy as np
    from openpyxl.styles import Alignment

    from pipeline.report import exports as ex

    df = pd.DataFrame({
        "rank": [1, 2, 3, 4], "score": [1.0, np.nan, np.inf, -np.inf],
        "tiny": [1e-300, -0.0, 1.2345678901234567e17, 0.1 + 0.2], "flag": [True, False, True, False],
        "mixed": ["a", np.int64(3), None, np.nan],
        "when": pd.to_datetime(["2026-01-01", None, "1900-02-28 12:30", "2026-11-01 23:59:59.5"],
                               format="mixed"),
        "day": [dt.date(2026, 1, 2), None, dt.date(1900, 1, 1), dt.date(2000, 2, 29)],
        "reasons": ['x & <y> "q"', "  lead", "trail  ", None],
        "text": ["   ", "line\nbreak", "é ü 😀", "x" * 40_000]})
    ours = tmp_path / "ours.xlsx"
    ex._write_xlsx(ours, {"fitted": ex._fitted(df), "plain": (df, {1: 22, 2: 100}, False, set())})

    theirs = tmp_path / "theirs.xlsx"
    with pd.ExcelWriter(theirs, engine="openpyxl") as xl:  # how the exports were written before
        df.to_excel(xl, sheet_name="fitted", index=False)
        sheet = xl.sheets["fitted"]
        for i, col in enumerate(df.columns, start=1):
            letter = sheet.cell(row=1, column=i).column_letter
            sheet.column_dimensions[letter].width = ex.WIDTHS.get(col, max(10, min(40, len(col) + 2)))
            if col == "reasons":
                for cell in sheet[letter][1:]:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "B2"
        df.to_excel(xl, sheet_name="plain", index=False)
        xl.sheets["plain"].column_dimensions["A"].width = 22
        xl.sheets["plain"].column_dimensions["B"].width = 100

    assert _cells(ours) == _cells(theirs)
    for name, frame in pd.read_excel(theirs, sheet_name=None).items():
        pd.testing.assert_frame_equal(pd.read_excel(ours, sheet_name=name), frame)


def test_history_keeps_its_column_types_when_a_list_has_only_missing_values_in_one():
    import warnings

    old = targets("2025-01-01").assign(last_rating=["Good", None, "Inadequate"], months_since_inspection=pd.array(
        [3, None, 40], dtype="Int64"), last_inspected=pd.to_datetime(["2024-10-01", None, "2021-09-01"]))
    new = targets("2013-06-01").assign(last_rating=None, months_since_inspection=pd.array([None] * 3, dtype="Int64"),
                                       last_inspected=None)  # before any inspection was published
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' FutureWarning on all-missing columns reached the CLI's output
        merged = wh.merge_history(old, new.assign(months_since_inspection=new["months_since_inspection"]
                                                  .astype(float)))
    assert merged.dtypes.to_dict() == old.dtypes.to_dict() and len(merged) == 6
    assert merged["last_rating"].tolist() == [None] * 3 + ["Good", None, "Inadequate"]
    assert merged["last_inspected"].isna().sum() == 4


# --- a list dated after today, checks before the swap -----------------------

def test_a_backfill_is_earlier_than_a_published_list_dated_on_or_before_today():
    import datetime as dt

    today, d = dt.date(2026, 12, 2), dt.date.fromisoformat
    assert wh.is_backfill(d("2026-11-01"), d("2026-12-01"), today)  # a month before the published one
    assert wh.is_backfill(d("2026-11-01"), today, today)
    assert not wh.is_backfill(today, today, today)  # a rerun replaces
    assert not wh.is_backfill(d("2026-12-03"), today, today)  # later: published
    assert not wh.is_backfill(today, d("2100-01-01"), today)  # the published list is dated after today
    assert not wh.is_backfill(d("2099-01-01"), d("2100-01-01"), today)
    assert not wh.is_backfill(d("2026-11-01"), None, today)  # nothing published yet
    assert wh.after_today_warning(today, today) is None
    assert wh.after_today_warning(d("2100-01-01"), today).startswith(
        "as of 2100-01-01 is after today (2026-12-02): this list is published, but the next refresh as of "
        "today or earlier will replace it")


def test_a_list_dated_after_today_is_replaced_by_the_next_list_as_of_today(tmp_path):
    """A typo (2100 for 2026) published once; the next refresh as of today had been a backfill, and
    every one after it, the year-2100 list published for good."""
    import datetime as dt

    db, today = tmp_path / "w.duckdb", dt.date.today()
    meta = pd.DataFrame({"as_of": [pd.Timestamp("2100-01-01")]})
    wh.publish(db, {"inspection_targets": targets("2100-01-01", offset=50), "run_metadata": meta})
    assert wh.published_as_of(db) == dt.date(2100, 1, 1)
    counts = wh.publish(db, {"inspection_targets": targets(str(today)),
                             "run_metadata": meta.assign(as_of=pd.Timestamp(today))})
    assert set(counts) == {"inspection_targets", "run_metadata", "ranking_history"}
    assert wh.published_as_of(db) == today  # the published list's, not ranking_history's latest (2100)
    assert (pd.to_datetime(wh.read_table(db, "run_metadata")["as_of"]).dt.date == today).all()
    assert wh.read_table(db, "ranking_history")["as_of"].nunique() == 2
    earlier = today - dt.timedelta(days=31)  # now an earlier list is a backfill again
    assert wh.publish(db, {"inspection_targets": targets(str(earlier))}) == {"ranking_history": 9}
    assert wh.published_as_of(db) == today


def test_a_staging_copy_that_fails_its_checks_is_not_swapped_in(tmp_path):
    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-01-01")})
    before, seen = sha(db), []

    def verify(con):
        seen.append(con.execute("SELECT count(*) FROM inspection_targets").fetchone()[0])
        return ["inspection_targets: 1 duplicated keys"]

    with pytest.raises(wh.PublishError, match=rf"^{re.escape(str(db))} was not replaced: the new version fails "
                                              "its checks: inspection_targets: 1 duplicated keys$"):
        wh.publish(db, {"inspection_targets": targets("2025-02-01", n=5)}, verify=verify)
    assert seen == [5] and sha(db) == before and not wh.staging_files(db)


def test_an_exports_folder_that_cannot_be_written_is_found_before_publishing(tmp_path):
    from pipeline.report.exports import check_writable, exports_folder

    folder = exports_folder(tmp_path / "w.duckdb")
    check_writable(folder)  # made, and left empty
    assert folder.is_dir() and not list(folder.iterdir())
    folder.rmdir()
    folder.write_text("a file in the way")
    with pytest.raises(wh.PublishError, match=rf"^the exports folder {re.escape(str(folder))} cannot be written "
                                              r"\(FileExistsError: File exists\); nothing was published"):
        check_writable(folder)


def test_only_this_projects_exports_of_lists_dated_later_are_removed(tmp_path):
    """A list dated after today (2100-01-01) left its exports beside today's when a refresh replaced it,
    sorting as the newest: an inspector picking the newest file got the replaced list."""
    import datetime as dt

    from pipeline.report.exports import exported_as_of, remove_replaced

    folder = tmp_path / "exports"
    folder.mkdir()
    ours = ["inspection_targets_2026-11-01.csv", "inspection_targets_2026-12-02.csv",
            "inspection_targets_2026-12-02.xlsx", "inspection_targets_2100-01-01.csv",
            "inspection_targets_2100-01-01.xlsx", "inspection_targets_2101-06-01.csv"]
    others = ["inspection_targets_2100-01-01.csv.bak", "inspection_targets_2100-01-01 (copy).xlsx",
              "notes_2100-01-01.csv", "inspection_targets_2100-13-45.csv", "inspection_targets_2100-01-01.ods",
              "my_inspection_targets_2100-01-01.csv", ".inspection_targets_2100-01-01.csv.tmp"]
    for name in ours + others:
        (folder / name).write_text("x")
    (folder / "inspection_targets_2100-02-01.csv").mkdir()  # not a file: left alone
    (folder / "inspection_targets_2100-03-01.csv").symlink_to(folder / "notes_2100-01-01.csv")
    assert exported_as_of(folder / ours[3]) == dt.date(2100, 1, 1) and exported_as_of(folder / others[3]) is None

    removed = remove_replaced(folder, dt.date(2026, 12, 2))
    assert {d: [p.name for p in paths] for d, paths in removed.items()} == {
        dt.date(2100, 1, 1): ["inspection_targets_2100-01-01.csv", "inspection_targets_2100-01-01.xlsx"],
        dt.date(2101, 6, 1): ["inspection_targets_2101-06-01.csv"]}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ours[:3] + others + ["inspection_targets_2100-02-01.csv", "inspection_targets_2100-03-01.csv"])
    assert remove_replaced(folder, dt.date(2026, 12, 2)) == {}
    assert remove_replaced(tmp_path / "absent", dt.date(2026, 12, 2)) == {}
    # another warehouse in the folder published today; a first publish as of an earlier month keeps its files
    assert remove_replaced(folder, dt.date(2026, 11, 1), today=dt.date(2026, 12, 2)) == {}
    assert "inspection_targets_2026-12-02.csv" in {p.name for p in folder.iterdir()}


def test_duckdb_started_on_a_thread_is_the_one_the_warehouse_uses(tmp_path, monkeypatch):
    made = []
    real = wh.duckdb.connect
    monkeypatch.setattr(wh.duckdb, "connect", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    monkeypatch.setattr(wh, "_duckdb", wh.functools.cache(wh._duckdb.__wrapped__))  # not started yet
    thread = wh.start_duckdb()
    assert thread is not None and thread.name == "duckdb start" and not thread.daemon
    with wh._staging(tmp_path / "w.duckdb") as con:  # may ask while the thread is still starting it
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        con.commit()
    thread.join(10)
    assert len(made) == 1 and wh._duckdb() is made[0]  # one DuckDB, whichever call came first
    assert wh.start_duckdb() is None  # started: nothing more to start
    with wh.read_only(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("zone", ["Etc/UTC", "UTC", "Europe/London", "Africa/Casablanca", "Australia/Lord_Howe"])
def test_the_run_metadata_the_exports_read_is_what_df_gives(zone):
    """The exports read ``run_metadata`` without ``.df()``'s conversion of a
    column with a time zone by the zone's name (slow the first time): the
    same frame, in any zone, however old or far off the time, or missing."""
    from pipeline.report import exports as ex

    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{zone}'")
        con.execute('CREATE TABLE run_metadata (as_of DATE, refreshed_at TIMESTAMPTZ, n INTEGER, "q""t" TIMESTAMPTZ)')
        con.execute("INSERT INTO run_metadata VALUES (DATE '2026-11-01', TIMESTAMPTZ '2026-03-29 01:30:00.25+00', 1, "
                    "NULL), (NULL, TIMESTAMPTZ '1901-01-01 00:00:00+00', NULL, TIMESTAMPTZ '2031-06-01 12:00:00+00'), "
                    "(DATE '2020-02-29', NULL, 3, TIMESTAMPTZ '2024-10-27 01:00:00.000001+00')")
        pd.testing.assert_frame_equal(ex._run_metadata(con), con.execute("SELECT * FROM run_metadata").df(),
                                      check_exact=True)
        con.execute("CREATE OR REPLACE TABLE run_metadata AS SELECT DATE '2026-11-01' AS as_of")
        pd.testing.assert_frame_equal(ex._run_metadata(con), con.execute("SELECT * FROM run_metadata").df())


def test_a_frame_without_columns_is_refused_as_duckdb_refuses_it(tmp_path):
    with pytest.raises(duckdb.InvalidInputException, match="at least one column"):
        wh.publish(tmp_path / "w.duckdb", {"inspection_targets": targets("2025-01-01"), "empty": pd.DataFrame()})
    assert not (tmp_path / "w.duckdb").exists()


def test_a_table_or_view_named_as_the_frame_written_is_not_read_in_its_place(tmp_path):
    """The tables are copied in from the local frame ``incoming_frame`` by
    DuckDB's replacement scan, which a table or view of that name would
    shadow: one to write, or one in the file a backfill copies."""
    import datetime as dt

    db = tmp_path / "w.duckdb"
    wh.publish(db, {"inspection_targets": targets("2025-03-01"), "incoming_frame": pd.DataFrame({"x": [1, 2]}),
                    "other": pd.DataFrame({"y": [5.0]})})
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT * FROM other").fetchall() == [(5.0,)]
        con.execute("DROP TABLE incoming_frame")
        con.execute("CREATE VIEW incoming_frame AS SELECT 42 AS z")
    wh.publish(db, {"inspection_targets": targets("2025-01-01", offset=50)})  # a backfill: a copy of the file
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT as_of, count(*), min(concern_score) FROM ranking_history GROUP BY 1 "
                           "ORDER BY 1").fetchall() == [(dt.date(2025, 1, 1), 3, 50.0), (dt.date(2025, 3, 1), 3, 0.0)]
