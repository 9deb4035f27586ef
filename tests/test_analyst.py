"""The analyst's day: views, example questions, the SQL prompt, exports,
plots and notebooks, all against a demo warehouse with two monthly lists."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import duckdb
import nbformat
import openpyxl
import pandas as pd
import pytest
from nbclient import NotebookClient

from pipeline.report import plots
from pipeline.settings import REPO_ROOT
from tests.conftest import AS_OF, DEMO_DIR, run_refresh

QUESTIONS = sorted((REPO_ROOT / "sql" / "questions").glob("*.sql"))
VIEWS = sorted((REPO_ROOT / "sql" / "views").glob("*.sql"))
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
# text a notebook must show beyond its plots
NOTEBOOK_SHOWS = {"03_backtest": "caught in riskiest 10%"}
PREVIOUS = "2026-10-01"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A warehouse with last month's and this month's list, and the run's result."""
    db = tmp_path_factory.mktemp("analyst") / "warehouse.duckdb"
    assert run_refresh(DEMO_DIR, db, as_of=PREVIOUS).success
    result = run_refresh(DEMO_DIR, db)
    assert result.success
    return db, result


def query(db, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).df()


def test_every_view_in_sql_views_is_in_the_warehouse(demo):
    db, _ = demo
    views = set(query(db, "SELECT view_name FROM duckdb_views() WHERE NOT internal")["view_name"])
    assert {p.stem for p in VIEWS} <= views
    assert {"latest_indicators", "rank_changes", "service_profile"} <= views


def test_service_profile_has_one_row_per_service_with_its_figures(demo):
    db, _ = demo
    profile = query(db, "SELECT * FROM service_profile")
    services = query(db, "SELECT yjs_id FROM services")
    assert len(profile) == len(services) and profile["yjs_id"].is_unique
    for key in ("fte", "reoffending", "custody"):
        assert {f"{key}_rate", f"{key}_z", f"{key}_band", f"{key}_national_rate"} <= set(profile.columns)
        assert profile[f"{key}_rate"].notna().mean() > 0.8
    assert profile["rank"].notna().all() and profile["recommendation"].notna().all()
    assert profile["last_inspected"].notna().any() and profile["region"].notna().all()


@pytest.mark.parametrize("path", QUESTIONS, ids=[p.stem for p in QUESTIONS])
def test_every_example_question_runs_as_it_is(demo, path):
    db, _ = demo
    sql = path.read_text(encoding="utf-8")
    assert sql.lstrip().startswith("--"), "each question starts with a comment saying what it asks"
    with duckdb.connect(str(db), read_only=True) as con:
        assert len(con.extract_statements(sql)) == 1, "one statement per file"
        df = con.execute(sql).df()
    assert len(df.columns) > 0


def test_rank_movers_compare_with_last_month(demo):
    db, _ = demo
    movers = query(db, (REPO_ROOT / "sql/questions/rank_movers_since_last_month.sql").read_text())
    assert len(movers) > 0 and movers["previous_rank"].notna().all()


def test_sql_prompt_answers_read_only(demo):
    db, _ = demo
    run = [sys.executable, "-m", "pipeline.sql_prompt", str(db)]
    out = subprocess.run(run + ["-c", "SELECT count(*) AS n FROM inspection_targets"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "155" in out.stdout
    piped = ".tables\nSELECT yjs_name\nFROM inspection_targets WHERE rank = 1;\n" \
            "CREATE TABLE x AS SELECT 1;\n.read top_10_with_reasons\n.quit\n"
    out = subprocess.run(run, input=piped, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    top = query(db, "SELECT yjs_name FROM inspection_targets WHERE rank = 1")["yjs_name"].iloc[0]
    assert "service_profile" in out.stdout and top in out.stdout
    assert "read-only" in out.stdout.lower() and "(10 rows)" in out.stdout


def test_exports_open_with_pandas_and_openpyxl(demo):
    db, _ = demo
    folder = db.parent / "exports"
    csv, xlsx = folder / f"inspection_targets_{AS_OF}.csv", folder / f"inspection_targets_{AS_OF}.xlsx"
    assert csv.exists() and xlsx.exists() and (folder / f"inspection_targets_{PREVIOUS}.xlsx").exists()
    ranked = pd.read_csv(csv)
    assert len(ranked) == 155 and ranked["rank"].tolist() == list(range(1, 156))
    sheets = pd.read_excel(xlsx, sheet_name=None)
    assert list(sheets)[:4] == ["full_joint_inspection", "benchmark_visit", "monitor", "service_profile"]
    assert len(sheets["full_joint_inspection"]) == 8 and len(sheets["benchmark_visit"]) == 2
    assert sum(len(sheets[k]) for k in ("full_joint_inspection", "benchmark_visit", "monitor")) == 155
    assert len(sheets["service_profile"]) == 155 and sheets["full_joint_inspection"]["reasons"].str.len().min() > 0
    book = openpyxl.load_workbook(xlsx, read_only=True)
    assert "SYNTHETIC" in " ".join(str(c.value) for row in book["about"].iter_rows() for c in row)


def test_inspection_targets_materialisation_carries_the_plots(demo):
    _, result = demo
    [mat] = [m for m in result.asset_materializations_for_node("inspection_targets")]
    md = {k: v.value for k, v in mat.metadata.items() if hasattr(v, "value")}
    for key in ("funnel_fte", "funnel_reoffending", "funnel_custody", "rank_intervals"):
        assert md[key].startswith("![") and "(data:image/png;base64," in md[key]
        png = base64.b64decode(md[key].split("base64,", 1)[1].rstrip(")"))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    top = query(demo[0], "SELECT yjs_name FROM inspection_targets WHERE rank = 1")["yjs_name"].iloc[0]
    assert top in md["top_of_list"]


def test_funnel_plot_computes_limits_when_the_table_lacks_them(demo):
    db, _ = demo
    values = query(db, "SELECT * FROM indicator_values").drop(columns=plots.LIMIT_COLUMNS)
    ranked = query(db, "SELECT * FROM inspection_targets")
    dispersion = query(db, "SELECT * FROM indicator_dispersion")
    fig = plots.funnel_plot(values, ranked, "reoffending", dispersion)
    ax = fig.axes[0]
    assert len(ax.lines) == 5  # national + two limits either side
    labels = {t.get_text() for t in ax.texts}
    assert set(ranked.loc[ranked["recommendation"] != "monitor", "yjs_name"]) & labels
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_cleanly_and_is_committed_without_outputs(demo, path, monkeypatch, tmp_path):
    db, _ = demo
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs before committing"
    monkeypatch.setenv("YJT_WAREHOUSE", str(db))
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook shows its plots"
    if path.stem in NOTEBOOK_SHOWS:
        shown = " ".join(str(v) for o in outputs for v in o.get("data", {}).values())
        assert NOTEBOOK_SHOWS[path.stem] in shown


def test_two_notebooks_named_for_what_they_show():
    names = [p.name for p in NOTEBOOKS]
    assert "01_ranked_list_and_funnel_plots.ipynb" in names and "02_service_history.ipynb" in names
