"""The analyst's day: views, example questions, the SQL prompt, exports,
plots and notebooks, all against a demo warehouse with two monthly lists."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import duckdb
import nbformat
import numpy as np
import openpyxl
import pandas as pd
import pytest
from nbclient import NotebookClient

from pipeline.backtest import plot as backtest_plot
from pipeline.defs.rank import SYNTHETIC_BANNER
from pipeline.indicators import BY_KEY
from pipeline.report import plots, svg
from pipeline.settings import REPO_ROOT
from tests.conftest import AS_OF, DEMO_DIR, run_refresh

QUESTIONS = sorted((REPO_ROOT / "sql" / "questions").glob("*.sql"))
VIEWS = sorted((REPO_ROOT / "sql" / "views").glob("*.sql"))
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
# text a notebook must show beyond its plots
NOTEBOOK_SHOWS = {"03_backtest": "caught in riskiest 10%"}
PREVIOUS = "2026-10-01"
SVG = "{http://www.w3.org/2000/svg}"


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


def test_no_figure_is_published_as_minus_zero(demo):
    # concern_outcome_model, a remainder rounded to 12 places, had been -0.0 in 54 of 155 demo rows
    db, _ = demo
    targets = query(db, "SELECT * FROM inspection_targets")
    numbers = targets.select_dtypes("number").to_numpy(float)
    assert not (np.signbit(numbers) & (numbers == 0)).any()


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


@pytest.fixture(scope="module")
def off_grid(tmp_path_factory):
    """The demo data plus one service's own later figure, off everyone else's grid (Leeds' 12 months
    to June 2026 among everyone's to December 2025): published with a warning, compared with no
    national rate and not ranked on (README: Reliability)."""
    import shutil

    data = tmp_path_factory.mktemp("off_grid") / "data"
    shutil.copytree(DEMO_DIR, data)
    (data / "first_time_entrants" / "fte_leeds_2026.csv").write_text(
        "yjs_name,period_end,period_months,fte_count\nLeeds,2026-06,12,95\n")
    db = data.parent / "warehouse.duckdb"
    assert run_refresh(data, db).success
    return db


def test_the_latest_period_shown_is_the_latest_compared_with_national(demo, off_grid):
    """One service's later period with no national rate had become "the latest period" of the
    funnel plots (one grey point, no national line or limits), of above_95_in_latest_period
    (every service under no_figure), of overdispersion_latest (no national rate, no phi) and, for
    that service, of latest_indicators and service_profile (its compared figure hidden). They show
    the latest period compared with national, as the ranking uses; the demo's answers unchanged."""
    db, _ = demo
    leeds = query(off_grid, "SELECT * FROM indicator_values WHERE yjs_id = 'leeds' AND indicator = 'fte' "
                            "ORDER BY period_end DESC LIMIT 1")
    assert str(leeds["period_end"].iloc[0].date()) == "2026-06-30" and leeds["national_rate"].isna().all()
    for name in ("above_95_in_latest_period", "overdispersion_latest"):
        sql = (REPO_ROOT / "sql" / "questions" / f"{name}.sql").read_text()
        got, want = query(off_grid, sql), query(db, sql)
        assert got["national_rate" if "national_rate" in got else "within_limits"].notna().all()
        pd.testing.assert_frame_equal(got, want)
    for view, key in (("latest_indicators", ["yjs_id", "indicator"]), ("service_profile", ["yjs_id"])):
        got, want = (query(d, f"SELECT * FROM {view} ORDER BY {', '.join(key)}") for d in (off_grid, db))
        columns = [c for c in want.columns if c.startswith(("fte", "period", "rate", "national", "z_", "funnel"))]
        pd.testing.assert_frame_equal(got[key + columns], want[key + columns])
    for key in ("fte", "reoffending", "custody"):
        got = plots.latest_period(query(off_grid, "SELECT * FROM indicator_values"), key)
        want = plots.latest_period(query(db, "SELECT * FROM indicator_values"), key)
        assert got["national_rate"].notna().all() and len(got) > 100
        pd.testing.assert_frame_equal(got.reset_index(drop=True)[["yjs_id", "period_end", "rate"]],
                                      want.reset_index(drop=True)[["yjs_id", "period_end", "rate"]])


def test_rank_movers_compare_with_last_month(demo):
    db, _ = demo
    movers = query(db, (REPO_ROOT / "sql/questions/rank_movers_since_last_month.sql").read_text())
    assert len(movers) > 0 and movers["previous_rank"].notna().all()


def test_rank_movers_say_which_as_of_they_compare_with(demo):
    """'The one before' is the previous as-of in ranking_history, whatever its date
    (after a backfill it had compared 2026-12-02 with 2026-06-01, unseen)."""
    db, _ = demo
    movers = query(db, (REPO_ROOT / "sql/questions/rank_movers_since_last_month.sql").read_text())
    assert (movers["previous_as_of"].astype(str) == PREVIOUS).all() and (movers["as_of"].astype(str) == AS_OF).all()
    changes = query(db, "SELECT * FROM rank_changes WHERE CAST(as_of AS VARCHAR) = ?", [PREVIOUS])
    assert len(changes) == 155 and changes["previous_as_of"].isna().all()  # the first list: none before it


@pytest.mark.parametrize("name", ["never_inspected", "longest_since_inspection"])
def test_inspection_questions_say_where_the_records_begin(demo, name):
    """A service with no inspection on record may have been inspected before the
    records read begin (the HMI scrape starts in March 2021): the answer says when that is."""
    db, _ = demo
    sql = (REPO_ROOT / "sql" / "questions" / f"{name}.sql").read_text()
    answer = query(db, sql)
    begin = query(db, "SELECT min(published) AS begin FROM inspections")["begin"].iloc[0]
    assert "inspection_records_begin" in answer.columns and (answer["inspection_records_begin"] == begin).all()
    assert "begin" in sql[:sql.index("SELECT")] and "2021" in sql[:sql.index("SELECT")]  # the caveat, said


def prompt(db, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.sql_prompt", str(db), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, error", [
    (["-c", "SELECT * FROM nosuch"], "error: Catalog Error: Table with name nosuch does not exist!"),
    (["-c", "SELECT CAST('x' AS INTEGER)"], "error: Conversion Error"),  # fails only when it runs
    (["-c", "DELETE FROM services"], "read-only mode"),
    (["-f", "nosuch"], "no such file or question: nosuch")])
def test_sql_prompt_fails_with_a_non_zero_exit_when_a_statement_fails(demo, args, error):
    """A script or scheduled check sees the failure: exit 1, the error on stderr."""
    db, _ = demo
    out = prompt(db, *args)
    assert out.returncode == 1 and error in out.stderr and out.stdout == "", (out.stdout, out.stderr)


def test_sql_prompt_says_in_one_line_that_a_warehouse_is_not_one(tmp_path):
    """A folder or an export given for the warehouse: one line and exit 1 (a traceback had come, and for
    a .csv DuckDB's "Cannot launch in-memory database in read-only mode!")."""
    (tmp_path / "targets.csv").write_text("rank,yjs_id\n1,a\n")
    for path, said in ((tmp_path, f"the warehouse {tmp_path} cannot be read: Is a directory"),
                       (tmp_path / "targets.csv", f"the warehouse {tmp_path / 'targets.csv'} is not a DuckDB file")):
        out = prompt(path, "-c", "SELECT 1")
        assert out.returncode == 1 and out.stderr == said + "\n" and out.stdout == "", (out.stdout, out.stderr)


def test_sql_prompt_goes_on_after_an_error_at_the_prompt(demo):
    db, _ = demo
    out = prompt(db, stdin="SELECT * FROM nosuch;\n.read nosuch\nSELECT 1 AS one;\n")
    assert out.returncode == 0 and "Catalog Error" in out.stdout and "no such file or question" in out.stdout
    assert out.stdout.rstrip().endswith("one\n  1\n(1 row)")


def test_sql_prompt_shows_an_empty_answer_once_with_its_columns(demo):
    db, _ = demo
    out = prompt(db, "-c", "SELECT rank, yjs_name FROM inspection_targets WHERE rank < 0")
    assert out.returncode == 0 and out.stdout.splitlines() == ["rank  yjs_name", "(0 rows)"]


def test_sql_prompt_shows_every_statement_it_is_given_and_stops_at_the_first_error(demo):
    """Several statements in one -c (or file): each answer printed in order (DuckDB ran them all and
    the prompt printed the last answer alone, with nothing said of the others); a failing one stops
    the rest, as a script does, with exit 1."""
    db, _ = demo
    out = prompt(db, "-c", "SELECT 11 AS first; SELECT count(*) AS services FROM services")
    assert out.returncode == 0 and out.stdout.splitlines() == [
        "first", "   11", "(1 row)", "services", "     155", "(1 row)"], out.stdout
    out = prompt(db, "-c", "SELECT 11 AS first; SELECT * FROM nosuch; SELECT 33 AS third")
    assert out.returncode == 1 and out.stdout.splitlines() == ["first", "   11", "(1 row)"], out.stdout
    assert out.stderr.startswith("error: Catalog Error: Table with name nosuch does not exist!")

def test_sql_prompt_left_aligns_text_and_right_aligns_numbers(demo):
    """The reasons start under their header on every row (pandas right-aligned them,
    so each row's reasons began wherever its length left them); NULL is NULL."""
    db, _ = demo
    out = prompt(db, "-f", "top_10_with_reasons")
    assert out.returncode == 0, out.stderr
    header, *rows, count = out.stdout.splitlines()
    ranked = query(db, "SELECT rank, reasons FROM inspection_targets ORDER BY rank LIMIT 10")
    at = header.index("reasons")
    assert count == "(10 rows)" and [row[at:] for row in rows] == ranked["reasons"].tolist()
    assert [row[:header.index("rank") + 4].strip() for row in rows] == [str(r) for r in ranked["rank"]]
    assert header.startswith("rank") and rows[0].startswith("   1")  # numbers right, under their header
    out = prompt(db, "-c", "SELECT NULL::INTEGER AS n, NULL::VARCHAR AS s, 'x' AS t")
    assert out.stdout.splitlines() == ["   n  s     t", "NULL  NULL  x", "(1 row)"]


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
    picks = query(db, "SELECT recommendation, count(*) AS n FROM inspection_targets GROUP BY 1")
    picks = dict(zip(picks["recommendation"], picks["n"]))
    assert len(sheets["full_joint_inspection"]) == 8 == picks["full_joint_inspection"]
    assert len(sheets["benchmark_visit"]) == picks["benchmark_visit"] >= 1
    assert sum(len(sheets[k]) for k in ("full_joint_inspection", "benchmark_visit", "monitor")) == 155
    assert len(sheets["service_profile"]) == 155 and sheets["full_joint_inspection"]["reasons"].str.len().min() > 0
    book = openpyxl.load_workbook(xlsx, read_only=True)
    assert "SYNTHETIC" in " ".join(str(c.value) for row in book["about"].iter_rows() for c in row)


def svg_of(markdown: str) -> bytes:
    """The SVG inside a Markdown image with a base64 data URI (after the banners above it, if any)."""
    markdown = markdown[markdown.index("!["):]
    assert "(data:image/svg+xml;base64," in markdown
    return base64.b64decode(markdown.split("base64,", 1)[1].rstrip(")"), validate=True)


def parse_svg(raw: bytes | str) -> ET.Element:
    """The SVG parsed as XML, with the size an <img> needs."""
    root = ET.fromstring(raw)
    assert root.tag == f"{SVG}svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}" and width > 300 and height > 100
    return root


def texts(root: ET.Element) -> set[str]:
    return {t.text for t in root.iter(f"{SVG}text") if t.text}


def of_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    """Elements ``tag`` with class ``cls``, or inside a group with that class."""
    found = [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == cls:
            found += list(g.iter(f"{SVG}{tag}"))
    return found


def test_inspection_targets_materialisation_carries_the_plots(demo):
    db, result = demo
    [mat] = [m for m in result.asset_materializations_for_node("inspection_targets")]
    md = {k: v.value for k, v in mat.metadata.items() if hasattr(v, "value")}
    ranked = query(db, "SELECT * FROM inspection_targets")
    values = query(db, "SELECT * FROM indicator_values")
    recommended = set(ranked.loc[ranked["recommendation"] != "monitor", "yjs_name"])
    for key in ("fte", "reoffending", "custody"):
        assert md[f"funnel_{key}"].startswith(SYNTHETIC_BANNER + "![")  # its view says the data is synthetic
        raw = svg_of(md[f"funnel_{key}"])
        assert len(raw) < 40_000, f"funnel_{key} is {len(raw)} bytes"
        root = parse_svg(raw)
        period = plots.latest_period(values, key)
        points = sum(len(of_class(root, "circle", k)) for k in plots.COLOURS)
        assert points == len(period) > 100  # one point a service
        assert len(of_class(root, "circle", "full_joint_inspection")) == \
            period["yjs_id"].isin(ranked.loc[ranked["recommendation"] == "full_joint_inspection", "yjs_id"]).sum()
        assert len(of_class(root, "path", "limit_95")) == len(of_class(root, "path", "limit_998")) == 2
        assert len(of_class(root, "path", "national")) == 1
        shown = texts(root)
        assert recommended & shown and {"national", "95% limits", "99.8% limits", "full joint inspection"} <= shown
        assert [t.text for t in of_class(root, "text", "stamp")] == ["SYNTHETIC demo data"]  # saved alone, it says so
        assert any("log scale" in t for t in shown) and any(t.startswith(key_label(key)) for t in shown)
    raw = svg_of(md["rank_intervals"])
    root = parse_svg(raw)
    assert [t.text for t in of_class(root, "text", "stamp")] == ["SYNTHETIC demo data"]
    assert len(raw) < 40_000 and len(of_class(root, "circle", "rank")) == 30
    top = query(db, "SELECT yjs_name FROM inspection_targets WHERE rank = 1")["yjs_name"].iloc[0]
    assert top in md["top_of_list"] and f"{top} (1)" in texts(root)


def key_label(key: str) -> str:
    return BY_KEY[key].label.capitalize()


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
    root = parse_svg(svg.funnel(values, ranked, "reoffending", dispersion))
    limits = of_class(root, "path", "limit_95") + of_class(root, "path", "limit_998")
    assert len(limits) == 4 and all(p.get("d").count("L") == 199 for p in limits)  # 200-point grid
    assert set(ranked.loc[ranked["recommendation"] != "monitor", "yjs_name"]) & texts(root)


def funnel_inputs(names: list[str], kinds: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """indicator_values (one fte period, published limits) and a ranked list."""
    n = len(names)
    den = [2_000.0 * (i + 1) for i in range(n)]
    values = pd.DataFrame({
        "yjs_id": [f"s{i}" for i in range(n)], "indicator": "fte", "period_end": pd.Timestamp("2025-12-31"),
        "period_months": 12, "denominator": den, "rate": [100.0 + 40 * (-1) ** i for i in range(n)],
        "national_rate": 100.0, "limit_95_low": [100 - 2000 / d ** 0.5 for d in den],
        "limit_95_high": [100 + 2000 / d ** 0.5 for d in den], "limit_998_low": [100 - 3000 / d ** 0.5 for d in den],
        "limit_998_high": [100 + 3000 / d ** 0.5 for d in den]})
    ranked = pd.DataFrame({"yjs_id": [f"s{i}" for i in range(n)], "yjs_name": names, "recommendation": kinds,
                           "rank": range(1, n + 1), "rank_low": [max(1, i - 2) for i in range(1, n + 1)],
                           "rank_high": [i + 5 for i in range(1, n + 1)]})
    return values, ranked


def test_svg_escapes_service_names_and_stays_valid_xml():
    awkward = ["Bath & North East Somerset", "<Tricky> \"Quoted\" O'Brien", "Ctrl\x07char", "Plain"]
    values, ranked = funnel_inputs(awkward, ["full_joint_inspection", "benchmark_visit",
                                             "full_joint_inspection", "monitor"])
    for image in (svg.funnel(values, ranked, "fte"), svg.rank_intervals(ranked)):
        root = parse_svg(image)
        shown = texts(root)
        assert {"Bath & North East Somerset", "<Tricky> \"Quoted\" O'Brien"} <= {t.split(" (")[0] for t in shown}
        assert "Ctrlchar" in {t.split(" (")[0] for t in shown}  # XML cannot carry \x07
        assert "& " not in image and "<Tricky" not in image
        base = svg.markdown_image(image, "a [plot]")
        assert base.startswith("![a (plot)](data:image/svg+xml;base64,")
        assert ET.fromstring(svg_of(base)).tag == f"{SVG}svg"
    root = parse_svg(svg.funnel(values, ranked, "fte"))
    assert len(of_class(root, "circle", "monitor")) == 1 and len(of_class(root, "circle", "benchmark_visit")) == 1
    assert "Plain" not in texts(root)  # only recommended services are named


def test_svg_funnel_and_ranks_cope_with_no_figures():
    values, ranked = funnel_inputs(["A", "B"], ["monitor", "monitor"])
    root = parse_svg(svg.funnel(values, ranked, "custody"))
    assert "no custodial sentences figures" in texts(root)
    root = parse_svg(svg.rank_intervals(ranked.iloc[:0]))
    assert "no ranked services" in texts(root)
    unranked = ranked.assign(yjs_id=["x", "y"])  # services not (yet) on the list: monitor, named by id
    root = parse_svg(svg.funnel(values, unranked, "fte"))
    assert len(of_class(root, "circle", "monitor")) == 2


def test_svg_catch_curve_draws_one_line_per_method_and_the_diagonal():
    x = [i / 10 for i in range(11)]
    curves = pd.concat([
        pd.DataFrame({"method": "concern_score", "share_inspected": x, "share_caught": [v ** 0.5 for v in x]}),
        pd.DataFrame({"method": "league_table", "share_inspected": x,
                      "share_caught": [float("nan")] + [v ** 0.8 for v in x[1:]]}),
    ])
    image = backtest_plot.catch_curve_svg(curves, "Back-test to 2026-11-01 & after")
    root = parse_svg(image)
    lines = of_class(root, "path", "curve")
    assert len(lines) == 2 and lines[0].get("stroke-width") == "2.2"
    assert lines[0].get("d").count("L") == 10 and lines[1].get("d").count("L") == 9  # NaN left out
    shown = texts(root)
    assert {"random", "concern score (pipeline)", "raw-rate league table", "100%"} <= shown
    assert "Back-test to 2026-11-01 & after" in shown
    assert "data:image/svg+xml;base64," in svg.markdown_image(image, "caught")
    empty = pd.DataFrame(columns=["method", "share_inspected", "share_caught"])
    assert not of_class(parse_svg(svg.catch_curve(empty)), "path", "curve")


def test_svg_axis_ticks_are_round_numbers():
    assert svg.nice_ticks(0, 317) == [0, 50, 100, 150, 200, 250, 300, 350]
    assert svg.nice_ticks(0, 0.78) == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    assert svg.nice_ticks(0, 57, most=6) == [0, 10, 20, 30, 40, 50, 60]
    assert svg.log_ticks(3, 120) == [5, 10, 20, 50, 100]
    assert svg.log_ticks(1, 1e7) == [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7]
    assert [svg.tick_label(v, 0.25) for v in (0, 0.25, 0.5)] == ["0.00", "0.25", "0.50"]
    assert svg.tick_label(20_000) == "20,000" and svg.tick_label(0.4, 0.2) == "0.4"
    assert svg.esc("a&b<c>'d\"") == "a&amp;b&lt;c&gt;&#39;d&quot;"


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


def test_a_notebook_plot_saved_on_its_own_says_whose_data_it_shows(demo):
    db, _ = demo
    values = query(db, "SELECT * FROM indicator_values WHERE yjs_id = 'leeds'")
    note = query(db, "SELECT synthetic_note FROM run_metadata")["synthetic_note"].iloc[0]
    fig = plots.stamped(plots.history_plot(values, "leeds", "Leeds"), plots.stamp_of(note))
    assert fig._suptitle.get_text() == "Leeds"
    assert [t.get_text() for t in fig.texts if t is not fig._suptitle] == ["SYNTHETIC demo data"]
    partly = "Partly demo data: the tables in custody are the demo's SYNTHETIC figures; the others are ..."
    assert plots.stamp_of(partly) == "partly SYNTHETIC demo data" and plots.stamp_of("") == ""
    bare = plots.stamped(plots.history_plot(values, "leeds"), "")
    assert [t.get_text() for t in bare.texts] == ["leeds"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebooks_first_cell_run_again_sees_a_refresh_published_since(demo, path, tmp_path, monkeypatch):
    """In one process DuckDB hands a second ``connect`` to a file the database it already has open:
    run again after a refresh, the first cell had shown the old snapshot."""
    import os
    import shutil

    db, _ = demo
    published, newer = tmp_path / "warehouse.duckdb", tmp_path / "newer.duckdb"
    shutil.copyfile(db, published)
    shutil.copyfile(db, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE run_metadata SET as_of = DATE '2030-01-01'")
    monkeypatch.setenv("YJT_WAREHOUSE", str(published))
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "duckdb.connect(" in c.source)
    source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
    namespace: dict = {}
    exec(source, namespace)
    first = namespace["run"]["as_of"].iloc[0]
    os.replace(newer, published)  # as a refresh swaps its new version in
    exec(source, namespace)
    assert str(first)[:10] == AS_OF and str(namespace["run"]["as_of"].iloc[0])[:10] == "2030-01-01"
    namespace["con"].close()
