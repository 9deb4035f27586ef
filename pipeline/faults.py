"""Named pause points, so the reliability tests can kill a refresh exactly there.

A refresh calls :func:`pause_point` at the moments where an interruption
matters (``ingest``, ``locked``, ``staging_write``, ``before_swap``). It does
nothing unless ``YJT_PAUSE_AT`` names that point (comma-separated names
allowed): then it writes the point's name to the file ``YJT_PAUSE_MARKER``
(when set), so a test knows the refresh got there, and sleeps
``YJT_PAUSE_SECONDS`` (default 60) so the test can SIGKILL it or start a
second refresh. Production runs never set these variables; the cost is one
environment lookup per point.
"""

from __future__ import annotations

import os
import time

POINTS = ("ingest", "locked", "staging_write", "before_swap")


def pause_point(name: str) -> None:
    """Pause here if ``YJT_PAUSE_AT`` asks for ``name``; otherwise return at once."""
    wanted = os.environ.get("YJT_PAUSE_AT", "")
    if name not in [w.strip() for w in wanted.split(",")]:
        return
    marker = os.environ.get("YJT_PAUSE_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as fh:
            fh.write(f"{name} {os.getpid()}\n")
    time.sleep(float(os.environ.get("YJT_PAUSE_SECONDS", "60")))
