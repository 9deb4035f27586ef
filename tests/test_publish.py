"""Atomic publication of the DuckDB warehouse."""

import hashlib

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
    wh.publish(db, {"inspection_targets": targets("2025-03-01", offset=50)})
    wh.publish(db, {"inspection_targets": targets("2025-01-01", offset=0)})
    current = wh.read_table(db, "inspection_targets")
    assert (pd.to_datetime(current["as_of"]) == "2025-03-01").all()
    assert current["concern_score"].min() == 50
    assert wh.read_table(db, "ranking_history")["as_of"].nunique() == 2
