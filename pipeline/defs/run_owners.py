"""Who runs each refresh, so that a run whose process died is not left STARTED.

A refresh killed outright (SIGKILL, the machine's OOM killer, a reboot)
never reports its end, so Dagster's run storage keeps it STARTED for good;
and as ``dagster.yaml`` allows one run at a time, every run queued after it
from the UI or the schedule then waits for good ("1 runs are currently in
progress. Maximum is 1"). So each run records, when it takes the storage
lock (:class:`pipeline.defs.resources.RefreshSettings`), the host and the
process that run it, and :func:`fail_orphaned_runs` marks failed the STARTED
runs of this host whose process has gone. It is called at the start of
every CLI refresh and by the data dir sensor's every evaluation (the daemon's,
under ``dagster dev``). A run without these tags (started by another
version, or killed before it took the lock) or whose process is alive, or
on another host, is never touched.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

HOST_TAG, PID_TAG, STARTED_TAG = "yjt/host", "yjt/pid", "yjt/pid_started"
_PROC = Path("/proc")


def _process_started(pid: int) -> str | None:
    """When process ``pid`` started, as this boot's id and its start in clock
    ticks since boot (Linux's /proc), so that a pid reused by another process
    (after a reboot, say) is not taken for the run's; None where there is no
    such process, or it is a zombie (dead, not yet waited for), or no /proc."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": the name may hold spaces
    return None if fields[0] == "Z" else f"{boot}/{fields[19]}"


def owner_tags() -> dict[str, str]:
    """This process's host, pid and start, as run tags."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: _process_started(pid) or ""}


def claim(instance: dg.DagsterInstance, run_id: str, tags: dict[str, str] | None = None) -> None:
    """Record on run ``run_id`` that this process runs it, with ``tags``
    besides (one write: ``pipeline.defs.lineage``'s stamp)."""
    instance.add_run_tags(run_id, {**owner_tags(), **(tags or {})})


def _alive(pid: int, started: str) -> bool:
    """Whether the process that tagged a run is still running: where its
    start was recorded and /proc can tell, the same process; else any
    process with that pid (``kill -0``)."""
    if started and _PROC.joinpath("self", "stat").exists():
        return _process_started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def fail_orphaned_runs(instance: dg.DagsterInstance, by: str) -> list[dg.DagsterRun]:
    """Mark as failed each run STARTED by a process of this host that has
    gone (``by``: who noticed, in the run's log); returns them. Cheap: one
    query of the run storage for this host's STARTED runs."""
    host = socket.gethostname()
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED],
                                                      tags={HOST_TAG: host}))
    orphans = []
    for run in started:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or _alive(int(pid), run.tags.get(STARTED_TAG, "")):
            continue
        instance.report_run_failed(run, message=(
            f"Marked failed by {by}: the process that ran it (pid {pid} on {host}) has gone, killed before it "
            "could report its end. Its locks went with it; the warehouse is whole (publication swaps in a "
            "complete file)."))
        orphans.append(run)
    return orphans
