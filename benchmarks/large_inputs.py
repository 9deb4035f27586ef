"""Peak memory and time of reading very large input files.

Each reading runs in a fresh child process, so its peak resident memory
(``ru_maxrss``) is its own: a 1,000,000-row first-time entrants file (over
the 250,000 rows a per-service table may have: refused, one line), a
1,000,000-row population file in the long layout (every age of 1,100
areas over 10 years; ages 10-17 of the lookup's 12 areas kept, those of the
other areas quarantined: read), a 250,000-row first-time entrants file (at
the limit: read), and the YJB's outcome table as an .ods of 150,000 rows
(a cover sheet, then every caution and sentence of every service and year
by gender: read, its custody rows summed).

    .venv/bin/python benchmarks/large_inputs.py [--rows 1000000] [--ods-rows 150000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.corpus import base  # noqa: E402
from tests.corpus.sheets import write_ods_xml  # noqa: E402

CHILD = """
import resource, sys, time
from pathlib import Path
from pipeline import ingest
d, source = Path(sys.argv[1]), sys.argv[2]
start = time.time()
services = ingest.read_services(d).table
try:
    got = getattr(ingest, "read_" + source)(d, services)
    outcome = f"read: {len(got.table):,} rows kept, {len(got.quarantine):,} quarantined"
except ingest.IngestError as e:
    outcome = f"refused: {e}"
print(f"{outcome} | {time.time() - start:.1f} s | peak RSS "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
"""


def fte(path: Path, rows: int) -> None:
    names = list(base.SERVICES)
    with open(path, "w") as fh:
        fh.write("yjs_name,period_end,period_months,fte_count\n")
        months = 12 * 120  # 1900-2019
        for i in range(rows):  # distinct keys (service, period, length): every row is kept
            month = (i // len(names)) % months
            length = 1 + i // (len(names) * months)
            fh.write(f"{names[i % len(names)]},{1900 + month // 12}-{month % 12 + 1:02d},{length},{i % 97}\n")


def population(path: Path, rows: int) -> None:
    """Every age of 1,100 areas (the 12 of the lookup, then others) over the years."""
    codes = [line.split(",")[0] for line in base.SERVICES_CSV.splitlines()[1:]]
    codes += [f"E0{n:08d}" for n in range(1_100 - len(codes))]
    ages = [str(a) for a in range(90)] + ["90+"]
    with open(path, "w") as fh:
        fh.write("la_code,year,age,population\n")
        for i in range(rows):
            cell = i // len(ages)
            year = 2000 + cell // len(codes)
            fh.write(f"{codes[cell % len(codes)]},{year},{ages[i % len(ages)]},2500\n")


def outcome_ods(path: Path, rows: int) -> None:
    """The YJB outcome table as LibreOffice writes an .ods: typed cells, each with its text."""
    random.seed(0)
    names = list(base.SERVICES)
    tiers = [("Youth Caution", "Pre Court"), ("Referral Order", "First Tier"),
             ("Youth Rehabilitation Order", "Community"), ("Detention And Training Order", "Custody")]

    def cell(value) -> str:
        if isinstance(value, int):
            return (f'<table:table-cell office:value-type="float" office:value="{value}" calcext:value-type="float">'
                    f"<text:p>{value}</text:p></table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    def row(values) -> str:
        return "<table:table-row>" + "".join(map(cell, values)) + "</table:table-row>"

    def tables():
        yield '<table:table table:name="Cover">' + row(["Youth justice statistics: local level outcome table"])
        yield '</table:table><table:table table:name="Outcome_Table">'
        yield row(["Financial_Year", "YJS", "Caution_or_sentence_type", "Caution_or_sentence_tier", "Gender",
                   "Number_Cautioned_Sentenced"])
        for _ in range(rows):
            year = random.randint(2013, 2024)
            kind, tier = random.choice(tiers)
            yield row([f"{year}-{(year + 1) % 100:02d}", random.choice(names), kind, tier,
                       random.choice(["Male", "Female"]), random.randint(1, 9)])
        yield "</table:table>"

    write_ods_xml(path, tables())


def run(case: str, make, source: str, rows: int, name: str = "big.csv") -> None:
    with tempfile.TemporaryDirectory() as folder:
        d = base.build(Path(folder) / "data")
        target = d / source / name
        for old in (d / source).glob("*.csv"):
            old.unlink()
        start = time.time()
        make(target, rows)
        size = target.stat().st_size / 2**20
        out = subprocess.run([sys.executable, "-c", CHILD, str(d), source], cwd=ROOT,
                             capture_output=True, text=True)
        print(f"{case}: {rows:,} rows, {size:,.0f} MB written in {time.time() - start:.1f} s")
        print("   ", (out.stdout or out.stderr).strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ods-rows", type=int, default=150_000)
    args = parser.parse_args()
    run("first-time entrants", fte, "first_time_entrants", args.rows)
    run("population, long layout", population, "population", args.rows)
    run("first-time entrants at the limit", fte, "first_time_entrants", 250_000)
    run("custody, the YJB outcome table as .ods", outcome_ods, "custody", args.ods_rows, "Outcome_Table.ods")


if __name__ == "__main__":
    main()
