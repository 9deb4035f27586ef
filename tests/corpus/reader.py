"""An analyst's session querying the warehouse in a loop, as a child process:
``python -m tests.corpus.reader WAREHOUSE OUT STOP MODE [PAUSE]``.

``held``: one read-only connection opened at start and kept (a session open
before a refresh); ``fresh``: a new read-only connection for every query (a
session opened during one). Each query is one statement reading four
tables, so it is answered from one snapshot; every answer or error is
written to OUT as a JSON line until the file STOP exists, PAUSE seconds
(default 0.01) apart.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

QUERY = """
SELECT (SELECT CAST(as_of AS VARCHAR) FROM run_metadata) AS meta_as_of,
       (SELECT CAST(max(as_of) AS VARCHAR) FROM inspection_targets) AS targets_as_of,
       (SELECT CAST(max(as_of) AS VARCHAR) FROM ranking_history) AS history_as_of,
       (SELECT count(DISTINCT as_of) FROM ranking_history) AS history_runs,
       (SELECT CAST(refreshed_at AS VARCHAR) FROM run_metadata) AS refreshed_at,
       (SELECT count(*) FROM services) AS services
"""


def main(warehouse: str, out: str, stop: str, mode: str, pause: str = "0.01") -> None:
    held = duckdb.connect(warehouse, read_only=True) if mode == "held" else None
    with open(out, "a", encoding="utf-8") as log:
        while not Path(stop).exists():
            start = time.time()
            try:
                if held is not None:
                    row = held.execute(QUERY).fetchone()
                else:
                    with duckdb.connect(warehouse, read_only=True) as con:
                        row = con.execute(QUERY).fetchone()
                entry = {"t": start, "ok": True, "row": list(row)}
            except Exception as exc:  # every error is a finding, never a crash
                entry = {"t": start, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
            entry["seconds"] = time.time() - start
            log.write(json.dumps(entry) + "\n")
            log.flush()
            time.sleep(float(pause))


if __name__ == "__main__":
    main(*sys.argv[1:6])
