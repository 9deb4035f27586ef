"""The monthly refresh end to end: a real Dagster run into a real DuckDB file."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipeline.publish.tables import CONTRACT_COLUMNS
from pipeline.settings import REPO_ROOT
from tests.conftest import AS_OF, DEMO_DIR, cli_refresh, run_refresh

CONTRACT_TABLES = set(CONTRACT_COLUMNS) | {"ranking_history"}


def tables(db) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type='BASE TABLE'").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}"').df() for n in names}


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    result = run_refresh(DEMO_DIR, db)
    assert result.success
    return db


def test_every_contract_table_with_its_columns(demo_warehouse):
    t = tables(demo_warehouse)
    assert CONTRACT_TABLES <= set(t)
    for name, cols in CONTRACT_COLUMNS.items():
        assert list(t[name].columns[: len(cols)]) == cols, name
    assert list(t["ranking_history"].columns[:11]) == CONTRACT_COLUMNS["inspection_targets"]


def test_the_ranked_list_follows_the_contract_rules(demo_warehouse):
    t = tables(demo_warehouse)
    targets, services = t["inspection_targets"], t["services"]
    assert len(targets) == len(services) and targets["yjs_id"].is_unique
    recs = targets["recommendation"].value_counts()
    assert recs["full_joint_inspection"] == 8
    # benchmarks: as many as qualify, at most the 2 asked, the lowest concern first
    z = t["indicator_evidence"].pivot(index="yjs_id", columns="indicator", values="z")
    strong = ((z < -1.959964).sum(axis=1) >= 2) & ~(z > 1.959964).any(axis=1)
    listed = targets.set_index("yjs_id")
    qualify = listed.loc[strong[strong].index.intersection(listed.index)]
    qualify = qualify[(qualify["recommendation"] != "full_joint_inspection")
                      & ~(qualify["months_since_inspection"] < 12)
                      & (qualify["last_rating"].isna()
                         | qualify["last_rating"].isin(["Outstanding", "Good", "good"]))]
    expected = qualify.sort_values("concern_score").index[:2]
    assert 1 <= len(expected) and set(expected) == set(listed.index[listed["recommendation"] == "benchmark_visit"])
    picked = targets[targets["recommendation"] != "monitor"]
    assert (picked["months_since_inspection"].isna() | (picked["months_since_inspection"] >= 12)).all()
    insp = t["inspections"]
    recent = insp[pd.to_datetime(insp["published"]) > pd.Timestamp(AS_OF) - pd.DateOffset(months=12)]
    assert not set(recent["yjs_id"]) & set(picked["yjs_id"])
    assert targets["reasons"].str.strip().str.len().gt(0).all()
    assert (targets["rank_low"] <= targets["rank"]).all() and (targets["rank"] <= targets["rank_high"]).all()
    assert (pd.to_datetime(targets["as_of"]) == pd.Timestamp(AS_OF)).all()


def test_indicator_values_are_as_of_and_banded(demo_warehouse):
    iv = tables(demo_warehouse)["indicator_values"]
    assert set(iv["indicator"]) == {"fte", "reoffending", "custody"}
    assert pd.to_datetime(iv["period_end"]).max() <= pd.Timestamp(AS_OF) - pd.DateOffset(months=3)
    assert iv.loc[iv["suppressed"], "numerator"].isna().all()
    assert iv["suppressed"].any()
    scored = iv[~iv["suppressed"] & (iv["denominator"] > 0)]
    bands = scored["funnel_band"]
    assert bands.notna().all() and set(bands) <= {"high_99.8", "high_95", "within", "low_95", "low_99.8"}


def test_every_band_agrees_with_its_z_and_its_limits(demo_warehouse):
    iv = tables(demo_warehouse)["indicator_values"]
    s = iv[~iv["suppressed"] & (iv["denominator"] > 0)].reset_index(drop=True)
    z, band, rate = s["z_score"], s["funnel_band"], s["rate"]
    tol = 1e-9 * rate.abs().max()
    expect = pd.Series("within", index=s.index)
    expect[z > 1.959964] = "high_95"
    expect[z > 3.090232] = "high_99.8"
    expect[z < -1.959964] = "low_95"
    expect[z < -3.090232] = "low_99.8"
    assert (band == expect).all()
    above = rate >= s["limit_998_high"] - tol
    above95 = rate >= s["limit_95_high"] - tol
    below95 = rate <= s["limit_95_low"] + tol
    below = rate <= s["limit_998_low"] + tol
    assert above[band == "high_99.8"].all()
    assert (above95 & (rate <= s["limit_998_high"] + tol))[band == "high_95"].all()
    assert ((rate >= s["limit_95_low"] - tol) & (rate <= s["limit_95_high"] + tol))[band == "within"].all()
    assert (below95 & (rate >= s["limit_998_low"] - tol))[band == "low_95"].all()
    assert below[band == "low_99.8"].all()
    assert ((s["rate_low"] <= rate + tol) & (rate <= s["rate_high"] + tol)).all()
    print(band.value_counts().to_dict())


def test_quarantine_and_source_files_are_recorded(demo_warehouse):
    t = tables(demo_warehouse)
    files = t["source_files"]
    assert files["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert set(files["source"]) == {"services", "population", "first_time_entrants", "reoffending",
                                    "custody", "inspections"}
    q = t["quarantine"]
    assert len(q) >= 1 and q["problem"].str.len().gt(0).all() and q["file"].notna().all()


def test_views_answer(demo_warehouse):
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        for view in ("latest_indicators", "rank_changes"):
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0


def test_a_rerun_for_the_same_as_of_gives_identical_tables(demo_warehouse, tmp_path):
    before = tables(demo_warehouse)
    assert run_refresh(DEMO_DIR, demo_warehouse).success
    after = tables(demo_warehouse)
    volatile = {"run_metadata": ["refreshed_at"], "source_files": ["ingested_at"]}
    for name, df in before.items():
        cols = [c for c in df.columns if c not in volatile.get(name, [])]
        pd.testing.assert_frame_equal(df[cols], after[name][cols], check_like=False, obj=name)
    hist = after["ranking_history"]
    assert not hist.duplicated(["as_of", "yjs_id"]).any()


def test_a_second_as_of_adds_a_snapshot(demo_warehouse):
    instance = dg.DagsterInstance.ephemeral()
    result = run_refresh(DEMO_DIR, demo_warehouse, as_of="2025-11-01", instance=instance)
    assert result.success
    hist = tables(demo_warehouse)["ranking_history"]
    assert hist.groupby("as_of")["yjs_id"].nunique().tolist() == [155, 155]
    # in the UI, this month's list is the asset's latest materialisation: every view says it is not
    # the published one (and, on the demo data, that its figures are synthetic)
    shown = result.asset_materializations_for_node("inspection_targets")[0].metadata
    banner = ("**Backfill: this list ranks as of 2025-11-01 and was added to `ranking_history` only; the "
              "published list (`inspection_targets`) is as of 2026-11-01.**\n\n**Demo data: ")
    assert shown["backfill"].value is True
    assert all(shown[view].value.startswith(banner) for view in ("recommended", "top_of_list", "funnel_fte",
                                                                 "funnel_reoffending", "funnel_custody",
                                                                 "rank_intervals"))
    said = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("Backfill")]
    assert said == [f"Backfill as of 2025-11-01: its list was added to ranking_history of {demo_warehouse}; the "
                    "published list stays as of 2026-11-01. Demo data: the indicator figures, populations "
                    "and ratings are SYNTHETIC."]


@pytest.fixture(scope="module")
def real_cli(tmp_path_factory, real_data_dir):
    """The CLI's refresh of the real lookup, populations and inspections (with the
    demo's indicators): its warehouse and what it printed."""
    tmp = tmp_path_factory.mktemp("real")
    db = tmp / "real.duckdb"
    out = cli_refresh(tmp, "--data-dir", str(real_data_dir), "--warehouse", str(db), "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    return db, out


def test_real_files_every_inspection_matched_or_quarantined(real_cli):
    db, _ = real_cli
    t = tables(db)
    assert len(t["services"]) == 155
    name = "inspections/hmi_youth_justice_inspection_ratings.csv"
    matched = len(t["inspections"])
    quarantined = t["quarantine"][t["quarantine"]["file"] == name]
    assert matched + len(quarantined) == 83
    assert quarantined["problem"].str.len().gt(0).all()
    pop = t["services"]["population_10_17"]
    assert 5_000_000 < pop.sum() < 6_500_000  # England and Wales aged 10-17, mid-2020
    assert (t["inspection_targets"]["recommendation"] == "full_joint_inspection").sum() == 8


def test_real_files_portsmouth_rating_is_said_to_be_inferred_from_its_score(real_cli):
    """The real scrape's Portsmouth rating cell holds a footnote sentence; its score (61.11%, 22 of 36
    points) gives Good, and its reasons say so rather than "Good" as if published."""
    db, _ = real_cli
    t = tables(db)
    noted = t["inspections"][t["inspections"]["rating_note"].notna()]
    assert noted["yjs_id"].tolist() == ["portsmouth"] and noted["overall_rating"].tolist() == ["Good"]
    reasons = t["inspection_targets"].set_index("yjs_id")["reasons"]
    assert "; last inspected 2022-06, Good (inferred from its score: see the inspections' rating_note); " \
        in reasons["portsmouth"]
    assert reasons.str.contains("inferred from its score").sum() == 1

def test_cli_refresh_prints_the_ranked_list(tmp_path):
    db = tmp_path / "cli.duckdb"
    out = cli_refresh(tmp_path, "--warehouse", str(db), "--top", "3", "--full-joint", "1", "--benchmark", "9",
                      cwd=tmp_path, YJT_AS_OF=AS_OF)
    assert out.returncode == 0, out.stderr
    assert "SYNTHETIC" in out.stdout and "full_joint_inspection" in out.stdout
    ranked = tables(db)["inspection_targets"]
    picked = ranked[ranked["recommendation"] != "monitor"]
    bench = int((picked["recommendation"] == "benchmark_visit").sum())
    assert 0 < bench < 9
    assert f"155 services, 1 full joint inspection, {bench} benchmark visit{'s' if bench > 1 else ''}." in out.stdout
    assert f"NOTE: Only {bench} benchmark visit" in out.stdout and "recommended (9 asked): " in out.stdout
    # every pick is printed, however far below the top 3 it ranks
    printed = out.stdout.splitlines()[-(len(set(picked["rank"]) | {1, 2, 3})):]
    assert set(int(line.split()[0]) for line in printed) == set(picked["rank"]) | {1, 2, 3}
    # a service high on the list but not recommended says why (ranks 1-3 had said "monitor" alone)
    by_rank = {int(line.split()[0]): line for line in printed}
    shown = ranked.set_index("rank").loc[sorted(by_rank)]
    assert (~shown["eligible"]).any()
    for rank, row in shown.iterrows():
        note = "not eligible: inspected within 12 months"
        assert by_rank[rank].endswith(note) == (not row["eligible"]), by_rank[rank]
        assert f" {row['months_since_inspection']} month" in by_rank[rank] or row["months_since_inspection"] == 0


def question(db, name: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute((REPO_ROOT / "sql" / "questions" / f"{name}.sql").read_text()).df()


def test_real_files_questions_say_where_inspections_begin_and_welsh_services_are_in_wales(real_cli):
    """The real scrape starts in March 2021: the 72 services with no inspection on record
    (inspected before then, many of them) are listed with that date, and left out of the
    longest since inspection, which says from when. The real lookup has no region column:
    the Welsh services are in region Wales, the English ones '(no region given)' (all 155
    had been one row, None)."""
    db, _ = real_cli
    never, longest = question(db, "never_inspected"), question(db, "longest_since_inspection")
    begin = pd.Timestamp("2021-03-09")
    assert len(never) == 72 and (never["inspection_records_begin"] == begin).all()
    assert (longest["inspection_records_begin"] == begin).all()
    assert not set(never["yjs_name"]) & set(longest["yjs_name"])
    regions = question(db, "recommendations_by_region").set_index("region")["services"].to_dict()
    assert regions == {"Wales": 17, "(no region given)": 138}


def test_cli_prints_never_inspected_services_alike_and_says_from_when(real_cli):
    """A service with no inspection on record was printed '<NA>  None'; now 'none on
    record' and '-', with a line saying where the records read begin."""
    db, out = real_cli
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    table, after = lines[header + 1:-1], lines[-1]
    assert "<NA>" not in out.stdout and "None" not in out.stdout
    never = [row for row in table if "none on record" in row]
    assert never and all(row.split("none on record")[1].split()[0] == "-" for row in never)
    assert after == "none on record: the inspections on record begin in March 2021; an inspection before " \
        "then would not show."


def test_cli_fails_with_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad"
    for source in ("services", "population", "first_time_entrants", "reoffending", "custody",
                   "inspections"):
        (bad / source).mkdir(parents=True)
        for f in (DEMO_DIR / source).iterdir():
            (bad / source / f.name).write_bytes(f.read_bytes())
    target = sorted((bad / "first_time_entrants").glob("*.csv"))[0]
    target.write_text("yjs,year\nLeeds,2020\n")
    db = tmp_path / "w.duckdb"
    out = cli_refresh(tmp_path, "--data-dir", str(bad), "--warehouse", str(db), "--as-of", AS_OF)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and target.name in lines[0], out.stderr
    assert not db.exists()


@pytest.mark.parametrize("flags, cause", [
    (["--lag-months", "abc"], "argument --lag-months: invalid int value: 'abc'"),
    (["--as-of"], "argument --as-of: expected one argument"),
    (["--wait", "nan"], "argument --wait: 'nan' is not a number of seconds (0 or more)"),  # had waited for good
    (["--top", "-5"], "argument --top: '-5' is not a number of rows (0 or more)"),  # had printed all but 5
    (["--colour", "red"], "unrecognized arguments: --colour red")])
def test_cli_refuses_a_bad_flag_with_one_line(tmp_path, flags, cause):
    out = cli_refresh(tmp_path, "--warehouse", str(tmp_path / "w.duckdb"), *flags)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"python -m pipeline{' refresh' if 'colour' not in cause else ''}: "
                                               f"error: {cause} (see --help)"]


def test_a_small_data_dir_still_refreshes(tmp_path):
    """Six services: too few for much of a back-test, still a ranked list."""
    import shutil

    d = tmp_path / "small"
    for src in DEMO_DIR.iterdir():
        if src.is_dir():
            shutil.copytree(src, d / src.name)
    lookup = pd.read_csv(d / "services" / "services.csv")
    keep = lookup["yjs_name"].drop_duplicates().head(6)
    lookup[lookup["yjs_name"].isin(keep)].to_csv(d / "services" / "services.csv", index=False)
    db = tmp_path / "small.duckdb"
    result = run_refresh(d, db)
    assert result.success
    t = tables(db)
    assert len(t["inspection_targets"]) == 6
    assert t["inspection_targets"]["reasons"].str.len().gt(0).all()
    assert "backtest_metrics" in t


def test_the_upper_tier_population_file_alone_leaves_two_tier_services_without_population(
        tmp_path, real_data_dir):
    """The real ONS upper-tier file without the lower-tier one: it gives unitaries but not the
    districts of two-tier counties. Leicestershire (Rutland, a unitary, and the county's
    districts) had Rutland's population alone (4,089 of 69,517), so rates 17 times too high,
    and the refresh stopped on the rates check; a service with an LA without population now
    has none, and the CLI says so."""
    data = tmp_path / "data"
    shutil.copytree(real_data_dir, data)
    (data / "population" / "mye2020_persons_sya_ltla20_ew.csv").unlink()
    db = tmp_path / "utla.duckdb"
    out = cli_refresh(tmp_path, "--data-dir", str(data), "--warehouse", str(db), "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    # the demo's indicator folders beside the real files: the CLI says which figures are made up
    assert out.stdout.splitlines()[0] == "NOTE: Partly demo data: the tables in custody, first_time_entrants " \
        "and reoffending are the demo's SYNTHETIC figures; the others are the data dir's own.", out.stdout
    with duckdb.connect(str(db), read_only=True) as con:  # as the notebooks and the exports say it
        assert con.execute("SELECT synthetic_note FROM run_metadata").fetchone()[0] == out.stdout.splitlines()[0][6:]
    about = pd.read_excel(tmp_path / "exports" / f"inspection_targets_{AS_OF}.xlsx", sheet_name="about")
    assert about.iloc[0].tolist() == ["NOTE", out.stdout.splitlines()[0][6:]]
    warning = [line for line in out.stdout.splitlines() if line.startswith("WARNING: check warehouse:")]
    assert len(warning) == 1 and "24 services with no population" in warning[0], out.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        services = con.execute("SELECT yjs_id, population_10_17 FROM services").df().set_index("yjs_id")
        rates = con.execute("SELECT DISTINCT yjs_id FROM indicator_values WHERE indicator = 'fte' "
                            "AND rate IS NOT NULL").df()["yjs_id"]
    assert services["population_10_17"].isna().sum() == 24
    assert services.loc[["leicestershire", "west-mercia", "kent"], "population_10_17"].isna().all()
    assert services.loc["hartlepool", "population_10_17"] > 0  # a unitary: in the upper-tier file
    assert not {"leicestershire", "west-mercia", "kent"} & set(rates)
