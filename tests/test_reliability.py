"""Reliability of the monthly refresh, end to end: bad rows quarantined while
the refresh goes on, a guard stopping a file in the wrong unit, a refresh
killed at several points, a second refresh refused, analysts' sessions read
through three refreshes, and the security settings. Every refresh here is a
real one, on the demo data cut to 40 services (tests/corpus/mini.py)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipeline.definitions import defs
from pipeline.defs.resources import RefreshSettings
from pipeline.ingest.tables import key
from pipeline.publish import warehouse as wh
from pipeline.settings import REPO_ROOT, SettingsError
from tests.conftest import run_refresh
from tests.corpus import mini
from tests.test_publish import child, wait_for

AS_OF = ["2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01"]
BAD_ROWS = {  # file -> rows appended (header first); the problems the quarantine must show
    "first_time_entrants/zz_corrections.csv": (
        "yjs_name,period_end,fte_count\nHartlepool,2023-12,twelve\nHartlepool,2022-12,-4\n"
        "Hartlepool,2099-12,5\nAtlantis YOT,2023-12,5\nHartlepool,2021-12,5\n",
        ["'twelve' is not a number", "'-4' is negative", "after today", "'Atlantis YOT' matches no service",
         "conflicts with first_time_entrants/fte_2020_2025.csv row 12 (fte_count 5 vs not published)"]),
    "reoffending/zz_corrections.csv": (
        "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\nHartlepool,2023-03,3,40,41,50\n",
        ["reoffenders: 41 is more than cohort_size 40"]),
    "services/zz_extra.csv": ("la_code,la_name,yjs_name\nE07000223,Adur,\n", ["empty; a name is required"]),
}


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def answers(path, sql="SELECT count(*) FROM inspection_targets"):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchone()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = mini.build(tmp_path_factory.mktemp("mini") / "data")
    for name, (text, _) in BAD_ROWS.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def published(data_dir, tmp_path_factory):
    db = tmp_path_factory.mktemp("published") / "warehouse.duckdb"
    assert run_refresh(data_dir, db, as_of=AS_OF[0]).success
    return db


@pytest.fixture
def warehouse(published, tmp_path):
    """A copy of the published warehouse for one test to refresh, kill or read."""
    return shutil.copy(published, tmp_path / "warehouse.duckdb")


def failure(result) -> tuple[str, str]:
    """The failed step and its innermost error message."""
    event = next(e for e in result.all_events if e.is_step_failure)
    error = event.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return event.step_key, error.message.strip()


def test_bad_rows_are_quarantined_and_the_refresh_goes_on(published):
    q = duckdb.connect(str(published), read_only=True).execute("SELECT file, problem FROM quarantine").df()
    for name, (_, problems) in BAD_ROWS.items():
        mine = q.loc[q["file"] == name, "problem"]
        for problem in problems:
            assert mine.str.contains(problem, regex=False).any(), (name, problem, mine.tolist())
    assert answers(published) == (40,)


def test_a_file_in_the_wrong_unit_is_stopped_before_publishing(data_dir, warehouse, tmp_path):
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    for path in (bad / "first_time_entrants").glob("fte_*.csv"):
        rows = list(csv.reader(path.open(encoding="utf-8")))
        count = [key(h) for h in rows[0]].index("ftecount")
        for row in rows[1:]:
            if row[count].isdigit():
                row[count] = str(round(int(row[count]) / 40))  # about a rate per 1,000
        csv.writer(path.open("w", newline="", encoding="utf-8")).writerows(rows)
    before = sha(warehouse)
    step, message = failure(run_refresh(bad, warehouse, as_of=AS_OF[0]))
    assert step == "warehouse" and "\n" not in message
    assert "GuardError: refresh stopped before publishing" in message and "national fte rate" in message
    assert sha(warehouse) == before and not wh.staging_files(warehouse)


def _rewrite(path, keep) -> None:
    """Keep the rows of a CSV (a dict per row) for which ``keep`` is true."""
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, [row for row in reader if keep(row)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)


def test_lost_inspections_and_a_stale_indicator_stop_the_refresh(data_dir, warehouse, tmp_path):
    """The inspections file gone (the 2023 scrape kept) and FTE's last two years gone: each left a
    list that looked right (services inspected months before "never inspected" and picked; FTE
    two years stale), published with exit 0. Now one line names what went, and
    max_inspections_lost_share lets a correction through."""
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    (bad / "inspections" / "inspections.csv").unlink()
    _rewrite(bad / "first_time_entrants" / "fte_2020_2025.csv", lambda row: row["period_end"] < "2024")
    before = sha(warehouse)
    step, message = failure(run_refresh(bad, warehouse, as_of=AS_OF[0]))
    assert step == "warehouse" and "\n" not in message, message
    lost = re.search(r"(\d+) of the (\d+) published inspections would be lost \(\d+%, limit 10%\), latest first: "
                     r"(.+?) \(files read: inspections/hmi_scrape_2023.csv; no longer read: "
                     r"inspections/inspections.csv\)", message)
    assert lost and int(lost[1]) > 30, message
    assert re.fullmatch(r"[A-Z][\w ]+ 2026-0[1-5]-\d\d [A-Z][\w ]+, .+ and \d+ more", lost[3]), lost[3]
    assert ("fte: its latest period would end 2023-12-31, where the published warehouse's ends 2025-12-31 (files "
            "read: first_time_entrants/fte_2013_2019.csv, first_time_entrants/fte_2020_2025.csv, "
            "first_time_entrants/zz_corrections.csv; 6 rows of first_time_entrants/ quarantined, e.g. ") in message
    assert sha(warehouse) == before and not wh.staging_files(warehouse)
    # a correction: the guard off for one run; FTE still stops it
    step, message = failure(run_refresh(bad, warehouse, as_of=AS_OF[0], max_inspections_lost_share=1.0))
    assert "inspections would be lost" not in message and "fte: its latest period would end 2023-12-31" in message
    assert sha(warehouse) == before
    # both let through: the published list says which guards it ran with (QA: its settings gave the
    # ranking rules alone, so a list forced through looked like any other)
    assert run_refresh(bad, warehouse, as_of=AS_OF[0], max_inspections_lost_share=1.0,
                       max_national_rate_factor=0).success
    settings = json.loads(answers(warehouse, "SELECT settings FROM run_metadata")[0])
    assert settings["guards"] == {"max_inspections_lost_share": 1.0, "max_national_rate_factor": 0.0,
                                  "max_services_dropped_share": 0.1}
    assert settings["n_full_joint"] == 8 and settings["lag_months"] == 3


def test_a_first_refresh_stops_on_a_source_mostly_quarantined_or_without_rows(data_dir, tmp_path):
    """With no warehouse to compare with, every rating unreadable ('Splendid') published a list on
    which every service was "never inspected", and header-only reoffending files one without
    reoffending, both with exit 0 and no warning."""
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    for path in (bad / "reoffending").glob("*.csv"):
        _rewrite(path, lambda row: False)
    _rewrite(bad / "inspections" / "inspections.csv", lambda row: row.update(overall_rating="Splendid") or True)
    db = tmp_path / "first.duckdb"
    result = run_refresh(bad, db, as_of=AS_OF[0])
    found = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()
             if e.check_name == "most_rows_usable" and not e.passed}
    assert not result.success and sorted(found) == ["inspections", "reoffending"]
    assert all(e.severity == dg.AssetCheckSeverity.ERROR for e in found.values())
    assert found["reoffending"].description == (
        "reoffending/: no data rows in any file (reoffending/reoffending_12_month_cohorts_2013_2016.csv, "
        "reoffending/reoffending_3_month_cohorts_2017_2024.csv, reoffending/zz_corrections.csv: a header only): "
        "an export cut short, or the wrong file?")
    assert re.fullmatch(r"inspections: (\d+) of its \d+ rows quarantined \(\d+%, more than 50%\): \1 in "
                        r"inspections/inspections.csv; the first, inspections/inspections.csv row 2: column "
                        r"overall_rating: 'Splendid' is not a rating \(.*\)", found["inspections"].description)
    assert not db.exists()
    # the CLI's one line: the check's own words, the quarantined row not repeated after them
    shutil.rmtree(bad / "reoffending")
    shutil.copytree(data_dir / "reoffending", bad / "reoffending")
    run = cli(bad, db, tmp_path)
    assert run.wait(timeout=120) == 1
    line = run.stderr.read().strip().splitlines()
    assert len(line) == 1 and line[0].startswith(
        "refresh stopped by check inspections:most_rows_usable: inspections: ") and line[0].endswith(
        "; nothing was published"), line
    assert not db.exists()


def test_a_warehouse_path_holding_another_file_is_left_as_it_is(data_dir, tmp_path, capsys):
    """Refused as the run starts (it had been refused by the step that publishes, after the whole run,
    leaving an empty exports folder beside it), from the launchpad and the CLI alike; the step still
    refuses a file that is not DuckDB's (one put there during the run)."""
    from pipeline.cli import main

    not_ours = tmp_path / "warehouse.duckdb"
    not_ours.write_bytes(b"a spreadsheet saved under the warehouse's name " * 100)
    before = sha(not_ours)
    said = (f"warehouse {not_ours} is not a DuckDB file; it was left as it is: move it away or give another "
            "warehouse path")
    result = run_refresh(data_dir, not_ours, as_of=AS_OF[0])
    assert not result.success and not [e for e in result.all_events if e.step_key]
    error = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE").event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert said in error.message
    capsys.readouterr()
    assert main(["refresh", "--data-dir", str(data_dir), "--warehouse", str(not_ours)]) == 1
    assert capsys.readouterr().err == f"refresh failed: {said}\n"
    assert sha(not_ours) == before and not wh.staging_files(not_ours) and sorted(tmp_path.iterdir()) == [not_ours]
    with pytest.raises(wh.PublishError, match=f"the warehouse {re.escape(str(not_ours))} cannot be read .*; it was "
                                              "left as it is: move it away or give another --warehouse"):
        wh.publish(not_ours, {"inspection_targets": pd.DataFrame({"as_of": [pd.Timestamp(AS_OF[0])], "rank": [1]})})
    assert sha(not_ours) == before and not wh.staging_files(not_ours)
    empty = tmp_path / "empty.duckdb"  # refused by DuckDB too ("not a valid DuckDB database file")
    empty.touch()
    assert main(["refresh", "--data-dir", str(data_dir), "--warehouse", str(empty)]) == 1
    assert capsys.readouterr().err == f"refresh failed: warehouse {empty} is not a DuckDB file; it was left as it " \
        "is: move it away or give another warehouse path\n" and empty.stat().st_size == 0


def cli(data_dir, db, tmp_path, **env) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("YJT_")}
    full = {**clean, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "pipeline", "refresh", "--data-dir", str(data_dir),
                             "--warehouse", str(db), "--as-of", AS_OF[1]], cwd=REPO_ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_file_that_cannot_be_read_stops_the_cli_with_one_line(data_dir, warehouse, tmp_path):
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    (bad / "first_time_entrants" / "fte_2020_2025.csv").write_text("yjs_name,period_end\nBolton,2022-03\n")
    before, run = sha(warehouse), cli(bad, warehouse, tmp_path)
    assert run.wait(timeout=120) == 1
    assert run.stderr.read().strip().splitlines()[-1] == (
        "refresh failed in first_time_entrants: first_time_entrants/fte_2020_2025.csv: no column for "
        "fte_count (looked for: fte_count); columns found: yjs_name, period_end")
    assert sha(warehouse) == before


@pytest.mark.parametrize("name", ["inspections/bad.xlsx", "population/bad.ods"])
def test_a_damaged_workbook_stops_the_cli_with_one_line_naming_it(data_dir, warehouse, tmp_path, name):
    """Not the zip library's error it was raised from ("BadZipFile: File is not a zip file")."""
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    (bad / name).write_text("not a spreadsheet\n")
    run = cli(bad, warehouse, tmp_path)
    assert run.wait(timeout=120) == 1
    suffix = name.rsplit(".", 1)[1]
    assert run.stderr.read().strip().splitlines()[-1] == (
        f"refresh failed in {name.split('/')[0]}: {name}: not a readable .{suffix} spreadsheet "
        "(BadZipFile: File is not a zip file)")


def test_killed_refreshes_change_nothing_and_the_next_one_succeeds(data_dir, warehouse, tmp_path):
    before, marker = sha(warehouse), tmp_path / "paused"
    first = cli(data_dir, warehouse, tmp_path, YJT_PAUSE_AT="ingest", YJT_PAUSE_MARKER=str(marker))
    try:  # one refresh at a time: a second CLI refresh refuses at once, with one line
        wait_for(marker)
        second = cli(data_dir, warehouse, tmp_path)
        assert second.wait(timeout=120) == 75
        refusal = second.stderr.read().strip().splitlines()[-1]
        assert re.match(rf"refresh refused: .*another refresh is running \(pid {first.pid} since ", refusal)
    finally:
        first.send_signal(signal.SIGKILL)  # killed during ingest
        first.wait()
    assert sha(warehouse) == before and answers(warehouse) == (40,)
    for point in ("staging_write", "before_swap"):
        marker.unlink()
        publisher = child(["tests.corpus.publisher", str(warehouse)], YJT_PAUSE_AT=point,
                          YJT_PAUSE_MARKER=str(marker))
        wait_for(marker)
        publisher.send_signal(signal.SIGKILL)
        publisher.wait()
        assert wh.staging_files(warehouse), point  # it died with its staging file written
        assert sha(warehouse) == before and answers(warehouse) == (40,), point
    assert run_refresh(data_dir, warehouse, as_of=AS_OF[1]).success
    assert not wh.staging_files(warehouse) and sha(warehouse) != before
    assert answers(warehouse, "SELECT CAST(as_of AS VARCHAR) FROM run_metadata") == (AS_OF[1],)


def test_refreshes_sharing_a_dagster_home_take_turns(data_dir, warehouse, tmp_path, monkeypatch):
    """Dagster keeps each asset's latest output in its home's storage, whatever the run: a refresh of
    another warehouse meanwhile would read this one's outputs and publish a mixture, so it refuses
    (the CLI, at once) or waits and then refuses (a run from the UI or the schedule)."""
    marker, home = tmp_path / "paused", tmp_path / "dagster_home"
    first = cli(data_dir, warehouse, tmp_path, YJT_PAUSE_AT="ingest", YJT_PAUSE_MARKER=str(marker))
    try:
        wait_for(marker)
        other = cli(shutil.copytree(data_dir, tmp_path / "other"), tmp_path / "other.duckdb", tmp_path)
        assert other.wait(timeout=120) == 75
        holder = rf"another refresh is running \(pid {first.pid} since "
        assert re.match(rf"refresh refused: Dagster storage {re.escape(str(home / 'storage'))}: {holder}",
                        other.stderr.read().strip().splitlines()[-1])
        monkeypatch.setattr("pipeline.defs.resources.STORAGE_LOCK_WAIT", 0.5)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            result = defs.resolve_job_def("monthly_refresh").execute_in_process(
                run_config={"resources": {"settings": {"config": {
                    "data_dir": str(data_dir), "warehouse": str(tmp_path / "other.duckdb"), "as_of": AS_OF[1]}}}},
                instance=instance, raise_on_error=False)
        assert not result.success and not [e for e in result.all_events if e.step_key]
        failed = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
        assert re.search(holder, failed.event_specific_data.error.message)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not (tmp_path / "other.duckdb").exists()
    assert cli(data_dir, tmp_path / "other.duckdb", tmp_path).wait(timeout=300) == 0  # its turn now


def test_readers_keep_one_snapshot_through_three_refreshes(data_dir, warehouse, tmp_path):
    stop = tmp_path / "stop"
    modes = {"held_before_1": "held", "held_before_2": "held", "fresh": "fresh", "held_during": "held"}
    logs = {name: tmp_path / f"{name}.jsonl" for name in modes}

    def start(name):
        return child(["tests.corpus.reader", str(warehouse), str(logs[name]), str(stop), modes[name], "0.1"])

    readers = {name: start(name) for name in list(modes)[:3]}
    try:
        for name in readers:
            wait_for(logs[name])
        for i, as_of in enumerate(AS_OF[1:]):
            result = run_refresh(data_dir, warehouse, as_of=as_of)
            assert result.success, failure(result)
            if i == 0:
                readers["held_during"] = start("held_during")
                wait_for(logs["held_during"])
    finally:
        stop.touch()
        for reader in readers.values():
            reader.wait(timeout=60)
    seen = {name: [json.loads(line) for line in log.read_text().splitlines()] for name, log in logs.items()}
    errors = [a["error"] for log in seen.values() for a in log if not a["ok"]]
    assert not errors, errors[:3]
    for name, log in seen.items():
        for meta, targets, history, runs, *_ in (a["row"] for a in log):
            assert meta == targets == history and runs == AS_OF.index(meta) + 1, (name, meta, targets, runs)
        as_ofs = [a["row"][0] for a in log]
        if modes[name] == "held":  # a session keeps the snapshot it opened
            assert set(as_ofs) == {AS_OF[1] if name == "held_during" else AS_OF[0]}, name
    fresh = [a["row"][0] for a in seen["fresh"]]
    assert fresh == sorted(fresh) and len(set(fresh)) >= 2  # new sessions saw each new list
    assert answers(warehouse, "SELECT CAST(as_of AS VARCHAR) FROM run_metadata") == (AS_OF[-1],)


def test_the_ui_listens_on_this_machine_unless_told_otherwise():
    from dagster_webserver.cli import DEFAULT_WEBSERVER_HOST  # what `dagster dev` binds by default

    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "UI_HOST ?= 127.0.0.1" in makefile and "dagster dev -h $(UI_HOST)" in makefile
    assert DEFAULT_WEBSERVER_HOST == "127.0.0.1"


def test_settings_are_validated_before_anything_runs():
    for bad in ({"max_national_rate_factor": 0.5}, {"max_national_rate_factor": -1},
                {"max_services_dropped_share": 1.5}, {"max_inspections_lost_share": 1.5}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            RefreshSettings(**bad).guard_limits()
    with pytest.raises(SettingsError, match="as_of"):
        RefreshSettings(as_of="2026-13-01").as_of_date()


def test_a_run_with_bad_settings_stops_before_its_first_step(tmp_path):
    """From the launchpad (the CLI checks its flags itself): the settings resource refuses them."""
    zero = dict.fromkeys(["weight_fte", "weight_reoffending", "weight_custody", "weight_inspection",
                          "weight_time_since_inspection", "weight_outcome_model"], 0.0)
    for bad, message in (({"n_full_joint": -1}, "n_full_joint: -1 must be a whole number >= 0"),
                         (zero, "weights: all 0, so nothing would tell the services apart")):
        result = run_refresh(tmp_path / "no data needed", tmp_path / "w.duckdb", **bad)
        assert not result.success and not [e for e in result.all_events if e.step_key]
        failed = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
        error = failed.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        assert message in error.message



def test_a_warehouse_path_that_cannot_be_published_is_refused_before_the_run(capsys, tmp_path):
    """A folder, or a file where a folder above it would go: refused at once by the CLI and by a run
    from the launchpad, naming the path (not after a whole run in the publishing step, or as the bare
    "[Errno 17] File exists" of making the folders above it)."""
    from pipeline.cli import main

    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder.duckdb").mkdir()
    deep, folder = tmp_path / "a_file" / "deeper" / "w.duckdb", tmp_path / "a_folder.duckdb"
    # links are followed, as publishing follows them: to a folder, dangling to a path under a file, a loop
    (tmp_path / "to_folder.duckdb").symlink_to(folder)
    (tmp_path / "dangling.duckdb").symlink_to(tmp_path / "a_file" / "w.duckdb")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    cases = [(deep, f"warehouse {deep}: {tmp_path / 'a_file'} is a file, not a folder"),
             (folder, f"warehouse {folder} is a folder, not a DuckDB file: give a file's path"),
             (tmp_path / "to_folder.duckdb",
              f"warehouse {tmp_path / 'to_folder.duckdb'} is a folder, not a DuckDB file: give a file's path"),
             (tmp_path / "dangling.duckdb",
              f"warehouse {tmp_path / 'dangling.duckdb'}: {tmp_path / 'a_file'} is a file, not a folder"),
             (tmp_path / "loop" / "w.duckdb",
              f"warehouse {tmp_path / 'loop' / 'w.duckdb'} cannot be resolved: ")]  # then Python's words
    for warehouse, said in cases:
        assert main(["refresh", "--warehouse", str(warehouse)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"refresh failed: {said}") and err.endswith("\n") and err.count("\n") == 1, err
        assert err == f"refresh failed: {said}\n" or said.endswith(": ")
        result = run_refresh(tmp_path / "no data needed", warehouse)
        assert not result.success and not [e for e in result.all_events if e.step_key]
        error = next(e for e in result.all_events
                     if e.event_type_value == "RESOURCE_INIT_FAILURE").event_specific_data.error
        while error.cause is not None:
            error = error.cause
        assert said in error.message
        capsys.readouterr()  # the run's log
    assert (tmp_path / "a_file").read_text() == "not a folder" and not any((tmp_path / "a_folder.duckdb").iterdir())

SECRET = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|gh[pousr]_[A-Za-z0-9]{30,}|xox[abp]-"
                    r"|(?i:password|passwd|secret|api_?key|token)\s*[:=]\s*['\"][^'\"\s]{8,}")


def test_nothing_secret_is_in_the_repo():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in listed:
        path = REPO_ROOT / name
        if path.is_file() and path.stat().st_size < 2**20:
            text = path.read_bytes().decode("utf-8", errors="ignore")
            found += [f"{name}: {m.group(0)[:20]}" for m in SECRET.finditer(text)]
    assert not found, found
    ignored = (REPO_ROOT / ".gitignore").read_text()
    assert ".dagster_home/*" in ignored and "data/warehouse.duckdb*" in ignored


# --- a list dated after today, failures after the swap, runs left STARTED ----

def cli_here(monkeypatch, capsys, tmp_path, *args: str) -> tuple[int, str, str]:
    """`python -m pipeline refresh ARGS` in this process, so that a test can patch a step; on its own
    Dagster home, without the YJT_ variables. Returns the exit code, stdout and stderr."""
    from pipeline.cli import main

    for name in [k for k in os.environ if k.startswith("YJT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    code = main(["refresh", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def listed(db) -> str:
    return answers(db, "SELECT DISTINCT CAST(as_of AS VARCHAR) FROM inspection_targets")[0]


def test_a_list_dated_after_today_is_replaced_by_the_next_refresh(data_dir, warehouse, tmp_path, monkeypatch,
                                                                    capsys):
    """A typo (2100 for 2026) was published, and every refresh after it, as of today or the schedule's
    month, was a backfill: the year-2100 list stayed published for good."""
    import datetime as dt

    today = dt.date.today().isoformat()
    refresh = functools.partial(cli_here, monkeypatch, capsys, tmp_path, "--data-dir", str(data_dir),
                                "--warehouse", str(warehouse))
    code, out, err = refresh("--as-of", "2100-01-01")
    assert code == 0, err
    assert f"Published {warehouse} as of 2100-01-01: 40 services" in out
    assert f"\nWARNING: as of 2100-01-01 is after today ({today}): this list is published, but the next " \
           "refresh as of today or earlier will replace it" in out
    code, out, err = refresh()  # as of today
    assert code == 0, err
    assert f"\nPublished {warehouse} as of {today}: 40 services" in out and "Backfill" not in out
    assert "It replaced the list as of 2100-01-01, which was dated after today" in out
    assert "WARNING: as of" not in out
    assert listed(warehouse) == today
    months = "SELECT {}(months_since_inspection) FROM {}"  # today's, not the year-2100 list's hundreds
    assert answers(warehouse, f"SELECT ({months.format('max', 'inspection_targets')}) < "
                              f"({months.format('min', 'ranking_history')} WHERE as_of = '2100-01-01')") == (True,)
    # the UI and the schedule follow the same rule: an earlier month is a backfill again; a date after
    # today is published, with a warning in the run's log
    instance = dg.DagsterInstance.ephemeral()
    for as_of, said in ((AS_OF[1], f"Backfill as of {AS_OF[1]}: its list was added to ranking_history"),
                        ("2100-01-01", "As of 2100-01-01 is after today")):
        result = run_refresh(data_dir, warehouse, as_of=as_of, instance=instance)
        assert result.success, failure(result)
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
        assert any(m.startswith(said) for m in logs), logs
    assert listed(warehouse) == "2100-01-01"


def test_the_exports_of_a_list_dated_after_today_go_when_a_refresh_replaces_it(data_dir, warehouse, monkeypatch):
    """After `--as-of 2100-01-01` and a refresh as of today, exports/ held inspection_targets_2100-01-01.csv
    and .xlsx beside today's, sorting as the newest: an inspector picking the newest got the replaced list."""
    import datetime as dt

    for name in [k for k in os.environ if k.startswith("YJT_")]:
        monkeypatch.delenv(name)
    today, exports = dt.date.today().isoformat(), warehouse.parent / "exports"
    instance = dg.DagsterInstance.ephemeral()

    def refresh(as_of):
        result = run_refresh(data_dir, warehouse, as_of=as_of, instance=instance)
        assert result.success, failure(result)
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
        meta = result.asset_materializations_for_node("exports")[0].metadata
        return [m for m in logs if m.startswith("Removed the exports")], meta.get("removed")

    assert refresh("2100-01-01") == ([], None)
    kept = ["inspection_targets_2100-01-01.csv.bak", "notes_2100-01-01.csv", "inspection_targets_2100-01-01.ods"]
    for name in kept:  # not this project's export names: never removed
        (exports / name).write_text("the analyst's own")
    logs, removed = refresh(today)
    said = f"emoved the exports of the list as of 2100-01-01, which this refresh replaced (it published the list " \
           f"as of {today})"
    assert logs == [f"R{said}: inspection_targets_2100-01-01.csv, inspection_targets_2100-01-01.xlsx"]
    assert removed.value == f"r{said}."
    assert sorted(p.name for p in exports.iterdir()) == sorted(
        [f"inspection_targets_{today}.csv", f"inspection_targets_{today}.xlsx", *kept])
    # a backfill of an earlier month publishes nothing, so it removes nothing, even a file dated later
    shutil.copy(exports / f"inspection_targets_{today}.csv", exports / "inspection_targets_2100-01-01.csv")
    assert refresh(AS_OF[1]) == ([], None)
    assert (exports / "inspection_targets_2100-01-01.csv").is_file() and listed(warehouse) == today


def test_exports_that_cannot_be_written_stop_the_refresh_before_publishing(data_dir, warehouse, tmp_path):
    """A file named exports beside the warehouse: the exports step failed after the swap, and the CLI
    said 'refresh failed in exports' of a warehouse it had replaced."""
    (warehouse.parent / "exports").write_text("in the way")
    before, run = sha(warehouse), cli(data_dir, warehouse, tmp_path)
    assert run.wait(timeout=120) == 1
    assert run.stderr.read().strip().splitlines() == [
        f"refresh failed in warehouse: the exports folder {warehouse.parent / 'exports'} cannot be written "
        "(FileExistsError: File exists); nothing was published: move what is in the way or make the folder "
        "writable"]
    assert sha(warehouse) == before and not wh.staging_files(warehouse)


def test_a_failure_after_the_swap_says_the_warehouse_was_published(data_dir, warehouse, tmp_path, monkeypatch,
                                                                    capsys):
    """The exports, and the checks on the published file, run after the swap: a failure there is
    reported as one, the warehouse named as published, with the usual summary."""
    from pipeline.defs import checks

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pipeline.defs.exports.write_exports", full_disk)
    refresh = functools.partial(cli_here, monkeypatch, capsys, tmp_path, "--data-dir", str(data_dir),
                                "--warehouse", str(warehouse))
    before = sha(warehouse)
    code, out, err = refresh("--as-of", AS_OF[1])
    assert code == 1 and sha(warehouse) != before and listed(warehouse) == AS_OF[1]
    assert f"Published {warehouse} as of {AS_OF[1]}: 40 services" in out
    assert err.strip().splitlines() == [
        f"refresh failed after publishing: {warehouse} WAS published as of {AS_OF[1]}, then exports failed: "
        "OSError: [Errno 28] No space left on device"]

    monkeypatch.setattr(checks, "_published_keys_unique",
                        lambda con: checks._result(["ranking_history: 3 duplicated keys"], "every key unique"))
    code, out, err = refresh("--as-of", AS_OF[0])  # a backfill now
    assert code == 1 and f"Backfilled {warehouse} as of {AS_OF[0]}: 40 services" in out
    assert err.strip().splitlines() == [
        f"refresh failed after publishing: {warehouse} WAS backfilled as of {AS_OF[0]}, then check "
        "warehouse:published_keys_unique failed: ranking_history: 3 duplicated keys"]


def test_a_reader_of_the_output_that_stops_reading_does_not_fail_a_published_refresh(data_dir, warehouse,
                                                                                       tmp_path):
    """`refresh | head -1`: the list printed after publishing met the closed pipe, and the refresh said
    "refresh failed: [Errno 32] Broken pipe", exit 1, though the warehouse was published."""
    proc = cli(data_dir, warehouse, tmp_path)
    proc.stdout.close()  # the reader goes away before the refresh prints anything
    err = proc.stderr.read()
    assert proc.wait(300) == 0, err
    assert "refresh failed" not in err and "Broken pipe" not in err and "Traceback" not in err, err
    assert listed(warehouse) == AS_OF[1]


def test_an_output_that_cannot_be_written_after_publishing_says_it_was_published(data_dir, warehouse, tmp_path):
    """stdout on a full disk: "refresh failed: [Errno 28] No space left on device", as if nothing had
    been published; with stdout closed, a traceback."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("YJT_")}
    env = {**clean, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONPATH": str(REPO_ROOT)}
    refresh = [sys.executable, "-m", "pipeline", "refresh", "--data-dir", str(data_dir), "--warehouse",
               str(warehouse)]
    with open("/dev/full", "w") as full:
        out = subprocess.run([*refresh, "--as-of", AS_OF[1]], stdout=full, stderr=subprocess.PIPE, text=True,
                             cwd=REPO_ROOT, env=env, timeout=300)
    assert out.returncode == 1 and listed(warehouse) == AS_OF[1]
    assert out.stderr.strip().splitlines() == [
        f"refresh failed after publishing: {warehouse} WAS published as of {AS_OF[1]}, then printing its list "
        "failed: [Errno 28] No space left on device"]
    closed = subprocess.run(" ".join([*refresh, "--as-of", AS_OF[2]]) + " >&-", shell=True, stderr=subprocess.PIPE,
                            text=True, cwd=REPO_ROOT, env=env, timeout=300)
    assert closed.returncode == 0 and closed.stderr == "" and listed(warehouse) == AS_OF[2]


def test_a_published_warehouse_that_cannot_be_read_back_is_one_line(data_dir, warehouse, tmp_path, monkeypatch,
                                                                     capsys):
    """Reading the new file back for the printed list failed with a traceback, the warehouse unsaid."""
    def unreadable(*args, **kwargs):
        raise wh.PublishError("the warehouse cannot be read (it was taken away)")

    monkeypatch.setattr(wh, "read_tables", unreadable)
    code, out, err = cli_here(monkeypatch, capsys, tmp_path, "--data-dir", str(data_dir), "--warehouse",
                              str(warehouse), "--as-of", AS_OF[1])
    monkeypatch.undo()
    assert code == 1 and listed(warehouse) == AS_OF[1]
    assert err.strip().splitlines() == [
        f"refresh failed after publishing: {warehouse} WAS published as of {AS_OF[1]}, then reading it back "
        "failed: the warehouse cannot be read (it was taken away)"]


def test_a_step_run_alone_refuses_inputs_of_another_refresh(data_dir, warehouse, tmp_path):
    """Materialize on the warehouse's page alone published the storage's latest outputs, a refresh of
    another data dir, under this run's data dir and date (the UI run's settings); the list's page alike.
    Inputs of a refresh of the same settings are taken; a whole run needs no lookup."""
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    instance = dg.DagsterInstance.ephemeral()
    assert run_refresh(other, warehouse, as_of=AS_OF[1], instance=instance).success
    before = sha(warehouse)
    job = defs.resolve_job_def("monthly_refresh")

    def alone(asset, data, as_of):
        cfg = {"data_dir": str(data), "warehouse": str(warehouse), "as_of": as_of}
        return job.execute_in_process(run_config={"resources": {"settings": {"config": cfg}}}, instance=instance,
                                      asset_selection=[dg.AssetKey(asset)], raise_on_error=False)

    for asset in ("warehouse", "inspection_targets"):
        for data, as_of in ((data_dir, AS_OF[1]), (other, AS_OF[2])):
            result = alone(asset, data, as_of)
            assert not result.success
            step, message = failure(result)
            assert step == asset and re.fullmatch(
                r"pipeline\.defs\.lineage\.InputsOfAnotherRefresh: its input \w+ was made by run \w{8} \(data dir .+/other, as of 2026-07-01\), not by a refresh "
                rf"like this one \(data dir {re.escape(str(data.resolve()))}, as of {as_of}\): materialise the whole "
                r"monthly_refresh job with these settings \(Materialize all\)", message), message
    # other ranking rules: the message says which
    cfg = {"data_dir": str(other), "warehouse": str(warehouse), "as_of": AS_OF[1], "n_full_joint": 5}
    result = job.execute_in_process(run_config={"resources": {"settings": {"config": cfg}}}, instance=instance,
                                    asset_selection=[dg.AssetKey("warehouse")], raise_on_error=False)
    assert not result.success and "as of 2026-07-01, ranking rules n_full_joint 8), not by a refresh like this " \
                                   "one (data dir" in failure(result)[1] and "n_full_joint 5)" in failure(result)[1]
    assert sha(warehouse) == before
    again = alone("warehouse", other, AS_OF[1])
    assert again.success, failure(again)  # the same settings: republished from them
    assert listed(warehouse) == AS_OF[1]


def test_a_step_run_alone_refuses_inputs_of_two_refreshes_of_the_same_settings(data_dir, warehouse, tmp_path,
                                                                                monkeypatch):
    """The settings' stamp names the data dir, not what its files held, nor whether a refresh finished: an
    ingest asset run alone after a file changed, then the warehouse alone, published the new file in
    source_files beside the old file's figures; a refresh stopped by a blocking check left its outputs,
    which the warehouse run alone published. Each input, and each asset it was made from, must have been
    made from the latest of its own inputs, none failing a blocking check."""
    from pipeline.defs import checks

    data = shutil.copytree(data_dir, tmp_path / "data")
    instance = dg.DagsterInstance.ephemeral()
    assert run_refresh(data, warehouse, as_of=AS_OF[1], instance=instance).success
    before = sha(warehouse)
    job = defs.resolve_job_def("monthly_refresh")
    config = {"resources": {"settings": {"config": {"data_dir": str(data), "warehouse": str(warehouse),
                                                    "as_of": AS_OF[1]}}}}

    def alone(*assets):
        return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False,
                                      asset_selection=[dg.AssetKey(a) for a in assets])

    assert alone("first_time_entrants").success  # a file corrected, its source made again alone
    for asset in ("warehouse", "inspection_targets"):
        step, message = failure(alone(asset))
        assert step == asset and re.fullmatch(
            r"pipeline\.defs\.lineage\.InputsOfAnotherRefresh: indicator_\w+ \(run \w{8}\) was made before the "
            r"latest first_time_entrants \(run \w{8}\), not from it: the inputs are of two refreshes; materialise "
            r"the whole monthly_refresh job with these settings \(Materialize all\)", message), message
    assert sha(warehouse) == before
    # a refresh stopped by a blocking check on the list: what it made is not to be published
    monkeypatch.setattr(checks.q, "ranked_list_problems", lambda *args: ["rank 3 given twice"])
    stopped = run_refresh(data, warehouse, as_of=AS_OF[1], instance=instance)
    monkeypatch.undo()
    assert not stopped.success and sha(warehouse) == before
    step, message = failure(alone("warehouse"))
    assert step == "warehouse" and message == (
        f"pipeline.defs.lineage.InputsOfAnotherRefresh: inspection_targets was made by run {stopped.run_id[:8]}, "
        "in which its blocking check one_row_per_service failed: it was not to be published; materialise the "
        "whole monthly_refresh job with these settings (Materialize all)")
    assert sha(warehouse) == before
    assert run_refresh(data, warehouse, as_of=AS_OF[1], instance=instance).success
    assert alone("warehouse").success  # made again whole: one refresh's figures, republished


def test_a_whole_run_does_not_look_up_whose_its_inputs_are(data_dir, warehouse, monkeypatch):
    """The whole job's run in-process (the CLI's refresh) is recorded with an empty asset selection, which
    Dagster reads as none: the steps still asked the instance who made their inputs, every refresh."""
    looked_up = []

    def lookup(self, keys, *args, **kwargs):
        looked_up.append(keys)
        raise AssertionError("a whole run's inputs are its own")

    monkeypatch.setattr(dg.DagsterInstance, "get_latest_materialization_events", lookup)
    result = run_refresh(data_dir, warehouse, as_of=AS_OF[1])
    assert result.success and looked_up == [] and listed(warehouse) == AS_OF[1]
    assert result.dagster_run.asset_selection == frozenset()  # how execute_in_process records the whole job


def started_run(instance, **tags) -> str:
    """A run record left STARTED, as a refresh killed outright leaves it."""
    run = instance.add_run(dg.DagsterRun(job_name="monthly_refresh", status=dg.DagsterRunStatus.STARTED,
                                         tags=tags))
    return run.run_id


def test_a_run_left_started_by_a_process_that_died_is_marked_failed(tmp_path):
    """One STARTED run whose process was killed held back every run queued after it from the UI or the
    schedule, for good (one run at a time): the sensor's evaluation, run by the daemon, marks it failed;
    never a run whose process is alive, or without the tags, or from another host."""
    from pipeline.defs.run_owners import HOST_TAG, PID_TAG, STARTED_TAG, owner_tags
    from pipeline.defs.sensors import data_dir_changed

    gone = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE)
    gone.wait()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        mine = owner_tags()
        runs = {
            "dead": started_run(instance, **{**mine, PID_TAG: str(gone.pid), STARTED_TAG: "boot/1"}),
            "pid reused": started_run(instance, **{**mine, STARTED_TAG: "another boot/1"}),
            "alive": started_run(instance, **mine),
            "untagged": started_run(instance),
            "elsewhere": started_run(instance, **{**mine, HOST_TAG: "another-host", PID_TAG: str(gone.pid)}),
        }
        with dg.build_sensor_context(instance=instance, resources={
                "settings": RefreshSettings(data_dir=str(tmp_path))}) as context:
            data_dir_changed.evaluate_tick(context)
        status = {name: instance.get_run_by_id(run_id).status.value for name, run_id in runs.items()}
        assert status == {"dead": "FAILURE", "pid reused": "FAILURE", "alive": "STARTED", "untagged": "STARTED",
                          "elsewhere": "STARTED"}
        said = [e.message for e in instance.all_logs(runs["dead"]) if e.message.startswith("Marked failed")]
        assert said and f"the process that ran it (pid {gone.pid} on " in said[0]


def test_a_killed_cli_refresh_is_marked_failed_by_the_next(data_dir, warehouse, tmp_path):
    marker, home = tmp_path / "paused", tmp_path / "dagster_home"
    first = cli(data_dir, warehouse, tmp_path, YJT_PAUSE_AT="ingest", YJT_PAUSE_MARKER=str(marker))
    try:
        wait_for(marker)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (killed,) = instance.get_runs()
        assert killed.status == dg.DagsterRunStatus.STARTED and killed.tags["yjt/pid"] == str(first.pid)
    second = cli(data_dir, warehouse, tmp_path)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert f"NOTE: marked run {killed.run_id} failed: it was left STARTED by a refresh that died (pid " \
           f"{first.pid})" in second.stdout.read()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [r.status.value for r in instance.get_runs()] == ["SUCCESS", "FAILURE"]


def test_a_data_dir_that_is_missing_or_a_file_is_said_to_be(monkeypatch, capsys, tmp_path):
    from pipeline.cli import main

    (tmp_path / "a_file").write_text("not a folder")
    for name, said in (("missing", "does not exist"), ("a_file", "is a file, not a folder")):
        assert main(["refresh", "--data-dir", str(tmp_path / name)]) == 1
        assert capsys.readouterr().err == f"refresh failed: data dir {tmp_path / name} {said}\n"


@pytest.mark.parametrize("flag, env, said", [
    ("garbage", None, "--as-of: 'garbage' is not a date in YYYY-MM-DD form"),
    (None, "garbage", "YJT_AS_OF: 'garbage' is not a date in YYYY-MM-DD form"),
    ("2024-02-30", None, "--as-of: '2024-02-30' is not a day of the calendar: February 2024 has 29 days"),
    (None, "2026-13-01", "YJT_AS_OF: '2026-13-01' is not a day of the calendar: there is no month 13"),
    # forms Python's fromisoformat takes, not the contract's
    ("20240215", None, "--as-of: '20240215' is not a date in YYYY-MM-DD form"),
    ("2024-W07-1", None, "--as-of: '2024-W07-1' is not a date in YYYY-MM-DD form"),
    # days the calendar has but pandas' dates, and the back-test's months, do not (an OverflowError in
    # the back-test, or "year 0 is out of range" in the panel, had been the run's failure)
    ("2262-01-01", None, "--as-of: 2262-01-01 is outside the dates a list can be made as of (1900-01-01 to "
                         "2199-12-31)"),
    (None, "0001-01-01", "YJT_AS_OF: 0001-01-01 is outside the dates a list can be made as of (1900-01-01 to "
                         "2199-12-31)"),
])
def test_a_bad_as_of_names_the_flag_or_variable_it_came_from(monkeypatch, capsys, flag, env, said):
    from pipeline.cli import main

    monkeypatch.delenv("YJT_AS_OF", raising=False)
    if env:
        monkeypatch.setenv("YJT_AS_OF", env)
    assert main(["refresh", *(["--as-of", flag] if flag else [])]) == 1
    assert capsys.readouterr().err == f"refresh failed: {said}\n"
