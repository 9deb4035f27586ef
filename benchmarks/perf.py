"""Performance benchmark: the monthly refresh against the framework floor,
time per asset, peak memory, and growth at 10x and 100x the demo's rows.

    .venv/bin/python benchmarks/perf.py [--runs 5] [--scales 1,10,100] [--scale-runs 3]

Each run is a fresh process (so peak RSS is that run's own) on a persistent
instance in a fresh $DAGSTER_HOME, as `python -m pipeline refresh` runs it.
The floor's process imports Dagster alone (``floor.floor_from_spec``), so the
refresh's whole process also pays, against it, for the pipeline's imports.
The refresh's process starts its model worker before it imports Dagster,
as the CLI does (``pipeline.model.worker.start_ahead``).
Two wall times per run: the job's execute_in_process alone ("run"), and
the whole process from its start to the run's end ("process": Python's
start-up, imports, loading the definitions, the instance and the run), the
time an analyst waits for the command. Medians. Also: the time to load the
definitions beyond importing Dagster (what `dagster dev` does first). The
refresh fits its outcome model in a worker process (``pipeline.model.worker``),
whose peak RSS is printed beside the run's own.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the indicator tables: the periods x services the statistics score. The
# scale run multiplies them; the annual population estimates grow with the
# services only, and the lookup and inspections with the services.
INDICATOR_FOLDERS = ("first_time_entrants", "reoffending", "custody")
sys.path.insert(0, str(ROOT))


def child(mode: str, data_dir: str, warehouse: str, as_of: str) -> None:
    """One run, in this process; prints a JSON line of figures. The floor's
    ``data_dir`` is the pickled shape of the refresh's graph (``floor.floor_spec``),
    from which it builds its no-op graph importing Dagster alone."""
    if mode == "load":
        return load_child()
    if mode != "floor":  # as the CLI does, before it imports Dagster
        from pipeline.model.worker import start_ahead

        start_ahead()
    import dagster as dg

    if mode == "floor":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from floor import floor_from_spec

        with open(data_dir, "rb") as fh:
            defs = floor_from_spec(pickle.load(fh))
        config = {}
    else:
        from pipeline.definitions import defs

        config = {"resources": {"settings": {"config": {
            "data_dir": data_dir, "warehouse": warehouse, "as_of": as_of}}}}
    job = defs.resolve_job_def("monthly_refresh")
    instance = dg.DagsterInstance.get()  # persistent, as the CLI runs it ($DAGSTER_HOME)
    start = time.perf_counter()
    result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=True)
    wall = time.perf_counter() - start
    ended = time.time()
    peak = peak_mib()
    from pipeline.model.worker import PEAK_MESSAGE  # (after the peak: the floor's process imports Dagster alone)

    steps, started, worker = {}, {}, 0.0
    for rec in instance.all_logs(result.run_id):
        ev = rec.dagster_event
        if ev is None and rec.user_message.startswith(PEAK_MESSAGE):
            worker = float(rec.user_message.split()[-2])  # logged by the resource as it closes it
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            started[ev.step_key] = rec.timestamp
        elif ev.event_type_value == "STEP_SUCCESS":
            steps[ev.step_key] = rec.timestamp - started.get(ev.step_key, rec.timestamp)
    print(json.dumps({"wall": wall, "ended": ended, "peak_mb": peak, "worker_mb": worker, "steps": steps}))


def peak_mib() -> float:
    """This process's peak resident memory in MiB, its own
    (``worker.peak_mib``): ``ru_maxrss``, which a process started by vfork
    and exec, as ``subprocess`` starts it, inherits from its parent, had put
    a 1x run after this script had made the 100x data at 454 MiB, against
    284 MiB. ``ru_maxrss`` where there is no /proc."""
    from pipeline.model.worker import peak_mib as own_peak  # stdlib alone: the floor's process stays Dagster's

    peak = own_peak()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_child() -> None:
    """Seconds to import Dagster, then to load the definitions and resolve the job."""
    start = time.perf_counter()
    import dagster  # noqa: F401

    imported = time.perf_counter()
    from pipeline.definitions import defs

    defs.resolve_job_def("monthly_refresh")
    loaded = time.perf_counter()
    print(json.dumps({"dagster": imported - start, "definitions": loaded - imported}))


def load_figures(runs: int) -> None:
    """Median time to load the definitions beyond importing Dagster, in fresh processes."""
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, __file__, "--child", "load", "", "", ""],
                             capture_output=True, text=True, cwd=ROOT)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"loading the definitions, median of {runs} fresh processes: "
          f"{statistics.median(o['definitions'] for o in out):.2f} s beyond importing Dagster "
          f"({statistics.median(o['dagster'] for o in out):.2f} s)")


def run(mode: str, data_dir: Path, warehouse: Path, as_of: str) -> dict:
    """One run in a fresh process on a fresh persistent instance."""
    home = Path(tempfile.mkdtemp(prefix="dagster_home_"))
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    spawned = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(data_dir), str(warehouse),
                          as_of], capture_output=True, text=True, cwd=ROOT, env=env)
    shutil.rmtree(home, ignore_errors=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{out.stderr[-2000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process"] = figures.pop("ended") - spawned
    return figures


def medians(runs: list[dict]) -> dict:
    steps = {k: statistics.median(r["steps"].get(k, 0.0) for r in runs) for k in runs[0]["steps"]}
    return {"wall": statistics.median(r["wall"] for r in runs),
            "process": statistics.median(r["process"] for r in runs),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs),
            "worker_mb": statistics.median(r["worker_mb"] for r in runs), "steps": steps}


def pair_ratios(pairs: list[tuple[dict, dict]], key: str) -> tuple[float, float, float]:
    """Median, lowest and highest of each refresh's ``key`` time over the
    floor run after it. The machine's speed drifts between pairs more than
    within one, so per-pair ratios show the spread the ratio of medians hides."""
    ratios = [real[key] / floor[key] for real, floor in pairs]
    return statistics.median(ratios), min(ratios), max(ratios)


def floor_spec_file(tmp: Path) -> Path:
    """The refresh's graph's shape, pickled for the floor's processes (``floor.floor_spec``)."""
    from floor import floor_spec

    from pipeline.definitions import defs

    path = tmp / "floor_spec.pickle"
    path.write_bytes(pickle.dumps(floor_spec(defs)))
    return path


def demo_figures(runs: int, demo: Path, tmp: Path, as_of: str) -> None:
    """The refresh and the framework floor on the demo data, medians of ``runs``."""
    spec = floor_spec_file(tmp)
    pairs = [(run("real", demo, tmp / "w.duckdb", as_of), run("floor", spec, tmp / "f.duckdb", as_of))
             for _ in range(runs)]  # interleaved, so load on the machine hits both alike
    real, floor = medians([p[0] for p in pairs]), medians([p[1] for p in pairs])
    print(f"demo data, median of {runs} runs: the run (execute_in_process) / the whole process")
    print(f"  refresh         {real['wall']:7.2f} s / {real['process']:6.2f} s   "
          f"peak RSS {real['peak_mb']:5.0f} MiB (model worker {real['worker_mb']:.0f} MiB)")
    print(f"  framework floor {floor['wall']:7.2f} s / {floor['process']:6.2f} s   "
          f"peak RSS {floor['peak_mb']:5.0f} MiB")
    print(f"  ratio           {real['wall'] / floor['wall']:7.2f} x / {real['process'] / floor['process']:6.2f} x "
          "the floor")
    (w, w_lo, w_hi), (p, p_lo, p_hi) = pair_ratios(pairs, "wall"), pair_ratios(pairs, "process")
    print(f"  per pair        {w:7.2f} x ({w_lo:.2f}-{w_hi:.2f}) / {p:.2f} x ({p_lo:.2f}-{p_hi:.2f}): "
          "median (range) of each refresh over the floor run after it")
    print("  per asset (refresh / floor, seconds):")
    for step, secs in sorted(real["steps"].items(), key=lambda kv: -kv[1]):
        noop = floor["steps"].get(step + "_noop", floor["steps"].get(step, 0.0))
        print(f"    {step:28s} {secs:6.2f} / {noop:5.2f}")


def input_rows(data_dir: Path) -> dict[str, int]:
    """Rows (lines after each header) of the ``.csv`` files in each input folder of ``data_dir``."""
    rows: dict[str, int] = {}
    for f in data_dir.rglob("*.csv"):
        with open(f, "rb") as fh:
            rows[f.parent.name] = rows.get(f.parent.name, 0) + sum(1 for _ in fh) - 1
    return rows


def scale_run(scales: list[int], demo: Path, tmp: Path, as_of: str, runs: int = 3) -> None:
    """Medians of ``runs`` runs at each multiple of the demo's rows (wall
    time; peak memory is the largest seen), all through the same writer.
    The runs go in rounds, each running every multiple once, smallest first,
    so that the machine's drift over the minutes a scale run takes falls on
    every multiple alike, not on the last ones; the growth is also given per
    round (each multiple's run over the first multiple's run of its round:
    median and range), as the floor's ratio is per pair."""
    from scale_data import scaled_copy

    print(f"\nscale run (median of {runs} runs each, in rounds): indicator rows (the periods x services scored) "
          "and all input rows, wall time, peak memory, growth vs the first (per round: median, range)")
    data = {s: scaled_copy(demo, tmp / f"x{s}", s) for s in scales}
    results = {s: [] for s in scales}
    for _ in range(runs):
        for s in scales:
            results[s].append(run("real", data[s], tmp / f"x{s}.duckdb", as_of))
    base = None
    for s in scales:
        wall = statistics.median(r["wall"] for r in results[s])
        peak, worker = max(r["peak_mb"] for r in results[s]), max(r["worker_mb"] for r in results[s])
        rows = input_rows(data[s])
        indicators, inputs = sum(rows[name] for name in INDICATOR_FOLDERS), sum(rows.values())
        base = base or (wall, indicators, inputs)
        growth = [r["wall"] / first["wall"] for r, first in zip(results[s], results[scales[0]])]
        walls = ", ".join(f"{r['wall']:.1f}" for r in results[s])
        print(f"  {s:4d}x  {indicators:9,d} ({indicators / base[1]:3.0f}x)  "
              f"{inputs:9,d} ({inputs / base[2]:3.0f}x)  {wall:7.2f} s  "
              f"{peak:6.0f} MiB (worker {worker:4.0f} MiB)  {wall / base[0]:5.1f}x time "
              f"({statistics.median(growth):.1f}x, {min(growth):.1f}-{max(growth):.1f}x)   (runs: {walls} s)",
              flush=True)


def machine_speed(loops: int = 5_000_000) -> float:
    """Seconds for a fixed pure-Python loop: the machine's speed at the
    moment, printed before and after, since it drifts (a shared machine's
    hour can change every figure here by a third)."""
    start = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i * i
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs on the demo data (0: skip)")
    p.add_argument("--scales", default="1,10,100", help="multiples of the demo's rows ('': skip)")
    p.add_argument("--scale-runs", type=int, default=3, help="runs at each multiple (median)")
    p.add_argument("--as-of", default="2026-11-01")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    print(f"machine speed: a fixed Python loop takes {machine_speed():.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        demo = ROOT / "data" / "demo"
        if args.runs > 0:
            load_figures(args.runs)
            demo_figures(args.runs, demo, Path(tmp), args.as_of)
        scales = [int(s) for s in args.scales.split(",") if s]
        if scales:
            scale_run(scales, demo, Path(tmp), args.as_of, args.scale_runs)
    print(f"machine speed: a fixed Python loop takes {machine_speed():.2f} s")


if __name__ == "__main__":
    main()
