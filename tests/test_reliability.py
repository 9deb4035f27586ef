"""Reliability of the monthly refresh, end to end: bad rows quarantined while
the refresh goes on, a guard stopping a file in the wrong unit, a refresh
killed at several points, a second refresh refused, analysts' sessions read
through three refreshes, and the security settings. Every refresh here is a
real one, on the demo data cut to 40 services (tests/corpus/mini.py)."""

from __future__ import annotations

import csv
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
    max_inspections_lost lets a correction through."""
    bad = shutil.copytree(data_dir, tmp_path / "bad")
    (bad / "inspections" / "inspections.csv").unlink()
    _rewrite(bad / "first_time_entrants" / "fte_2020_2025.csv", lambda row: row["period_end"] < "2024")
    before = sha(warehouse)
    step, message = failure(run_refresh(bad, warehouse, as_of=AS_OF[0]))
    assert step == "warehouse" and "\n" not in message, message
    lost = re.search(r"(\d+) of the (\d+) published inspections would be lost \(limit 0\), latest first: "
                     r"(.+?) \(files read: inspections/hmi_scrape_2023.csv; no longer read: "
                     r"inspections/inspections.csv\)", message)
    assert lost and int(lost[1]) > 30, message
    assert re.fullmatch(r"[A-Z][\w ]+ 2026-0[1-5]-\d\d [A-Z][\w ]+, .+ and \d+ more", lost[3]), lost[3]
    assert ("fte: its latest period would end 2023-12-31, where the published warehouse's ends 2025-12-31 (files "
            "read: first_time_entrants/fte_2013_2019.csv, first_time_entrants/fte_2020_2025.csv, "
            "first_time_entrants/zz_corrections.csv; 6 rows of first_time_entrants/ quarantined, e.g. ") in message
    assert sha(warehouse) == before and not wh.staging_files(warehouse)
    # a correction: as many inspections allowed to go as went; FTE still stops it
    step, message = failure(run_refresh(bad, warehouse, as_of=AS_OF[0], max_inspections_lost=int(lost[1])))
    assert "inspections" not in message and "fte: its latest period would end 2023-12-31" in message
    assert sha(warehouse) == before


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


def test_a_warehouse_path_holding_another_file_is_left_as_it_is(data_dir, tmp_path):
    not_ours = tmp_path / "warehouse.duckdb"
    not_ours.write_bytes(b"a spreadsheet saved under the warehouse's name " * 100)
    before = sha(not_ours)
    step, message = failure(run_refresh(data_dir, not_ours, as_of=AS_OF[0]))
    assert step == "warehouse" and message.startswith(
        f"pipeline.publish.warehouse.PublishError: the warehouse {not_ours} cannot be read (The file \"{not_ours}\" exists, but it is "
        "not a valid DuckDB database file!); it was left as it is: move it away or give another --warehouse")
    assert sha(not_ours) == before and not wh.staging_files(not_ours)


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
                {"max_services_dropped_share": 1.5}, {"max_inspections_lost": -1}):
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
