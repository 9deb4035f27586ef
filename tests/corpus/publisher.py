"""Publish a warehouse again from its own tables, as a refresh's last step
does: ``python -m tests.corpus.publisher WAREHOUSE [TIMES]``.

The reliability tests run it in a child process to kill publication at a
pause point (``YJT_PAUSE_AT``, :mod:`pipeline.faults`) without the minutes
of a full refresh, and to swap the file many times a second while readers
query it. Each publication stamps ``run_metadata.refreshed_at`` anew.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.publish import tables as t
from pipeline.publish import warehouse as wh

_VIEW = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)", re.IGNORECASE)


def contents(path: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The warehouse's tables and the CREATE VIEW statements of its views."""
    with duckdb.connect(str(path), read_only=True) as con:
        kinds = con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    names = [n for n, kind in kinds if kind == "BASE TABLE" and n != wh.HISTORY_TABLE]  # rebuilt
    views = {n for n, kind in kinds if kind == "VIEW"}
    statements = [sql for sql in t.view_statements() if _VIEW.search(sql)[1] in views]
    return {n: df for n, df in wh.read_tables(path, names).items() if df is not None}, statements


def republish(path: Path) -> None:
    tables, views = contents(path)
    tables["run_metadata"] = tables["run_metadata"].assign(refreshed_at=pd.Timestamp.now(tz="UTC"))
    wh.publish(path, tables, views)


if __name__ == "__main__":
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 1):
        republish(Path(sys.argv[1]))
