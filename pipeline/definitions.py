"""Entry point for `dagster dev` and `dg`: everything under pipeline/defs."""

import gc
from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)

# The cyclic garbage collector's first generation at 10,000 new objects, not
# Python's 700. A refresh allocates millions of short-lived objects (pandas
# indexes, Dagster's events) in a process holding ~250,000 long-lived ones
# (Dagster, pandas, these definitions). At 700 the collector ran ~280 times a
# refresh for ~0.2 s on the demo data, one full pass over the long-lived
# objects landing in the middle of the SciPy import; at 10,000, ~15 times for
# ~0.07 s. Memory is the same to within the few MB the extra objects hold.
gc.set_threshold(10_000, 10, 10)
