"""The model worker: the outcome model fitted in a subprocess is the model
fitted in-process, errors come back as errors, a dead worker is replaced by
fitting in-process, and the refresh's own process never imports
scikit-learn when the logistic regression is chosen."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import time

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipeline.backtest import outcomes, rankings
from pipeline.defs.resources import ModelWorker
from pipeline.model import outcome, panel
from pipeline.model.worker import Worker, WorkerUnavailable
from pipeline.settings import REPO_ROOT, RankingRules
from tests.conftest import AS_OF, DEMO_DIR
from tests.test_backtest import AS_OF as AS_OF_SMALL
from tests.test_backtest import few_outcomes_enough, small, small_monthly  # noqa: F401  (fixtures)
from tests.test_outcome_model import synthetic_table


def assert_same_model(a: outcome.OutcomeModel, b: outcome.OutcomeModel, t: pd.DataFrame) -> None:
    assert (a.name, a.calibration, a.n_train, a.n_adverse, a.reason) == (
        b.name, b.calibration, b.n_train, b.n_adverse, b.reason)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients)
    pd.testing.assert_series_equal(a.probability(t), b.probability(t))


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    assert w.close() == 0  # exits cleanly when its stdin closes


@pytest.mark.parametrize("signal", [1.2, 0.0])
def test_the_worker_fits_the_model_fitted_in_process(worker, signal):
    t = synthetic_table(signal=signal)
    there, here = worker.call(outcome.fit, t), outcome.fit(t)
    assert_same_model(there, here, t)  # to the last bit: assert_*_equal compare exactly here
    if here.name == "logistic":
        assert isinstance(there.estimator, outcome.NumpyLogistic)


def test_too_few_inspections_come_back_as_the_reason(worker):
    t = synthetic_table(n=20)
    m = worker.call(outcome.fit, t)
    assert not m.fitted and "too few inspections" in m.reason
    assert m.probability(t).isna().all()


def test_an_error_in_the_worker_is_raised_with_its_traceback(worker):
    with pytest.raises(KeyError, match="adverse") as info:
        worker.call(outcome.fit, pd.DataFrame({"x": [1, 2]}))
    assert any("in the model worker" in n and "Traceback" in n for n in info.value.__notes__)
    assert worker.call(sum, [1, 2, 3]) == 6  # and it goes on serving


def test_a_worker_that_dies_says_so():
    w = Worker()
    with pytest.raises(WorkerUnavailable, match="exited \\(code 3\\)"):
        w.call(os._exit, 3)
    assert w.close() == 3


def test_a_call_is_handed_over_while_the_worker_is_busy(tmp_path):
    # the run goes on while the worker imports or works: sending does not wait for it
    w = Worker()
    go = tmp_path / "go"
    w.send(subprocess.run, ["sh", "-c", f"while [ ! -e '{go}' ]; do sleep 0.05; done"])
    payload = b"x" * (8 * 2**20)  # far more than a pipe holds
    sender = threading.Thread(target=w.send, args=(len, payload))
    sender.start()
    sender.join(60)
    handed_over = not sender.is_alive()
    go.touch()  # the first call ends
    assert w.receive().returncode == 0 and w.receive() == len(payload)
    assert handed_over
    assert w.close() == 0


def test_the_resource_fits_in_process_when_its_worker_is_gone(caplog):
    resource = ModelWorker()
    context = dg.build_init_resource_context()
    resource.setup_for_execution(context)
    resource._worker._proc.kill()
    t = synthetic_table(seed=7)
    log = logging.getLogger("test_model_worker")
    with caplog.at_level(logging.WARNING, logger="test_model_worker"):
        m = resource.call(log, outcome.fit, t)
    assert "computing in the run's process instead" in caplog.text
    assert_same_model(m, outcome.fit(t), t)
    resource.teardown_after_execution(context)
    in_process = ModelWorker(in_process=True)
    in_process.setup_for_execution(context)
    assert in_process._worker is None and in_process.call(log, sum, [2, 3]) == 5
    assert in_process.submit(log, sum, [2, 3]).ready()  # computed here when asked: never waits


def test_calls_started_by_one_step_are_collected_by_another_in_any_order():
    resource = ModelWorker()
    context = dg.build_init_resource_context()
    log = logging.getLogger("test_model_worker")
    resource.setup_for_execution(context)
    try:
        resource.start(log, "fit", sum, [1, 2])
        later = resource.submit(log, max, [4, 9, 2])
        failing = resource.submit(log, int, "not a number")
        assert resource.collect("other") is None
        # asked for out of order: the earlier answers are kept until asked for
        assert later() == 9
        with pytest.raises(ValueError, match="not a number"):
            failing()
        assert resource.collect("fit")() == 3 and resource.collect("fit") is None
        assert resource.call(log, min, [5, 6]) == 5  # the worker goes on answering in order
        resource.start(log, "never collected", sum, [1])
    finally:
        resource.teardown_after_execution(context)
    resource.setup_for_execution(context)  # a new run starts with nothing started
    try:
        assert resource.collect("never collected") is None
    finally:
        resource.teardown_after_execution(context)


def test_the_backtest_without_its_rankings_in_the_run_fits_the_model_itself(tmp_path):
    # the fit is started by backtest_rankings; re-materialising the back-test
    # alone (its rankings loaded from the run before) starts it there
    from pipeline.definitions import defs

    job = defs.resolve_job_def("monthly_refresh")
    cfg = {"resources": {"settings": {"config": {
        "data_dir": str(DEMO_DIR), "warehouse": str(tmp_path / "w.duckdb"), "as_of": AS_OF}}}}
    keys = [dg.AssetKey(k) for k in ("outcome_model", "backtest_scores", "backtest_metrics")]
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        full = job.execute_in_process(run_config=cfg, instance=instance)
        alone = job.execute_in_process(run_config=cfg, instance=instance, asset_selection=keys)
    assert full.success and alone.success
    assert {e.asset_key for e in alone.get_asset_materialization_events()} == set(keys)
    for name in ("backtest_scores", "backtest_metrics"):
        pd.testing.assert_frame_equal(alone.output_for_node("backtest", name),
                                      full.output_for_node("backtest", name))
    assert_same_model(alone.output_for_node("backtest", "outcome_model"),
                      full.output_for_node("backtest", "outcome_model"),
                      full.output_for_node("backtest_rankings").head(50))


def test_the_logistic_model_scores_as_scikit_learn_to_the_last_bit():
    t = synthetic_table(seed=9)
    sk = outcome.fit_estimator(t, "logistic")
    X = outcome.matrix(t)
    np.testing.assert_array_equal(outcome.NumpyLogistic.from_pipeline(sk).decision_function(X),
                                  sk.decision_function(X))


def test_the_refresh_process_never_imports_scikit_learn(tmp_path):
    """The demo refresh (the logistic regression is chosen there) in a fresh
    process: scikit-learn is imported only by the worker."""
    code = (
        "import sys, dagster as dg\n"
        "from pipeline.definitions import defs\n"
        f"cfg = {{'data_dir': {str(DEMO_DIR)!r}, 'warehouse': {str(tmp_path / 'w.duckdb')!r}, "
        f"'as_of': {AS_OF!r}}}\n"
        "inst = dg.DagsterInstance.ephemeral()\n"
        "r = defs.resolve_job_def('monthly_refresh').execute_in_process(\n"
        "    run_config={'resources': {'settings': {'config': cfg}}}, instance=inst)\n"
        "model = r.output_for_node('backtest', 'outcome_model')\n"
        "peak = [x.user_message for x in inst.all_logs(r.run_id) if 'model worker: peak' in x.user_message]\n"
        "print(r.success, model.name, sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')[:3])\n"
        "print(peak)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split("\n")
    assert lines[-3] == "True logistic []"
    assert "model worker: peak memory" in lines[-2]  # the worker ran, and was closed


def test_the_back_tests_boosting_refits_shared_with_the_worker_give_the_same_scores(
        small, small_monthly, few_outcomes_enough, worker):  # noqa: F811
    # which months get a model is decided here; the worker refits on the rows it is sent
    insp, monthly = small[3], small_monthly
    resource, context = ModelWorker(), dg.build_init_resource_context()
    log = logging.getLogger("test_model_worker")
    sent = []

    def submit(fn, *args):  # as the refresh's: the waiting function can say when it is done
        sent.append(len(args[-1]))  # refits sent
        return resource.submit(log, fn, *args)

    alone = outcomes.model_logits(monthly, insp, AS_OF, "boosting")
    resource.setup_for_execution(context)
    try:
        shared = outcomes.model_logits(monthly, insp, AS_OF, "boosting", submit=submit)
    finally:
        resource.teardown_after_execution(context)
    assert np.isfinite(alone).sum() > 100
    assert len(sent) >= outcomes.AHEAD and set(sent) == {1}  # one refit at a time
    np.testing.assert_array_equal(shared, alone)

    def blind(fn, *args):  # a waiting function that cannot say: the worker gets the last two
        sent.append(len(args[-1]))
        worker.send(fn, *args)
        return worker.receive

    sent.clear()
    np.testing.assert_array_equal(outcomes.model_logits(monthly, insp, AS_OF, "boosting", submit=blind), alone)
    assert sent == [1] * outcomes.AHEAD
    # the logistic refits (~1 ms each) are not sent
    sent.clear()
    outcomes.model_logits(monthly, insp, AS_OF, "logistic", submit=submit)
    assert not sent


def test_the_worker_says_it_has_done_its_imports_before_its_first_answer():
    # backtest_rankings has the worker rank the model's months itself only
    # once it is warm; the signal takes no answer's place
    w = Worker()
    w.send(eval, "'sklearn.ensemble' in __import__('sys').modules")
    assert w.receive() is True
    assert w.warm()  # the reader had the signal before the answer
    resource, context = ModelWorker(in_process=True), dg.build_init_resource_context()
    resource.setup_for_execution(context)
    assert not resource.warm  # no worker: nothing is warm
    assert w.close() == 0


def test_a_call_says_when_its_result_is_in(tmp_path):
    resource, context = ModelWorker(), dg.build_init_resource_context()
    log = logging.getLogger("test_model_worker")
    go = tmp_path / "go"
    resource.setup_for_execution(context)
    try:
        first = resource.submit(log, subprocess.run, ["sh", "-c", f"while [ ! -e '{go}' ]; do sleep 0.05; done"])
        second = resource.submit(log, sum, [1, 2])
        assert not first.ready() and not second.ready()  # the worker is still on the first
        go.touch()
        for _ in range(1200):  # until the worker has answered both (a minute at most)
            if second.ready():
                break
            time.sleep(0.05)
        assert second.ready() and first.ready() and second() == 3 and first().returncode == 0
    finally:
        resource.teardown_after_execution(context)


def test_months_ranked_in_the_worker_give_the_same_rows(small, small_monthly, worker, monkeypatch):  # noqa: F811
    svc, _, _, insp, values = small
    sent = []

    def submit(fn, *args):
        sent.append(len(args[-1]))  # months sent
        worker.send(fn, *args)
        return worker.receive

    rules, months = RankingRules(), sorted(small_monthly["as_of"].unique())
    assert rankings.monthly_rankings(values, svc, insp, rules, months, submit=submit) is not None
    assert not sent  # a small panel is ranked here alone
    monkeypatch.setattr(panel, "SHARE_FROM_ROWS", 0)
    shared = rankings.monthly_rankings(values, svc, insp, rules, months, submit=submit)
    assert sent == [len(months) - len(months) // 2]
    pd.testing.assert_frame_equal(shared, small_monthly, check_exact=True)


@pytest.mark.parametrize("only", [None, "reoffending"])
def test_rows_scored_in_the_worker_give_the_same_panel(small, worker, monkeypatch, only):  # noqa: F811
    # the worker scores about half the rows: the largest indicator, or its
    # later periods where that indicator is more than half (only: the one indicator)
    svc, pop, tables, _, values = small
    if only is not None:
        tables = {source: t if source == only else t.iloc[:0] for source, t in tables.items()}
    sent = []

    def submit(fn, *args):
        sent.append(len(args[0]))  # the rows sent
        worker.send(fn, *args)
        return worker.receive

    alone = panel.build_panel(tables, svc, pop, AS_OF_SMALL, 3, submit=submit)
    assert not sent  # a small panel is scored here alone
    monkeypatch.setattr(panel, "SHARE_FROM_ROWS", 0)
    shared = panel.build_panel(tables, svc, pop, AS_OF_SMALL, 3, submit=submit)
    rows = alone[0]["indicator"].value_counts()
    assert len(sent) == 1 and 0 < sent[0] <= max(rows.max(), rows.sum() / 2)
    if only is not None:
        assert sent[0] < rows.sum()  # later periods only
    for a, b in zip(shared, alone):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    if only is None:
        pd.testing.assert_frame_equal(alone[0], values, check_exact=True)


def test_the_largest_folder_read_by_the_worker_gives_the_same_rows(tmp_path, monkeypatch):
    from pipeline import ingest
    from pipeline.defs import ingest as ingest_defs
    from pipeline.definitions import defs

    monkeypatch.setattr(ingest_defs, "READ_ELSEWHERE_FROM_BYTES", 0)  # the demo's folders are small
    cfg = {"data_dir": str(DEMO_DIR), "warehouse": str(tmp_path / "w.duckdb"), "as_of": AS_OF}
    keys = [dg.AssetKey(k) for k in ingest.SOURCES]
    instance = dg.DagsterInstance.ephemeral()
    r = defs.resolve_job_def("monthly_refresh").execute_in_process(
        run_config={"resources": {"settings": {"config": cfg}}}, instance=instance, asset_selection=keys)
    said = [e.user_message for e in instance.all_logs(r.run_id) if "read by the model worker" in e.user_message]
    assert said and said[0].startswith("population/")  # the demo's largest folder
    services = r.asset_value("services").table
    for name, reader in (("population", ingest.read_population), ("reoffending", ingest.read_reoffending)):
        here = ingest.read_dated(reader, DEMO_DIR, services, dt.date.fromisoformat(AS_OF))
        got = r.asset_value(name)
        pd.testing.assert_frame_equal(got.table, here.table, check_exact=True)
        pd.testing.assert_frame_equal(got.quarantine, here.quarantine, check_exact=True)
        pd.testing.assert_frame_equal(got.files.drop(columns="ingested_at"),  # when it was read
                                      here.files.drop(columns="ingested_at"), check_exact=True)


def test_an_unreadable_file_in_the_folder_the_worker_reads_fails_its_step_naming_it(tmp_path, monkeypatch):
    import shutil

    from pipeline.defs import ingest as ingest_defs
    from pipeline.definitions import defs

    data = tmp_path / "data"
    shutil.copytree(DEMO_DIR, data)
    (data / "population" / "zz_broken.csv").write_text("nothing,we,know\n1,2,3\n")
    monkeypatch.setattr(ingest_defs, "READ_ELSEWHERE_FROM_BYTES", 0)
    cfg = {"data_dir": str(data), "warehouse": str(tmp_path / "w.duckdb"), "as_of": AS_OF}
    instance = dg.DagsterInstance.ephemeral()
    r = defs.resolve_job_def("monthly_refresh").execute_in_process(
        run_config={"resources": {"settings": {"config": cfg}}}, instance=instance, raise_on_error=False,
        asset_selection=[dg.AssetKey(k) for k in ingest_defs.READERS] + [dg.AssetKey("services")])
    assert any("population/ (" in e.user_message and "read by the model worker" in e.user_message
               for e in instance.all_logs(r.run_id))
    failed = [e for e in r.all_events if e.is_step_failure]
    assert not r.success and [e.step_key for e in failed] == ["population"]
    cause = failed[0].step_failure_data.error.cause  # as when the run reads it itself
    assert cause.cls_name == "IngestError" and "population/zz_broken.csv" in cause.message


def test_a_run_does_not_wait_for_a_worker_that_has_answered_everything_to_exit(monkeypatch):
    """The child exits as its stdin closes; the run's teardown leaves the
    waiting (the kernel's ~30 ms to tear down its memory) to a thread, which
    reaps it. A worker with a call still running is closed at once."""
    exiting = threading.Event()
    closed: list[int | None] = []
    real_close = Worker.close

    def slow_close(self, timeout: float = 10.0):
        exiting.wait(10.0)  # the child taking its time to go
        closed.append(real_close(self, timeout))
        return closed[-1]

    monkeypatch.setattr(Worker, "close", slow_close)
    resource = ModelWorker()
    context = dg.build_init_resource_context()
    log = logging.getLogger("test_model_worker")
    resource.setup_for_execution(context)
    proc = resource._worker._proc
    assert resource.call(log, sum, [1, 2]) == 3
    start = time.perf_counter()
    resource.teardown_after_execution(context)
    assert time.perf_counter() - start < 5.0 and not closed  # returned while close was still waiting
    exiting.set()
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() == 0  # exited cleanly, and reaped
    while not closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert closed == [0]


def test_a_worker_started_ahead_is_the_one_the_next_run_takes(monkeypatch):
    # the CLI starts it before importing Dagster; the run's resource takes it rather than start another
    from pipeline.model import worker as worker_module

    worker_module.start_ahead()
    ahead = worker_module._AHEAD[0]
    started = []
    monkeypatch.setattr(worker_module.Worker, "__init__", lambda self: started.append(self))
    resource, context = ModelWorker(), dg.build_init_resource_context()
    log = logging.getLogger("test_model_worker")
    resource.setup_for_execution(context)
    try:
        assert resource._worker is ahead and not started
        assert resource.call(log, sum, [4, 5]) == 9
    finally:
        resource.teardown_after_execution(context)
    assert worker_module.take_started() is None  # given once: a later run starts its own
    monkeypatch.undo()
    worker_module.start_ahead()  # a run that fits in process closes the one started ahead
    ahead = worker_module._AHEAD[0]
    in_process = ModelWorker(in_process=True)
    in_process.setup_for_execution(context)
    assert in_process._worker is None and ahead._proc.wait(10) is not None
    assert worker_module.take_started() is None


def test_a_worker_started_ahead_and_never_taken_is_killed_as_the_process_exits():
    # a CLI refresh refused (another is running) exits at once: its worker must not outlive it
    code = ("from pipeline.model import worker; worker.start_ahead(); "
            "print(worker._AHEAD[0]._proc.pid, flush=True)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                         check=True, timeout=60)
    pid = int(out.stdout.split()[0])
    with pytest.raises(ProcessLookupError):  # gone (and reaped) before its parent exited
        os.kill(pid, 0)


def test_a_worker_warm_at_the_start_reads_every_folder_and_gives_the_same_rows(tmp_path):
    # as the CLI runs: the worker started before the run has done its imports when the services step asks
    from pipeline import ingest
    from pipeline.definitions import defs
    from pipeline.model import worker as worker_module

    worker_module.start_ahead()
    assert worker_module._AHEAD[0]._warm.wait(120)
    cfg = {"data_dir": str(DEMO_DIR), "warehouse": str(tmp_path / "w.duckdb"), "as_of": AS_OF}
    instance = dg.DagsterInstance.ephemeral()
    r = defs.resolve_job_def("monthly_refresh").execute_in_process(
        run_config={"resources": {"settings": {"config": cfg}}}, instance=instance,
        asset_selection=[dg.AssetKey(k) for k in ingest.SOURCES])
    assert any(e.user_message.startswith("every other folder is read by the model worker")
               for e in instance.all_logs(r.run_id))
    services = r.asset_value("services").table
    readers = {"population": ingest.read_population, "first_time_entrants": ingest.read_first_time_entrants,
               "reoffending": ingest.read_reoffending, "custody": ingest.read_custody,
               "inspections": ingest.read_inspections}
    for name, reader in readers.items():
        here = ingest.read_dated(reader, DEMO_DIR, services, dt.date.fromisoformat(AS_OF))
        got = r.asset_value(name)
        pd.testing.assert_frame_equal(got.table, here.table, check_exact=True)
        pd.testing.assert_frame_equal(got.quarantine, here.quarantine, check_exact=True)
        pd.testing.assert_frame_equal(got.files.drop(columns="ingested_at"),
                                      here.files.drop(columns="ingested_at"), check_exact=True)
