"""Exports: the published ranked list as CSV and Excel in
``<warehouse's folder>/exports/`` (``pipeline.report.exports``).

Downstream of ``warehouse`` and its blocking checks, so files only appear
for a list that was published and passed them.
"""

from __future__ import annotations

import dagster as dg

from pipeline.defs.resources import RefreshSettings
from pipeline.report.exports import exports_folder, write_exports

GROUP = "publish"


@dg.asset(group_name=GROUP, kinds={"csv", "excel"}, deps=["warehouse"], description=(
    "The ranked list for inspectors: inspection_targets_<as_of>.csv and .xlsx (a sheet per "
    "recommendation, a per-service profile sheet, an about sheet) in the warehouse's exports/ folder."))
def exports(settings: RefreshSettings) -> dg.MaterializeResult:
    warehouse = settings.warehouse_path()
    paths = write_exports(warehouse, exports_folder(warehouse))
    return dg.MaterializeResult(metadata={
        p.suffix.lstrip("."): dg.MetadataValue.path(str(p)) for p in paths})
