"""The Dagster definitions load, and the schedule asks for a monthly refresh."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipeline.definitions import defs
from pipeline.settings import REPO_ROOT

ASSETS = {"services", "population", "first_time_entrants", "reoffending", "custody", "inspections",
          "indicator_values", "indicator_dispersion", "indicator_evidence", "inspection_targets",
          "warehouse", "backtest_rankings", "outcome_model", "backtest_scores", "backtest_metrics"}


def test_definitions_are_loadable_with_every_asset_and_the_job():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert ASSETS <= keys
    job = defs.resolve_job_def("monthly_refresh")
    assert job.executor_def.name == "in_process"


def _described(definitions: dg.Definitions) -> dict:
    repo = definitions.get_repository_def()
    job = repo.get_job("monthly_refresh")
    return {"assets": {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()},
            "checks": {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys},
            "check steps": {n.name for n in job.graph.nodes}, "jobs": set(repo.job_names),
            "schedules": {s.name for s in repo.schedule_defs}, "sensors": {s.name for s in repo.sensor_defs},
            "resources": set(repo.get_top_level_resources()), "executor": job.executor_def.name}


def test_the_definitions_are_what_the_defs_folder_holds():
    """definitions.py merges pipeline/defs' modules itself (load_from_defs_folder also looked up every installed
    package's component types, 0.13-0.16 s of each load): every asset, check, step, job, schedule, sensor and
    resource the folder's loader finds, so that a new module or object under pipeline/defs is not left out."""
    folder = dg.load_from_defs_folder(path_within_project=REPO_ROOT / "pipeline" / "defs")
    assert _described(defs) == _described(folder)


def test_schedule_requests_the_current_month_as_of_its_first_day():
    schedule = defs.resolve_schedule_def("monthly_refresh_schedule")
    assert schedule.job_name == "monthly_refresh"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 2 * *", "Europe/London")
    tick = dt.datetime(2026, 8, 2, 6, 0, tzinfo=dt.timezone.utc)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick)
    [request] = schedule.evaluate_tick(ctx).run_requests
    assert request.partition_key == "2026-08-01"
    assert request.run_config["resources"]["settings"]["config"]["as_of"] == "2026-08-01"


def test_the_refresh_is_partitioned_by_month_through_the_as_of():
    job = defs.resolve_job_def("monthly_refresh")
    keys = job.partitions_def.get_partition_keys(current_time=dt.datetime(2026, 12, 1, 12))
    assert keys[0] == "2012-09-01" and keys[-1] == "2026-12-01" and len(keys) == 172
    config = job.partitioned_config.get_run_config_for_partition_key("2019-03-01")
    assert config["resources"]["settings"]["config"]["as_of"] == "2019-03-01"


def test_dagster_cli_validates_the_definitions(tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    dagster = str(Path(sys.executable).parent / "dagster")
    out = subprocess.run([dagster, "definitions", "validate"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr


def test_loading_the_definitions_imports_no_heavy_library():
    """`dagster dev` loads the definitions first: scikit-learn, SciPy and
    matplotlib (the notebooks' plots) are imported only by the steps that use them."""
    code = ("import sys; from pipeline.definitions import defs; defs.resolve_job_def('monthly_refresh'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sklearn', 'scipy', 'matplotlib', 'threadpoolctl', 'openpyxl'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_table_metadata_is_markdown_of_its_first_rows_or_none():
    import pandas as pd

    from pipeline.defs.metadata import md_table

    df = pd.DataFrame({"yjs_id": ["a", "b", "c"], "z": [1.23456, -0.5, 2.0]})
    text = md_table(df, rows=2).value
    assert text.splitlines()[0] == "| yjs_id | z |" and len(text.splitlines()) == 4  # header, rule, 2 rows
    assert "1.23" in text and "1.23456" not in text  # .3g by default
    assert "1.23456" in md_table(df, floatfmt="g").value and len(md_table(df).value.splitlines()) == 5
    assert md_table(df.iloc[:0]).value == "none"


def test_the_recommended_list_names_the_picked_services_or_says_none_was_picked():
    import pandas as pd

    from pipeline.defs.rank import NONE_RECOMMENDED, SYNTHETIC_BANNER, recommended_markdown
    from pipeline.settings import DEMO_NOTE

    ranked = pd.DataFrame({"rank": [1, 2, 3], "yjs_name": ["Ayton", "Beeton", "Ceeton"],
                           "recommendation": ["full_joint_inspection", "monitor", "benchmark_visit"],
                           "rank_low": [1, 1, 2], "rank_high": [2, 3, 3], "reasons": ["r1", "r2", "r3"],
                           "p_full_joint": [0.514, 0.486, float("nan")]})
    text = recommended_markdown(ranked, DEMO_NOTE)
    assert text.startswith(SYNTHETIC_BANNER)
    rows = text[len(SYNTHETIC_BANNER):].splitlines()
    assert rows[0] == ("| rank | service | recommendation | rank interval (90%) "
                       "| among the full joint picks in simulations | reasons |") and len(rows) == 4
    assert "| 1 | Ayton | full joint inspection | 1-2 | 51% | r1 |" in rows
    assert "| 3 | Ceeton | benchmark visit | 2-3 | - | r3 |" in rows
    assert "Ayton" in text and "Ceeton" in text and "Beeton" not in text
    quiet = ranked.assign(recommendation="monitor")
    assert recommended_markdown(quiet, "") == NONE_RECOMMENDED
    # the notes of why fewer were picked than asked are given with the list, or with its absence
    assert recommended_markdown(ranked, "", notes=["Only 1."]).startswith("*Only 1.*\n\n| rank |")
    assert recommended_markdown(quiet, "", notes=["No x."]) == NONE_RECOMMENDED + "\n\n*No x.*\n\n"
    assert recommended_markdown(quiet, DEMO_NOTE) == SYNTHETIC_BANNER + NONE_RECOMMENDED
    # which data was ranked, for which warehouse: the UI shows the latest run's list, wherever it went
    assert recommended_markdown(quiet, "", source="Ranked as of 2026-11-01 from x, for y.").endswith(
        "\n\n*Ranked as of 2026-11-01 from x, for y.*")
    partly = "Partly demo data: the tables in custody are the demo's SYNTHETIC figures; the others are ..."
    assert recommended_markdown(quiet, partly).startswith(f"**{partly}**\n\n")


def test_an_ingested_source_with_no_rows_says_none_in_the_ui():
    import pandas as pd

    from pipeline.defs.ingest import _result
    from pipeline.ingest.results import Ingested

    files = pd.DataFrame({"file": ["inspections/a.csv"], "rows": [2], "sha256": ["ab12"]})
    empty = Ingested(table=pd.DataFrame({"yjs_id": pd.Series([], dtype=object)}),
                     quarantine=pd.DataFrame({"row": [2, 3]}), files=files)
    meta = _result(empty).metadata
    assert meta["preview"].value == "none" and meta["rows"].value == 0 and meta["quarantined"].value == 2
    assert "inspections/a.csv" in meta["files"].value
    full = _result(Ingested(table=pd.DataFrame({"yjs_id": [f"S{i}" for i in range(12)]}),
                            quarantine=pd.DataFrame({"row": []}), files=files)).metadata
    assert len(full["preview"].value.splitlines()) == 12  # header, rule and the first 10 rows


def test_the_launchpad_says_what_an_empty_path_or_date_falls_back_to():
    """The launchpad shows `data_dir: ''`: its description says that empty
    means the environment variable, else the default."""
    job = defs.resolve_job_def("monthly_refresh")
    resources = job.run_config_schema.config_type.fields["resources"].config_type
    fields = resources.fields["settings"].config_type.fields["config"].config_type.fields
    for name, variable, default in [("data_dir", "YJT_DATA_DIR", "data/demo"),
                                    ("warehouse", "YJT_WAREHOUSE", "data/warehouse.duckdb"),
                                    ("as_of", "YJT_AS_OF", "today")]:
        description = fields[name].description or ""
        assert f"Empty: ${variable}, else {default}." in description, (name, description)
    assert all(field.description for field in fields.values())  # every setting says what it is
