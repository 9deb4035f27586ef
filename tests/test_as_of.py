"""As-of correctness (contract: ``--as-of D``): the list ranked as of D from
the full demo data equals the list ranked as of D from the demo data
physically cut at D - indicator rows whose period ended after D minus the
publication lag, and inspections published after D, deleted from the files.

One date goes through the CLI's route (settings ``as_of``), the other through
the monthly partition of the job (the partition key sets ``as_of``)."""

from __future__ import annotations

import functools
import re
import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipeline.model.panel import indicator_cutoff
from pipeline.rank import targets
from pipeline.settings import REPO_ROOT
from tests.conftest import AS_OF, DEMO_DIR, cli_refresh, run_refresh

LAG_MONTHS = 3
CUT = {"first_time_entrants": "period", "reoffending": "period", "custody": "period",
       "inspections": "published"}
DATE_COLUMNS = {"periodend", "cohortend", "financialyear", "published", "publicationdate"}
COMPARED = ["inspection_targets", "indicator_values", "indicator_evidence", "inspections",
            "backtest_scores", "backtest_metrics"]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _dates(column: str, values: pd.Series) -> pd.Series:
    """Each row's period end (last day of its last month) or publication date."""
    key = _norm(column)
    if key == "financialyear":  # 2019-20 ends March 2020
        values = (values.str[:4].astype(int) + 1).astype(str) + "-03"
    if key == "publicationdate":
        return pd.to_datetime(values, format="%d/%m/%y")
    if key == "published":
        return pd.to_datetime(values)
    return pd.to_datetime(values).dt.to_period("M").dt.end_time.dt.normalize()


def cut_data(dst, as_of: str) -> dict[str, int]:
    """A copy of the demo data holding only what was published by ``as_of``;
    returns the rows deleted per source."""
    shutil.copytree(DEMO_DIR, dst)
    limits = {"period": indicator_cutoff(pd.Timestamp(as_of).date(), LAG_MONTHS),
              "published": pd.Timestamp(as_of)}
    dropped = {}
    for source, kind in CUT.items():
        dropped[source] = 0
        for path in sorted((dst / source).glob("*.csv")):
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            [col] = [c for c in df.columns if _norm(c) in DATE_COLUMNS]
            keep = (_dates(col, df[col]) <= limits[kind]).to_numpy()
            dropped[source] += int((~keep).sum())
            df[keep].to_csv(path, index=False)
    return dropped


def read(db) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f'SELECT * FROM "{t}"').df() for t in COMPARED}


def refresh_by_partition(data_dir, warehouse, month: str, monkeypatch):
    """The job's monthly partition, settings from the environment as under `dagster dev`."""
    from pipeline.definitions import defs

    monkeypatch.setenv("YJT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("YJT_WAREHOUSE", str(warehouse))
    monkeypatch.delenv("YJT_AS_OF", raising=False)
    job = defs.resolve_job_def("monthly_refresh")
    return job.execute_in_process(partition_key=month, instance=dg.DagsterInstance.ephemeral(),
                                  raise_on_error=False)


def assert_same(full: pd.DataFrame, cut: pd.DataFrame, name: str) -> None:
    keys = [c for c in ("as_of", "sample", "method", "indicator", "yjs_id", "period_end", "published")
            if c in full.columns]
    full = full.sort_values(keys, ignore_index=True)
    cut = cut.sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(full, cut, check_exact=False, rtol=1e-9, atol=1e-12, obj=name)


@pytest.mark.parametrize("as_of, route", [("2023-06-15", "settings"), ("2025-03-01", "partition")])
def test_the_list_as_of_a_date_equals_the_list_from_data_cut_at_that_date(tmp_path, monkeypatch,
                                                                          as_of, route):
    dropped = cut_data(tmp_path / "cut", as_of)
    assert all(n > 0 for n in dropped.values()), dropped  # every source had later rows to lose
    if route == "settings":
        results = [run_refresh(DEMO_DIR, tmp_path / "full.duckdb", as_of=as_of),
                   run_refresh(tmp_path / "cut", tmp_path / "cut.duckdb", as_of=as_of)]
    else:
        results = [refresh_by_partition(DEMO_DIR, tmp_path / "full.duckdb", as_of, monkeypatch),
                   refresh_by_partition(tmp_path / "cut", tmp_path / "cut.duckdb", as_of, monkeypatch)]
    assert all(r.success for r in results)
    full, cut = read(tmp_path / "full.duckdb"), read(tmp_path / "cut.duckdb")
    targets = full["inspection_targets"]
    assert (pd.to_datetime(targets["as_of"]) == pd.Timestamp(as_of)).all() and len(targets) == 155
    assert targets["adverse_probability"].notna().all()
    for name in COMPARED:
        assert_same(full[name], cut[name], name)


def test_a_date_before_any_figure_or_inspection_publishes_every_service_monitored(tmp_path, real_data_dir):
    """The real lookup, populations and inspections (the first published in 2018) with the
    demo's indicators, as of a date before their first period ended: nothing to rank on, so
    no visit is recommended, and the CLI says why. It failed here before, on the empty
    back-test; and, as a backfill after a later list, on the guard that took the published
    periods for lost ones."""
    db, early = tmp_path / "early.duckdb", "2013-06-01"
    refresh = functools.partial(cli_refresh, tmp_path, "--data-dir", str(real_data_dir), "--warehouse", str(db))
    out = refresh("--as-of", early)
    assert out.returncode == 0, out.stderr
    assert "0 full joint inspections, 0 benchmark visits" in out.stdout
    assert "so every service is monitored" in out.stdout and "backfill" not in out.stdout
    assert "Warning" not in out.stderr, out.stderr  # no pandas or numpy warning on empty tables
    with duckdb.connect(str(db), read_only=True) as con:
        ranked = con.execute("SELECT * FROM inspection_targets").df()
        assert con.execute("SELECT count(*) FROM indicator_evidence").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM backtest_scores").fetchone() == (0,)
    assert len(ranked) == 155 and (ranked["recommendation"] == "monitor").all()
    assert ranked["reasons"].str.contains(targets.NO_FIGURES, regex=False).all()
    assert (ranked["rank_low"] == 1).all() and (ranked["rank_high"] == 155).all()  # all tied
    # the empty tables' numbers are numbers, as in any other list (they were VARCHAR: the example
    # questions that round them failed), and every example question runs
    types = "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY ALL"
    with duckdb.connect(str(db), read_only=True) as con:
        empty_types = con.execute(types).fetchall()
        for path in sorted((REPO_ROOT / "sql" / "questions").glob("*.sql")):
            con.execute(path.read_text(encoding="utf-8")).fetchall()

    assert refresh("--as-of", AS_OF).returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(types).fetchall() == empty_types
    again = refresh("--as-of", early)  # now a backfill: the published periods are later than it could see
    assert again.returncode == 0, again.stderr
    assert "Warning" not in again.stderr, again.stderr
    assert "0 full joint inspections" in again.stdout and "so every service is monitored" in again.stdout
    assert f"\nBackfilled {db} as of {early}: 155 services" in again.stdout
    assert f"A backfill: this list was added to ranking_history; inspection_targets and the other tables " \
           f"still hold the latest refresh, as of {AS_OF}." in again.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        history = con.execute("SELECT CAST(as_of AS VARCHAR) AS as_of, * EXCLUDE (as_of) "
                              "FROM ranking_history").df()
        latest = con.execute("SELECT DISTINCT CAST(as_of AS VARCHAR) FROM inspection_targets").fetchall()
    assert latest == [(AS_OF,)] and history.groupby("as_of").size().to_dict() == {early: 155, AS_OF: 155}
    backfilled = history[history["as_of"] == early]
    assert (backfilled["recommendation"] == "monitor").all() and backfilled["last_rating"].isna().all()


def test_one_service_alone_has_figures_but_none_compared_and_the_cli_says_so(tmp_path):
    """A data dir of one service: its figures are published, but no period has the two services a
    national rate needs. The list had said no indicator figures were published, and its reasons
    'no indicator data'."""
    from tests.corpus import mini

    data, db = mini.build(tmp_path / "one", n=1), tmp_path / "one.duckdb"
    out = cli_refresh(tmp_path, "--data-dir", str(data), "--warehouse", str(db), "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    assert "NOTE: no indicator figure published by 2026-11-01 could be compared with national" in out.stdout
    assert "no indicator figures were published" not in out.stdout
    assert "no figures compared with national" in out.stdout  # the printed list's note
    with duckdb.connect(str(db), read_only=True) as con:
        (reasons,), = con.execute("SELECT reasons FROM inspection_targets").fetchall()
        figures = con.execute("SELECT count(*) FROM indicator_values WHERE rate IS NOT NULL").fetchone()[0]
    assert figures > 0
    assert reasons.startswith(targets.NO_EVIDENCE) and targets.NO_FIGURES not in reasons
    for label in ("first-time entrants", "proven reoffending", "custodial sentences"):  # each said why
        assert f"; its {label} figures are " in reasons
    assert "figures are not compared with national: too few services report them for a national rate (latest " \
        in reasons
    assert "indicators: none compared with national" in reasons


def test_every_figure_suppressed_the_cli_says_so_not_that_none_was_published(tmp_path):
    """Every count '[c]': the figures are there, none may be shown. The note had sent the analyst to
    the publication lag ('no indicator figures were published by ...')."""
    import csv

    from tests.corpus import mini

    data, db = mini.build(tmp_path / "hidden", n=3), tmp_path / "hidden.duckdb"
    counts = {"fte_count", "cohort_size", "reoffenders", "reoffences", "Number_Cautioned_Sentenced"}
    for source in ("first_time_entrants", "reoffending", "custody"):
        for path in (data / source).glob("*.csv"):
            reader = csv.DictReader(path.open(encoding="utf-8"))
            rows = list(reader)
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, reader.fieldnames)
                writer.writeheader()
                writer.writerows({c: "[c]" if c in counts else v for c, v in row.items()} for row in rows)
    out = cli_refresh(tmp_path, "--data-dir", str(data), "--warehouse", str(db), "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    assert (f"NOTE: no indicator figure published by {AS_OF} can be used (those published are suppressed: too "
            "few to publish), so every service is monitored.") in out.stdout
    assert "no indicator figures were published" not in out.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        reasons = [r for (r,) in con.execute("SELECT reasons FROM inspection_targets").fetchall()]
    assert len(reasons) == 3 and all(r.startswith(targets.NO_FIGURES) and "are suppressed" in r for r in reasons)
