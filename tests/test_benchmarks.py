"""The benchmark's parts (benchmarks/): the framework floor is the refresh's
own graph with bodies that do nothing, and the scale run's inputs hold the
multiple of the demo's indicator rows they are labelled with."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from pipeline import ingest
from pipeline.settings import REPO_ROOT
from tests.conftest import DEMO_DIR

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from floor import floor_definitions  # noqa: E402
from perf import INDICATOR_FOLDERS, floor_spec_file, input_rows, pair_ratios  # noqa: E402
from scale_data import scaled_copy  # noqa: E402


def test_the_floor_has_the_refreshs_assets_checks_and_steps_and_does_nothing(tmp_path, monkeypatch):
    from pipeline.definitions import defs

    floor = floor_definitions(defs)
    real_graph, floor_graph = defs.resolve_asset_graph(), floor.resolve_asset_graph()
    assert floor_graph.materializable_asset_keys == real_graph.materializable_asset_keys
    assert floor_graph.asset_check_keys == real_graph.asset_check_keys
    for key in real_graph.materializable_asset_keys:  # the same inputs
        assert floor_graph.get(key).parent_keys == real_graph.get(key).parent_keys, key
    real_job, floor_job = (d.resolve_job_def("monthly_refresh") for d in (defs, floor))
    real_steps = {node.name for node in real_job.graph.nodes}
    assert {node.name.removesuffix("_noop") for node in floor_job.graph.nodes} == real_steps
    monkeypatch.chdir(tmp_path)  # nothing may be written: not even the default warehouse
    result = floor_job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success and not list(tmp_path.iterdir())
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(real_graph.asset_check_keys) and all(c.passed for c in checks)


def test_the_floors_process_builds_it_importing_dagster_alone(tmp_path):
    """The benchmark's floor process built the floor from the refresh's definitions, so that its start-up
    paid for pandas, DuckDB and the pipeline's modules, the refresh's own imports: the whole-process ratio
    hid them. It now builds the same graph from its pickled shape, importing Dagster alone."""
    from pipeline.definitions import defs

    path = floor_spec_file(tmp_path)  # as the benchmark pickles it for its floor processes
    code = f"""
import pickle, sys
sys.path.insert(0, {str(REPO_ROOT / "benchmarks")!r})
from floor import floor_from_spec
with open({str(path)!r}, "rb") as fh:
    floor = floor_from_spec(pickle.load(fh))
job = floor.resolve_job_def("monthly_refresh")
print(len(job.graph.nodes), sorted(m for m in ("pandas", "duckdb", "numpy", "scipy", "pipeline") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    steps = len(defs.resolve_job_def("monthly_refresh").graph.nodes)
    assert out.stdout.split(maxsplit=1) == [str(steps), "[]\n"]


@pytest.mark.parametrize("scale", [1, 10])
def test_a_scaled_copy_holds_the_multiple_of_the_demos_indicator_rows(tmp_path, scale):
    base = input_rows(scaled_copy(DEMO_DIR, tmp_path / "x1", 1))
    folder = scaled_copy(DEMO_DIR, tmp_path / f"x{scale}", scale) if scale > 1 else tmp_path / "x1"
    scaled = input_rows(folder)
    for name in INDICATOR_FOLDERS:
        assert scaled[name] == scale * base[name], name
    # and the readers take every row of it
    services = ingest.read_services(folder).table
    for name in ("population", *INDICATOR_FOLDERS, "inspections"):
        read = getattr(ingest, f"read_{name}")(folder, services)
        assert read.quarantine.empty and len(read.table), name


def test_pair_ratios_pair_each_refresh_with_the_floor_run_after_it():
    # the ratio of medians would be 4.0 / 2.0 = 2.0; per pair: 1.5, 2.0, 3.0
    pairs = [({"wall": 3.0}, {"wall": 2.0}), ({"wall": 4.0}, {"wall": 2.0}), ({"wall": 6.0}, {"wall": 2.0})]
    assert pair_ratios(pairs, "wall") == (2.0, 1.5, 3.0)
    pairs = [({"wall": 3.0}, {"wall": 1.0}), ({"wall": 4.0}, {"wall": 4.0})]  # 3.0 and 1.0
    assert pair_ratios(pairs, "wall") == (2.0, 1.0, 3.0)


def test_a_runs_peak_memory_is_its_own_not_its_parents():
    # a child started by subprocess (vfork and exec) carries its parent's peak in ru_maxrss
    big = bytearray(300 * 2**20)
    big[::4096] = b"\x01" * len(big[::4096])  # touched: resident
    code = f"import sys; sys.path.insert(0, {str(REPO_ROOT / 'benchmarks')!r}); import perf; print(perf.peak_mib())"
    peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert peak < 200, peak  # the child's own: Python and the script's imports
    del big
