"""A sensor that asks for a refresh when the input files change.

Analysts drop new releases into the data dir between schedule ticks; this
notices within a few minutes. The cursor holds a fingerprint of every file's
name, size and modification time (cheap: no file is read). The first tick
only records it, so switching the sensor on never triggers a refresh by
itself; the run key names the change, so one change is refreshed once.

Each evaluation, run by the daemon under ``dagster dev``, also marks failed
the runs left STARTED by a process that died (``run_owners``): one such
run would hold back every queued run, as one run at a time is allowed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg

from pipeline.defs.jobs import monthly_refresh
from pipeline.defs.resources import RefreshSettings
from pipeline.defs.run_owners import PID_TAG, fail_orphaned_runs

SENSOR_INTERVAL_S = 120


def data_fingerprint(data_dir: Path) -> str:
    """A digest of the names, sizes and mtimes of every file under data_dir
    (hidden files and editors' lock files ignored)."""
    h = hashlib.sha256(str(data_dir).encode())
    if not data_dir.is_dir():
        return h.hexdigest()
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith((".", "~$")):
                continue
            path = Path(root) / name
            try:
                st = path.stat()
            except FileNotFoundError:  # removed while we walked
                continue
            h.update(f"{path.relative_to(data_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _fail_orphaned_runs(context: dg.SensorEvaluationContext) -> None:
    """Mark failed the runs whose process died, saying so in the sensor's log."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # evaluated in a test without an instance
        return
    try:
        orphans = fail_orphaned_runs(instance, by="the data_dir_changed sensor")
    except Exception as error:  # noqa: BLE001  (a side job: the sensor still looks at the data dir)
        context.log.warning(f"could not look for runs whose process died: {error}")
        return
    for run in orphans:
        context.log.warning(f"Marked run {run.run_id} failed: its process (pid {run.tags.get(PID_TAG)}) "
                            "has gone, so queued runs can start.")


@dg.sensor(job=monthly_refresh, minimum_interval_seconds=SENSOR_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests a monthly_refresh when files in the data dir are added, changed or removed.")
def data_dir_changed(context: dg.SensorEvaluationContext, settings: RefreshSettings):
    _fail_orphaned_runs(context)
    data_dir = settings.data_path()
    fingerprint = data_fingerprint(data_dir)
    if context.cursor is None:
        context.update_cursor(fingerprint)
        return dg.SkipReason(f"recorded the files in {data_dir}; a change will request a refresh")
    if fingerprint == context.cursor:
        return dg.SkipReason(f"no change in {data_dir}")
    previous = context.cursor
    context.update_cursor(fingerprint)
    # keyed on the change, so files changed back to an earlier state refresh again
    return dg.RunRequest(run_key=f"data-{previous[:12]}-{fingerprint[:12]}",
                         tags={"trigger": "data_dir_changed"})
