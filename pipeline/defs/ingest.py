"""Ingest: one asset per input folder. Each reads every file of its folder
under the data dir and returns the tidy rows, the quarantined rows and the
files read (see ``pipeline.ingest``).

The run reads the folders one after another. On large inputs the largest
folder is read by the model worker instead (``ModelWorker``), started by the
``services`` step, which every other folder's reader needs, and collected by
that folder's own step: the worker is otherwise idle until the indicator
panel. On small inputs, where the worker has done its imports by then (the
CLI starts it before it imports Dagster: ``worker.start_ahead``), it reads
every folder, in the order the steps take them."""

from __future__ import annotations

import dagster as dg

from pipeline import ingest
from pipeline.defs.metadata import md_table
from pipeline.defs.resources import ModelWorker, RefreshSettings

GROUP = "ingest"
# the largest folder is read by the worker from this size; below it, sending
# the work costs more than it saves
READ_ELSEWHERE_FROM_BYTES = 5 * 2**20
READERS = {}  # source folder -> reader, filled by _source_asset


def _result(ingested: ingest.Ingested) -> dg.Output:
    t = ingested.table
    return dg.Output(ingested, metadata={
        "rows": dg.MetadataValue.int(len(t)),
        "quarantined": dg.MetadataValue.int(len(ingested.quarantine)),
        "files": md_table(ingested.files[["file", "rows", "sha256"]], floatfmt="g"),
        "preview": md_table(t, rows=10, floatfmt="g"),
    })


def _started(name: str) -> str:
    return f"read {name}"


@dg.asset(group_name=GROUP, kinds={"pandas", "csv"},
          description="Local authority to youth justice service lookup (services/).")
def services(context, settings: RefreshSettings, model_worker: ModelWorker) -> dg.Output:
    data_dir = settings.data_path()
    result = ingest.read_services(data_dir)
    sizes = {name: ingest.folder_bytes(data_dir, name) for name in READERS} if model_worker.running else {}
    largest = max(sizes, key=sizes.get, default=None)
    # rows dated after the refresh are quarantined, unless the run is asked
    # to rank as of a later date (a simulation)
    args = (data_dir, result.table, settings.as_of_date())  # ingest.read_dated's, after the reader
    if largest is not None and sizes[largest] >= READ_ELSEWHERE_FROM_BYTES:
        model_worker.start(context.log, _started(largest), ingest.read_dated, READERS[largest], *args)
        context.log.info(f"{largest}/ ({sizes[largest] / 2**20:.1f} MiB) is read by the model worker "
                         "while the run reads the other folders")
    elif sizes and model_worker.warm:
        # small inputs and a worker with its imports done (started by the
        # CLI before the run): it reads every folder, in the order the run's
        # steps take them, while the run records this step and its checks
        for name in sorted(READERS):
            model_worker.start(context.log, _started(name), ingest.read_dated, READERS[name], *args)
        context.log.info("every other folder is read by the model worker (its imports done before the run) "
                         "while the run records this step and its checks")
    return _result(result)


def _source_asset(name: str, reader, description: str):
    READERS[name] = reader

    @dg.asset(name=name, group_name=GROUP, kinds={"pandas", "csv"}, description=description)
    def _asset(settings: RefreshSettings, model_worker: ModelWorker, services: ingest.Ingested) -> dg.Output:
        read = model_worker.collect(_started(name))  # read by the worker, if services started it
        if read is not None:
            return _result(read())
        return _result(ingest.read_dated(reader, settings.data_path(), services.table, settings.as_of_date()))
    return _asset


population = _source_asset(
    "population", ingest.read_population,
    "ONS mid-year populations aged 10-17 per local authority (population/), carried to 2024 codes.")
first_time_entrants = _source_asset(
    "first_time_entrants", ingest.read_first_time_entrants,
    "First-time entrants to the youth justice system per service and period (first_time_entrants/).")
reoffending = _source_asset(
    "reoffending", ingest.read_reoffending,
    "Proven reoffending cohorts per service: cohort size, reoffenders, reoffences (reoffending/).")
custody = _source_asset(
    "custody", ingest.read_custody,
    "Custodial sentences per service and period, incl. the YJB Outcome_Table layout (custody/).")
inspections = _source_asset(
    "inspections", ingest.read_inspections,
    "Past HMI Probation inspections with their overall rating on either scale (inspections/).")
