"""Exports: the published ranked list as CSV and Excel in
``<warehouse's folder>/exports/`` (``pipeline.report.exports``).

Downstream of ``warehouse`` and its blocking checks, so files only appear
for a list that was published and passed them. A refresh that published (not
a backfill) removes the exports of lists dated after its own: lists dated
after today that it replaced, whose files would otherwise sort as the newest.
"""

from __future__ import annotations

import dagster as dg

from pipeline.defs.resources import RefreshSettings
from pipeline.report.exports import exported_as_of, exports_folder, remove_replaced, write_exports

GROUP = "publish"


@dg.asset(group_name=GROUP, kinds={"csv", "excel"}, deps=["warehouse"], description=(
    "The ranked list for inspectors: inspection_targets_<as_of>.csv and .xlsx (a sheet per "
    "recommendation, a per-service profile sheet, an about sheet) in the warehouse's exports/ folder; "
    "a refresh that published removes the exports of lists dated after its own, which it replaced."))
def exports(context, settings: RefreshSettings) -> dg.MaterializeResult:
    warehouse = settings.warehouse_path()
    folder = exports_folder(warehouse)
    paths = write_exports(warehouse, folder)
    metadata = {p.suffix.lstrip("."): dg.MetadataValue.path(str(p)) for p in paths}
    # the files are the published list's: this run's own list only if it published (a backfill's
    # list is in ranking_history alone, and leaves every file as it was)
    listed = exported_as_of(paths[0])
    if listed is not None and listed == settings.as_of_date():
        removed = remove_replaced(folder, listed)
        if removed:
            dates = [str(d) for d in sorted(removed)]
            said = (f"removed the exports of the list as of {dates[0]}, which this refresh replaced"
                    if len(dates) == 1 else
                    f"removed the exports of the lists as of {', '.join(dates[:-1])} and {dates[-1]}, "
                    "since replaced")
            said += f" (it published the list as of {listed})"
            context.log.info(said[0].upper() + said[1:] + ": "
                             + ", ".join(p.name for files in removed.values() for p in files))
            metadata["removed"] = dg.MetadataValue.text(said + ".")
    return dg.MaterializeResult(metadata=metadata)
