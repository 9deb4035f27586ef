"""Run settings as a Dagster resource (editable in the launchpad), the
worker process that fits the outcome model, the in-process executor (one
DuckDB writer) and the resource binding."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import threading
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from pipeline import settings as s
from pipeline.defs.lineage import AS_OF_TAG, DATA_DIR_TAG, RULES_TAG
from pipeline.model.worker import PEAK_MESSAGE, Worker, WorkerUnavailable, take_started


RULES, LIMITS = s.RankingRules(), s.Limits()  # the defaults
STORAGE_LOCK_WAIT = 600.0  # s a run from the UI or the schedule waits for another refresh to finish


def _weight(part: str) -> str:
    """The launchpad's description of a concern-score weight."""
    return f"Weight of {part} in the concern score, 0 to 10."


class RefreshSettings(dg.ConfigurableResource):
    """Where to read, where to publish, the as-of date and the ranking rules.

    Empty paths and dates fall back to YJT_DATA_DIR / YJT_WAREHOUSE / YJT_AS_OF,
    then to the defaults (data/demo, data/warehouse.duckdb, today).
    """

    # The launchpad shows each field's description beside its value: an empty
    # path or date reads as "not set" unless it says what it falls back to.
    data_dir: str = Field(default="", description=(
        f"Input folder, one subfolder per source. Empty: $YJT_DATA_DIR, else {s.DEFAULT_DATA_DIR}. "
        "A relative path is taken from the repo root."))
    warehouse: str = Field(default="", description=(
        f"DuckDB file to publish. Empty: $YJT_WAREHOUSE, else {s.DEFAULT_WAREHOUSE}. "
        "A relative path is taken from the repo root."))
    as_of: str = Field(default="", description=(
        "Rank as an analyst would have on this date, YYYY-MM-DD: only indicator periods ended by it "
        "less the publication lag, only inspections published by it. Empty: $YJT_AS_OF, else today. "
        "A month's partition sets it to the month's first day."))
    lag_months: int = Field(default=RULES.lag_months, description=(
        "Indicator publication lag in months: periods ending after as_of less this are not used."))
    n_full_joint: int = Field(default=RULES.n_full_joint, description="Full joint inspections to recommend.")
    n_benchmark: int = Field(default=RULES.n_benchmark, description="Benchmark visits to recommend.")
    exclusion_months: int = Field(default=RULES.exclusion_months, description=(
        "Services inspected within this many months before as_of are not recommended for either visit."))
    weight_fte: float = Field(default=RULES.weights["fte"], description=_weight("the first-time entrants indicator"))
    weight_reoffending: float = Field(default=RULES.weights["reoffending"],
                                      description=_weight("the proven reoffending indicator"))
    weight_custody: float = Field(default=RULES.weights["custody"],
                                  description=_weight("the custodial sentences indicator"))
    weight_inspection: float = Field(default=RULES.weights["inspection"],
                                     description=_weight("the last inspection's rating"))
    weight_time_since_inspection: float = Field(default=RULES.weights["time_since_inspection"],
                                                description=_weight("the time since the last inspection"))
    weight_outcome_model: float = Field(default=RULES.weights["outcome_model"], description=_weight(
        "the outcome model's score") + " The default 0 leaves it out (README: Back-test and outcome model).")
    # plausibility guards (pipeline.model.guards): 0 / 1 switch a check off
    max_national_rate_factor: float = Field(default=LIMITS.max_national_rate_factor, description=(
        "Stop the refresh if a national rate moves by more than this factor from the published one; 0: off."))
    max_services_dropped_share: float = Field(default=LIMITS.max_services_dropped_share, description=(
        "Stop the refresh if more than this share of the published services disappears; 1: off."))
    max_inspections_lost_share: float = Field(default=LIMITS.max_inspections_lost_share, description=(
        "Stop the refresh if it would lose more than this share of the published inspections; "
        "1: off, for a genuine correction."))

    _lock: contextlib.ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse bad settings (SettingsError, one line naming the setting)
        when the run starts, not in the first step that reads them; then,
        in a run, take the instance's storage lock (waiting up to
        ``STORAGE_LOCK_WAIT`` s for another refresh to finish), held until
        the run ends: runs sharing a Dagster home would otherwise mix their
        assets' outputs (:func:`pipeline.publish.warehouse.storage_lock`).
        With the lock, the run is tagged with the host and process running
        it, so that it is marked failed if that process dies unreported
        (:mod:`pipeline.defs.run_owners`)."""
        self.as_of_date(), self.rules(), self.guard_limits(), s.check_warehouse(self.warehouse_path())
        if context.run is None or context.instance is None:  # a sensor's evaluation: no outputs
            return
        from pipeline.defs.run_owners import claim
        from pipeline.publish.warehouse import start_duckdb, storage_lock

        start_duckdb()  # ready on another core by the time the warehouse step needs it
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(storage_lock(context.instance.storage_directory(), STORAGE_LOCK_WAIT))
        claim(context.instance, context.run.run_id, self.stamp())

    def stamp(self) -> dict[str, str]:
        """What this run's outputs depend on, as run tags: the data dir, the
        as-of date and the ranking rules, resolved (``pipeline.defs.lineage``)."""
        rules = self.rules()
        return {DATA_DIR_TAG: str(self.data_path()), AS_OF_TAG: self.as_of_date().isoformat(),
                RULES_TAG: json.dumps(dataclasses.asdict(rules), sort_keys=True)}

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def data_path(self) -> Path:
        return s.resolve_path(self.data_dir, "YJT_DATA_DIR", s.DEFAULT_DATA_DIR)

    def warehouse_path(self) -> Path:
        return s.resolve_path(self.warehouse, "YJT_WAREHOUSE", s.DEFAULT_WAREHOUSE)

    def as_of_date(self) -> dt.date:
        return s.resolve_as_of(self.as_of)

    def guard_limits(self) -> s.Limits:
        return s.Limits(self.max_national_rate_factor, self.max_services_dropped_share,
                        self.max_inspections_lost_share)

    def rules(self) -> s.RankingRules:
        return s.RankingRules(
            n_full_joint=self.n_full_joint, n_benchmark=self.n_benchmark,
            exclusion_months=self.exclusion_months, lag_months=self.lag_months,
            weights={"fte": self.weight_fte, "reoffending": self.weight_reoffending,
                     "custody": self.weight_custody, "inspection": self.weight_inspection,
                     "time_since_inspection": self.weight_time_since_inspection,
                     "outcome_model": self.weight_outcome_model},
        )


class ModelWorker(dg.ConfigurableResource):
    """The process that fits the outcome model (``pipeline.model.worker``).

    Started when a run with a step that uses it starts (ingest to back-test),
    so that it imports scikit-learn on another core while the run reads and
    scores; closed when the run ends (at once if it was never called). A
    step can ``start`` a call for a later step of the same run to
    ``collect``: the outcome model's fit starts with the back-test's
    rankings (on a small panel the worker ranks the months the model learns
    from itself; on a large one the fit starts once they are ranked). The
    back-test shares the boosted trees' monthly refits with it, when they
    are the model. On large inputs the services step gives it the largest
    input folder to read, the indicator panel about half its rows to score
    and the back-test's rankings half their months.
    Where it cannot start, or dies, the work is done in the run's own process
    instead, with a warning: the same result, later. ``in_process: true``
    skips the worker.
    """

    in_process: bool = False
    _worker: Worker | None = PrivateAttr(default=None)
    _started: dict = PrivateAttr(default_factory=dict)
    _sent: int = PrivateAttr(default=0)  # calls sent to the worker, numbered from 1
    _received: int = PrivateAttr(default=0)
    _answers: dict = PrivateAttr(default_factory=dict)  # received, not yet asked for: n -> (ok, value)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._started, self._sent, self._received, self._answers = {}, 0, 0, {}
        ahead = take_started()  # the CLI's, started before it imported Dagster
        if self.in_process:
            if ahead is not None:
                ahead.close(timeout=0.0)
            return
        try:
            self._worker = ahead or Worker()
        except WorkerUnavailable as e:
            context.log.warning(f"{e}; the outcome model will be fitted in the run's process")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._started = {}
        if self._worker is not None:
            peak = self._worker.peak_mib()
            if self._sent and self._received == self._sent:
                # Every answer is in: the child exits as its stdin closes.
                # The run does not wait for the kernel to tear it down
                # (~30 ms for its ~200 MiB); a thread reaps it.
                threading.Thread(target=self._worker.close, name="model worker close", daemon=True).start()
            else:
                # a call still running (started, never collected) is not waited
                # for, nor the imports of a worker that was never called
                self._worker.close(timeout=0.0 if not self._sent else 0.5)
            self._worker = None
            if peak is not None:
                context.log.info(f"{PEAK_MESSAGE} {peak:.0f} MiB")

    @property
    def running(self) -> bool:
        """Whether the worker is running (calls go there, not into this process)."""
        return self._worker is not None

    @property
    def warm(self) -> bool:
        """Whether the worker is running and has done its imports: a call
        sent now starts at once unless an earlier one is running."""
        return self._worker is not None and self._worker.warm()

    def submit(self, log, fn, *args):
        """Start ``fn(*args)`` in the worker if it is running; returns a
        function that waits for the result (and computes it here if the
        worker is not running or dies first). Results may be asked for in
        any order. The function also has ``ready()``: whether asking will
        not wait for the worker (its result is in, or the call is computed
        here when asked)."""
        if self._worker is not None:
            try:
                self._worker.send(fn, *args)
            except WorkerUnavailable as e:
                self._gone(log, e)
            else:
                self._sent += 1
                wait = functools.partial(self._receive, log, self._sent, fn, args)
                wait.ready = functools.partial(self._ready, log, self._sent)
                return wait
        here = functools.partial(fn, *args)
        here.ready = lambda: True
        return here

    def _ready(self, log, n: int) -> bool:
        # read the answers the worker has finished, up to call n's, without waiting
        while n > self._received and self._worker is not None and self._worker.answer_waiting():
            self._take_answer(log)
        return n in self._answers or self._worker is None

    def start(self, log, key: str, fn, *args) -> None:
        """``submit(fn, *args)`` now, for a later step of this run to
        ``collect`` under ``key``."""
        self._started[key] = self.submit(log, fn, *args)

    def collect(self, key: str):
        """The function that waits for the call started under ``key`` in this
        run (see ``submit``), or None if none was started."""
        return self._started.pop(key, None)

    def call(self, log, fn, *args):
        """``fn(*args)``, in the worker if it is running, else here."""
        return self.submit(log, fn, *args)()

    def _receive(self, log, n: int, fn, args):
        # the worker answers in the order the calls were sent: keep the
        # answers to earlier calls until they are asked for
        while n > self._received and self._worker is not None:
            self._take_answer(log)
        if n in self._answers:
            ok, value = self._answers.pop(n)
            if ok:
                return value
            raise value
        return fn(*args)

    def _take_answer(self, log) -> None:
        """Read the worker's next answer into ``_answers`` (or notice it has gone)."""
        try:
            answer = (True, self._worker.receive())
        except WorkerUnavailable as e:
            self._gone(log, e)
            return
        except Exception as e:  # noqa: BLE001  (the call's own error, raised to whoever asks)
            answer = (False, e)
        self._received += 1
        self._answers[self._received] = answer

    def _gone(self, log, e: WorkerUnavailable) -> None:
        log.warning(f"{e}; computing in the run's process instead")
        self._worker.close(timeout=1.0)
        self._worker = None


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"settings": RefreshSettings(), "model_worker": ModelWorker()},
                          executor=dg.in_process_executor)
