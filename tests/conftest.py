"""Shared fixtures: paths to the demo data and the real published files,
and a helper that runs the monthly refresh job into a temporary warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import settings

from pipeline.settings import REPO_ROOT

# The property tests try the same examples on every run (as Hypothesis does
# where $CI is set), so the gate passes or fails on the code alone;
# YJT_HYPOTHESIS=explore draws fresh examples each run, to look for new
# failures (a failure found so becomes a named test or corpus case).
settings.register_profile("gate", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile("explore" if os.environ.get("YJT_HYPOTHESIS") == "explore" else "gate")

DEMO_DIR = REPO_ROOT / "data" / "demo"
REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real"
AS_OF = "2026-11-01"


def run_refresh(data_dir: Path, warehouse: Path, as_of: str = AS_OF, instance=None, **config):
    """The monthly_refresh job in-process on an ephemeral instance (or ``instance``)."""
    from pipeline.definitions import defs

    cfg = {"data_dir": str(data_dir), "warehouse": str(warehouse), "as_of": as_of, **config}
    job = defs.resolve_job_def("monthly_refresh")
    return job.execute_in_process(run_config={"resources": {"settings": {"config": cfg}}},
                                  instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False)


def cli_refresh(tmp_path: Path, *args: str, cwd: Path | None = None, **env: str):
    """`python -m pipeline refresh ARGS` in a fresh process, on its own
    DAGSTER_HOME under ``tmp_path``, with only the environment given. It
    imports this tree's ``pipeline`` from any ``cwd``: the venv's editable
    install points at one checkout, which a worktree's tests would run instead."""
    environment = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path / "home"),
                   "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run([sys.executable, "-m", "pipeline", "refresh", *args],
                          cwd=cwd or REPO_ROOT, env=environment, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="session")
def real_dir() -> Path:
    assert REAL_DIR.is_dir(), f"the real published files are expected at {REAL_DIR}"
    return REAL_DIR


@pytest.fixture(scope="session")
def real_data_dir(tmp_path_factory, real_dir) -> Path:
    """Real services, populations and inspections beside the demo indicators."""
    d = tmp_path_factory.mktemp("real_data")
    for source, files in {
        "services": ["la_to_yjs_crosswalk_2024.csv"],
        "population": ["mye2020_persons_sya_ltla20_ew.csv", "mye2020_persons_sya_utla20_ew.csv"],
        "inspections": ["hmi_youth_justice_inspection_ratings.csv"],
    }.items():
        (d / source).mkdir()
        for name in files:
            shutil.copy(real_dir / name, d / source / name)
    for source in ("first_time_entrants", "reoffending", "custody"):
        shutil.copytree(DEMO_DIR / source, d / source)
    return d
