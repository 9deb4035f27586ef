"""Entry point for `dagster dev` and `dg`: everything under pipeline/defs.

The modules' assets, checks, job, schedule and sensor, and the resources
and executor of ``pipeline.defs.resources``, merged as
``dg.load_from_defs_folder`` merges them (tests/test_definitions.py: the
same definitions), without its component machinery: it also looks up every
installed package's component types, for the UI's component library (this
project has none), 0.13-0.16 s of every load of the definitions: the code
server of ``dagster dev``, each run's process, each CLI refresh.
"""

import gc

import dagster as dg

from pipeline.defs import backtest, checks, exports, ingest, jobs, model, publish, rank, resources, sensors

MODULES = (backtest, checks, exports, ingest, jobs, model, publish, rank, sensors)

defs = dg.Definitions.merge(
    dg.Definitions(assets=dg.load_assets_from_modules(MODULES),
                   asset_checks=dg.load_asset_checks_from_modules(MODULES),
                   jobs=[jobs.monthly_refresh], schedules=[jobs.monthly_refresh_schedule],
                   sensors=[sensors.data_dir_changed]),
    resources.defs(),
)

# The cyclic garbage collector's first generation at 10,000 new objects, not
# Python's 700. A refresh allocates millions of short-lived objects (pandas
# indexes, Dagster's events) in a process holding ~250,000 long-lived ones
# (Dagster, pandas, these definitions). At 700 the collector ran ~280 times a
# refresh for ~0.2 s on the demo data, one full pass over the long-lived
# objects landing in the middle of the SciPy import; at 10,000, ~15 times for
# ~0.07 s. Memory is the same to within the few MB the extra objects hold.
gc.set_threshold(10_000, 10, 10)
