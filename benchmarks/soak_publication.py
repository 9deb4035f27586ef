"""Soak test of atomic publication: many swaps, random kills, busy readers.

A publisher child re-publishes the warehouse over and over (tests/corpus/
publisher.py) and is SIGKILLed at random moments; readers (tests/corpus/
reader.py: some holding one session, some opening one per query) query it
all along. After every kill the published file must be a whole version,
the one before the kill or one the killed publisher completed, and answer a
query. Prints: swaps, kills, reader queries, reader errors, warehouses lost.

    .venv/bin/python benchmarks/soak_publication.py [--seconds 60] [--readers 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.publish import warehouse as wh  # noqa: E402


def start(module: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", *module], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    db, stop = folder / "warehouse.duckdb", folder / "stop"
    n = 2_000
    wh.publish(db, {
        "inspection_targets": pd.DataFrame({"as_of": pd.Timestamp("2026-01-01"), "rank": range(1, n + 1),
                                            "yjs_id": [f"s{i}" for i in range(n)]}),
        "services": pd.DataFrame({"yjs_id": [f"s{i}" for i in range(n)]}),
        "run_metadata": pd.DataFrame({"as_of": [pd.Timestamp("2026-01-01")],
                                      "refreshed_at": [pd.Timestamp.now(tz="UTC")]}),
    })
    logs = [folder / f"reader{i}.jsonl" for i in range(args.readers)]
    readers = [start(["tests.corpus.reader", str(db), str(log), str(stop), "held" if i % 2 else "fresh"])
               for i, log in enumerate(logs)]
    kills, lost, unchanged = 0, 0, 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        publisher = start(["tests.corpus.publisher", str(db), "1000"])
        time.sleep(random.uniform(1.0, 4.0))  # ~1 s to start, then a swap every ~0.1 s
        publisher.send_signal(signal.SIGKILL)
        publisher.wait()
        kills += 1
        unchanged += hashlib.sha256(db.read_bytes()).hexdigest() == before
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                ok = con.execute("SELECT count(*) FROM inspection_targets").fetchone()[0] == n
        except Exception:  # noqa: BLE001 - a lost warehouse is what we count
            ok = False
        lost += not ok
    stop.touch()
    for reader in readers:
        reader.wait()
    answers = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    errors = [a["error"] for a in answers if not a["ok"]]
    swaps = len({a["row"][4] for a in answers if a["ok"]})
    print(f"kills: {kills} ({unchanged} before any swap); versions seen by readers: {swaps}; "
          f"reader queries: {len(answers):,}; "
          f"reader errors: {len(errors)}; warehouses lost: {lost}; staging left now: "
          f"{len(wh.staging_files(db))} (removed by the next publication)")
    for error in errors[:5]:
        print("   ", error)


if __name__ == "__main__":
    main()
