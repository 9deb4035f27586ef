"""Asset checks and the sensor: the rules on small frames, a failing blocking
check stopping publication (job and CLI), the quarantine warning, and the
data-dir sensor's cursor."""

from __future__ import annotations

import re
import shutil
from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipeline.defs import checks
from pipeline.defs.resources import RefreshSettings
from pipeline.defs.sensors import data_dir_changed, data_fingerprint
from pipeline.report import quality as q
from tests.conftest import AS_OF, DEMO_DIR, cli_refresh, run_refresh

# the latest December year, published for two services (ranked as of a date that takes it)
PARTIAL_FTE = "yjs_name,period_end,period_months,fte_count\nBarnet,2026-12,12,80\nLeeds,2026-12,12,200\n"
PARTIAL_AS_OF = "2027-04-01"


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


# --- the rules -------------------------------------------------------------

def test_duplicate_keys_are_reported_with_their_count():
    df = pd.DataFrame({"yjs_id": ["a", "a", "b"], "indicator": ["fte"] * 3})
    dup = q.duplicate_keys(df, ["yjs_id", "indicator"])
    assert dup.to_dict("records") == [{"yjs_id": "a", "indicator": "fte", "rows": 2}]


def test_ranked_list_problems_name_missing_twice_listed_and_gapped_ranks():
    ranked = pd.DataFrame({"yjs_id": ["a", "a", "c"], "rank": [1, 2, 4], "rank_low": [1, 1, 1],
                           "rank_high": [3, 3, 3], "reasons": ["x", "y", ""]})
    problems = " | ".join(q.ranked_list_problems(ranked, ["a", "b", "c"]))
    assert "missing from the list: b" in problems and "listed twice: a" in problems
    assert "1..n" in problems and "outside their interval: c" in problems and "no reasons" in problems
    ok = pd.DataFrame({"yjs_id": ["a", "b"], "rank": [1, 2], "rank_low": [1, 1], "rank_high": [2, 2],
                       "reasons": ["x", "y"]})
    assert q.ranked_list_problems(ok, ["a", "b"]) == []


def test_implausible_rates_catch_wrong_denominators_and_impossible_proportions():
    values = pd.DataFrame({
        "yjs_id": ["a", "b", "c", "d"], "indicator": ["fte", "reoffending", "custody", "fte"],
        "period_end": pd.Timestamp("2025-12-31"), "numerator": [10, 30, 5, -1],
        "denominator": [100, 20, 10_000, 1000], "rate": [10_000.0, 150.0, 0.5, -100.0]})
    assert set(q.implausible_rates(values)["yjs_id"]) == {"a", "b", "d"}


def test_an_implausible_rate_is_named_with_its_service_period_and_figures():
    """The blocking check said only "1 implausible rows": which indicator, service, period, figures?"""
    values = pd.DataFrame({
        "yjs_id": ["barnet", "bolton", "leeds", "hull", "york"], "indicator": ["fte", "reoffending", "fte", "fte", "fte"],
        "period_end": pd.to_datetime(["2023-12-31", "2024-03-31", "2023-12-31", "2022-12-31", "2021-12-31"]),
        "period_months": [12, 3, 12, 12, 12], "numerator": [2400.0, 41, 60, 9000, 7000],
        "denominator": [42256.0, 40, 30000, 100000, 100000], "rate": [5679.6, 102.5, 200.0, 9000.0, 7000.0]})
    bad = q.implausible_rates(values)
    assert q.describe_implausible(bad.iloc[:1], {"barnet": "Barnet"}) == (
        "1 implausible row: fte Barnet 2023-12-31: 2,400 of 42,256 = 5,680 per 100,000 aged 10-17 (plausible "
        "0-5,000); the figures come from first_time_entrants/, population/: a count in another unit, a wrong "
        "population, or a misread column?")
    said = checks.rates_plausible(values).description
    assert said.startswith("4 implausible rows: fte barnet 2023-12-31: 2,400 of 42,256") and " and 1 more; " in said
    assert "from first_time_entrants/, population/, reoffending/:" in said  # the fourth row's too
    assert checks.rates_plausible(values.iloc[[1]]).description.startswith(
        "1 implausible row: reoffending bolton 2024-03-31: 41 of 40 = 102.5% (plausible 0-100); the figures come "
        "from reoffending/:")
    assert checks.rates_plausible(values[values["yjs_id"] == "leeds"]).description == "all plausible"


def _files(**rows) -> pd.DataFrame:
    return pd.DataFrame({"source": "inspections", "file": [f"inspections/{f}.csv" for f in rows],
                         "rows": list(rows.values())})


def _quarantined(file: str, problem: str, n: int, start: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"source": "inspections", "file": f"inspections/{file}.csv",
                         "row_number": range(start, start + n), "problem": problem, "raw": ""})


def test_a_source_mostly_quarantined_or_without_data_rows_is_unusable():
    """'Splendid' in every rating quarantined 176 of the demo's 203 inspections; published, on a
    first refresh without a word, as if those services had never been inspected."""
    splendid = "column overall_rating: 'Splendid' is not a rating"
    stop = q.unusable_source("inspections", _quarantined("a", splendid, 176), _files(a=176, scrape=27))
    assert stop == ["inspections: 176 of its 203 rows quarantined (87%, more than 50%): 176 in inspections/a.csv; "
                    f"the first, inspections/a.csv row 2: {splendid}"]
    assert q.unusable_source("inspections", _quarantined("a", splendid, 0), _files(a=0, b=0)) == [
        "inspections/: no data rows in any file (inspections/a.csv, inspections/b.csv: a header only): an export "
        "cut short, or the wrong file?"]
    # one bad file among good ones (the demo's FTE file of 931 rows all text: 46%), a small file's few rows
    assert q.unusable_source("inspections", _quarantined("a", splendid, 931), _files(a=931, b=1085)) == []
    assert q.unusable_source("inspections", _quarantined("a", splendid, 19), _files(a=19, b=2)) == []
    assert q.unusable_source("inspections", _quarantined("a", splendid, 0), _files(a=0, b=3)) == []
    # rows set aside by design count on neither side: a table by sex (boys and girls beside each total),
    # a merged service's parts beside its total, notes under the table (never counted as data rows)
    by_sex = _quarantined("a", "column sex: 'Male' is not all children; of a table by sex only the rows for all "
                               "children (Total, ...) are read", 200)
    parts = _quarantined("a", "Bury: part of Bury and Rochdale, whose figure for the whole service this file also "
                              "gives for this period: added to it, the part would count twice", 40, start=300)
    notes = _quarantined("a", "footnote or note row, not data", 30, start=400)
    assert q.unusable_source("inspections", pd.concat([by_sex, parts, notes]), _files(a=340)) == []
    # nor rows for services the lookup does not list: a lookup of six services reads national files
    national = _quarantined("b", "service name 'Barnet' matches no service in the services lookup", 190)
    assert q.unusable_source("inspections", national, _files(b=200)) == []
    # but not one row used stops it: every name unknown to a national lookup ('Unit Reading' for Reading:
    # 203 inspections, every service "none on record", published without a word on a first refresh);
    # a lookup of a few services may find none of them in a national file
    unknown = _quarantined("b", "service name 'Unit Reading' matches no service in the services lookup", 203)
    assert q.unusable_source("inspections", unknown, _files(b=203), services=155) == [
        "inspections: none of its 203 rows could be used (203: service name '...' matches no service in the "
        "services lookup); the first, inspections/b.csv row 2: service name 'Unit Reading' matches no service "
        "in the services lookup"]
    assert q.unusable_source("inspections", unknown, _files(b=203), services=5) == []
    assert q.unusable_source("inspections", _quarantined("a", splendid, 12), _files(a=12), services=5)[0].startswith(
        "inspections: none of its 12 rows could be used (12: column overall_rating: '...' is not a rating)")
    # but of the rows left, more than half unreadable is still too many
    unread = _quarantined("a", splendid, 51, start=500)
    assert q.unusable_source("inspections", pd.concat([by_sex, parts, notes, unread]), _files(a=340))[0].startswith(
        "inspections: 51 of its 100 rows quarantined (51%, more than 50%)")


def test_an_indicator_long_out_of_date_for_the_cutoff_is_warned_of():
    values = pd.DataFrame({"indicator": ["fte", "fte", "custody", "reoffending"], "yjs_id": "a",
                           "period_end": pd.to_datetime(["2019-12-31", "2018-12-31", "2024-09-30", "2023-09-30"]),
                           "rate": [1.0, 1.0, 1.0, float("nan")]})
    values = pd.concat([values, values.iloc[[3]].assign(period_end=pd.Timestamp("2023-06-30"), rate=30.0)])
    stale = q.stale_latest_periods(values, pd.Timestamp("2026-09-02"))
    assert stale == ["fte: its latest period ends 2019-12-31, 81 months before the cut-off 2026-09-02 (a warning "
                     "beyond 24): is a newer first_time_entrants/ file missing, or its rows quarantined?",
                     "reoffending: its latest period ends 2023-06-30, 39 months before the cut-off 2026-09-02 (a "
                     "warning beyond 36): is a newer reoffending/ file missing, or its rows quarantined?"]
    result = checks.latest_period_recent(values, pd.Timestamp("2026-09-02"))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert checks.latest_period_recent(values.iloc[[2]], pd.Timestamp("2026-09-02")).passed


def test_latest_period_coverage_counts_services_reported_suppressed_or_not():
    values = pd.DataFrame({"indicator": "fte", "yjs_id": ["a", "b", "a", "c"],
                           "period_end": pd.to_datetime(["2024-12-31", "2024-12-31", "2025-12-31",
                                                         "2025-12-31"]),
                           "rate": [1.0, 2.0, 3.0, float("nan")]})  # c suppressed
    cov = q.latest_period_coverage(values, n_services=4).iloc[0]
    assert cov["period_end"] == "2025-12-31" and cov["services_reported"] == 2 and cov["share"] == 0.5


def test_latest_period_coverage_is_of_the_grid_most_services_report_on():
    """One service's year ending in June after everyone's December years had been "the latest period,
    1 of 4 services" and stopped the refresh, though its June figures are compared with no national
    rate and every December year is whole; a partial December is still found, and so is a 12-month
    cohort beside 3-month ones not taken for the latest."""
    dec = pd.DataFrame({"indicator": "fte", "yjs_id": list("abcd") * 2, "period_months": 12,
                        "period_end": pd.to_datetime(["2023-12-31"] * 4 + ["2024-12-31"] * 4), "rate": 1.0,
                        "national_rate": 1.0})
    june = pd.DataFrame({"indicator": "fte", "yjs_id": ["a"], "period_months": 12,
                         "period_end": pd.to_datetime(["2025-06-30"]), "rate": [2.0],
                         "national_rate": [float("nan")]})
    cov = q.latest_period_coverage(pd.concat([dec, june]), n_services=4)
    assert cov["period_end"].tolist() == ["2024-12-31", "2025-06-30"] and cov["on_grid"].tolist() == [True, False]
    assert cov["share"].tolist() == [1.0, 0.25]
    # the check warns of it, and stops publication only for a partial release of the periods ranked on
    e = checks.latest_period_complete(pd.concat([dec, june]), SimpleNamespace(table=dec))
    assert not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    assert e.description == ("fte 2025-06-30: 1 of 4 services (ending off the grid of the periods most services "
                             "report: compared with no national rate, not ranked on)")
    cov = cov.iloc[0]
    partial = pd.concat([dec, june, dec.iloc[:1].assign(period_end=pd.Timestamp("2025-12-31"))])
    cov = q.latest_period_coverage(partial, n_services=4).iloc[0]
    assert cov["period_end"] == "2025-12-31" and cov["services_reported"] == 1
    e = checks.latest_period_complete(partial, SimpleNamespace(table=dec))
    assert e.severity == dg.AssetCheckSeverity.ERROR and e.description == "fte 2025-12-31: 1 of 4 services"
    # a partial release off the grid that is compared with national (and so may anchor the window) stops it
    # too: a first year ending March for 71 of 155 services had been waved through as "not ranked on"
    march = dec.iloc[4:5].assign(period_end=pd.Timestamp("2025-03-31"))
    e = checks.latest_period_complete(pd.concat([dec, march]), SimpleNamespace(table=dec))
    assert e.severity == dg.AssetCheckSeverity.ERROR and e.description == "fte 2025-03-31: 1 of 4 services"
    quarters = pd.DataFrame({"indicator": "reoffending", "yjs_id": list("abcd") * 2, "period_months": 3,
                             "period_end": pd.to_datetime(["2024-09-30"] * 4 + ["2024-12-31"] * 4),
                             "rate": 1.0})
    year = quarters.iloc[:1].assign(period_months=12, period_end=pd.Timestamp("2025-03-31"))
    cov = q.latest_period_coverage(pd.concat([quarters, year]), n_services=4).iloc[0]
    assert cov["period_end"] == "2024-12-31" and cov["share"] == 1.0


def test_unmapped_services_need_a_gss_code_and_one_service_per_la():
    lookup = pd.DataFrame({"la_code": ["E06000001", "E06000001", "bad", "W06000001"],
                           "yjs_id": ["a", "b", "c", "d"]})
    problems = " | ".join(q.unmapped_services(lookup))
    assert "valid GSS code: c" in problems and "two services: E06000001" in problems
    assert "no local authority: c" in problems


# --- the checks in the job -------------------------------------------------

def test_every_check_runs_in_the_monthly_refresh_job():
    from pipeline.definitions import defs

    job = defs.resolve_job_def("monthly_refresh")
    keys = {(k.asset_key.to_user_string(), k.name) for k in job.asset_layer.asset_graph.asset_check_keys}
    names = {checks.SERVICES_MAPPED, checks.UNIQUE_KEYS, checks.RATES_PLAUSIBLE,
             checks.LATEST_PERIOD_COMPLETE, checks.ONE_ROW_PER_SERVICE, checks.QUARANTINE_NOT_GROWING,
             checks.PUBLISHED_KEYS_UNIQUE, checks.PUBLISHED_ONE_ROW_PER_SERVICE,
             checks.PUBLISHED_SERVICES_MAPPED, checks.PUBLISHED_VIEWS_ANSWER, checks.ROWS_USABLE,
             checks.LATEST_PERIOD_RECENT}
    assert names <= {name for _, name in keys}
    assert ("indicator_values", checks.LATEST_PERIOD_COMPLETE) in keys
    assert ("first_time_entrants", checks.QUARANTINE_NOT_GROWING) in keys
    assert {(source, checks.ROWS_USABLE) for source in checks.SOURCES} <= keys


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A demo warehouse published once, and a copy of the demo data to spoil."""
    root = tmp_path_factory.mktemp("checks")
    data = root / "data"
    shutil.copytree(DEMO_DIR, data)
    db = root / "warehouse.duckdb"
    result = run_refresh(data, db)
    assert result.success
    return root, data, db, result


def test_all_checks_pass_on_the_demo_data(published):
    *_, result = published
    failed = [k for k, e in evaluations(result).items() if not e.passed]
    assert failed == []
    assert len(evaluations(result)) >= 10


def test_more_quarantined_rows_warn_but_still_publish(published, tmp_path):
    root, data, db, _ = published
    spoilt = tmp_path / "data"
    shutil.copytree(data, spoilt)
    with open(spoilt / "first_time_entrants" / "fte_2020_2025.csv", "a") as fh:
        fh.write("Narnia YOT,2025-12,12,40\n")
    shutil.copy(db, tmp_path / "warehouse.duckdb")
    result = run_refresh(spoilt, tmp_path / "warehouse.duckdb")
    assert result.success
    e = evaluations(result)[("first_time_entrants", checks.QUARANTINE_NOT_GROWING)]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    assert "2 rows quarantined, 1 in the published warehouse" in e.description


def test_a_failed_blocking_check_stops_publication_and_exports(published, tmp_path):
    root, data, db, _ = published
    spoilt = tmp_path / "data"
    shutil.copytree(data, spoilt)
    (spoilt / "first_time_entrants" / "fte_2026_partial.csv").write_text(PARTIAL_FTE)
    before = db.read_bytes()
    exports_before = sorted(p.name for p in (root / "exports").iterdir())
    result = run_refresh(spoilt, db, as_of=PARTIAL_AS_OF)
    assert not result.success
    e = evaluations(result)[("indicator_values", checks.LATEST_PERIOD_COMPLETE)]
    assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    assert "fte 2026-12-31: 2 of 155 services" in e.description
    done = {ev.step_key for ev in result.all_events if ev.event_type_value == "STEP_SUCCESS"}
    assert "warehouse" not in done and "exports" not in done
    assert db.read_bytes() == before
    assert sorted(p.name for p in (root / "exports").iterdir()) == exports_before


def test_cli_exits_non_zero_with_one_line_when_a_blocking_check_fails(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DEMO_DIR, data)
    (data / "first_time_entrants" / "fte_2026_partial.csv").write_text(PARTIAL_FTE)
    db = tmp_path / "w.duckdb"
    out = cli_refresh(tmp_path, "--data-dir", str(data), "--warehouse", str(db), "--as-of", PARTIAL_AS_OF)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and checks.LATEST_PERIOD_COMPLETE in lines[0], out.stderr
    assert lines[0].startswith("refresh stopped by check") and "of 155 services" in lines[0], lines[0]
    assert not db.exists()


def test_a_stopped_refresh_says_what_it_quarantined(tmp_path):
    # a table by sex: its boys' rows quarantined, the latest period left with two services; nothing is
    # published, so the one line must point at the quarantined rows
    data = tmp_path / "data"
    shutil.copytree(DEMO_DIR, data)
    (data / "first_time_entrants" / "fte_2026_by_sex.csv").write_text(
        "yjs_name,period_end,period_months,sex,fte_count\nBarnet,2026-12,12,Total,80\nLeeds,2026-12,12,,200\n"
        "Bolton,2026-12,12,Male,40\nBury,2026-12,12,Male,30\n")
    out = cli_refresh(tmp_path, "--data-dir", str(data), "--warehouse", str(tmp_path / "w.duckdb"),
                      "--as-of", PARTIAL_AS_OF)
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1, out.stderr
    assert lines[0].endswith("; nothing was published; separately, the run quarantined 3 rows of first_time_entrants, 2 like "
                             "first_time_entrants/fte_2026_by_sex.csv row 4: column sex: 'Male' is not all "
                             "children; of a table by sex only the rows for all children (Total, All, All "
                             "children, Persons, Both, Boys and girls, Overall, or no sex given) are read"), lines[0]


def _counting_connects(monkeypatch) -> list[str]:
    """Paths opened read-only (as the checks open the warehouse) from now on."""
    opened, real = [], checks.read_only

    def read_only(path):
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(checks, "read_only", read_only)
    return opened


def _run_checks(db, *keys: dg.AssetCheckKey):
    """Only the given checks of the monthly job, on the published warehouse ``db``."""
    from pipeline.definitions import defs

    job = defs.resolve_job_def("monthly_refresh").get_subset(asset_selection=set(), asset_check_selection=set(keys))
    config = {"data_dir": str(DEMO_DIR), "warehouse": str(db), "as_of": AS_OF}
    return job.execute_in_process(run_config={"resources": {"settings": {"config": config}}},
                                  instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


PUBLISHED = (checks.PUBLISHED_KEYS_UNIQUE, checks.PUBLISHED_ONE_ROW_PER_SERVICE,
             checks.PUBLISHED_SERVICES_MAPPED, checks.PUBLISHED_VIEWS_ANSWER)


def test_the_checks_on_the_published_file_open_it_once(published, monkeypatch):
    *_, db, _ = published
    opened = _counting_connects(monkeypatch)
    result = _run_checks(db, *(dg.AssetCheckKey(dg.AssetKey("warehouse"), name) for name in PUBLISHED))
    assert result.success and opened == [str(db)]
    found = evaluations(result)
    assert sorted(name for _, name in found) == sorted(PUBLISHED) and all(e.passed for e in found.values())
    assert found[("warehouse", checks.PUBLISHED_VIEWS_ANSWER)].description == "3 views answer"


def test_a_published_check_still_runs_on_its_own(published):
    *_, db, _ = published
    result = _run_checks(db, dg.AssetCheckKey(dg.AssetKey("warehouse"), checks.PUBLISHED_SERVICES_MAPPED))
    assert result.success and list(evaluations(result)) == [("warehouse", checks.PUBLISHED_SERVICES_MAPPED)]


def test_the_quarantine_checks_read_the_published_file_once(published, monkeypatch, tmp_path):
    *_, db, _ = published
    copy = shutil.copy(db, tmp_path / "w.duckdb")
    opened = _counting_connects(monkeypatch)
    settings = RefreshSettings(warehouse=str(copy))
    counts = {source: checks._published_quarantine(settings, source) for source in checks.SOURCES}
    assert opened == [str(copy)] and counts["first_time_entrants"] == 1 and counts["services"] == 0
    with duckdb.connect(str(copy)) as con:  # a new file version is read again
        con.execute("DELETE FROM quarantine")
    assert checks._published_quarantine(settings, "first_time_entrants") == 0 and len(opened) == 2
    assert checks._published_quarantine(RefreshSettings(warehouse=str(tmp_path / "none.duckdb")), "custody") is None


class _Counting:
    """A DuckDB connection that keeps the SQL it is given."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)


def test_published_rules_count_duplicate_keys_unmapped_services_and_broken_views():
    with duckdb.connect() as con:
        for table, keys in q.TABLE_KEYS.items():
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM (VALUES ({', '.join(['1'] * len(keys))})) "
                        f"t({', '.join(keys)})")
        con.execute("INSERT INTO services VALUES (1)")
        con.execute("CREATE TABLE gone AS SELECT 1 AS x")
        con.execute("CREATE VIEW broken AS SELECT * FROM gone")
        con.execute("DROP TABLE gone")
        con.execute("CREATE VIEW fine AS SELECT * FROM services")
        assert q.published_duplicate_keys(con) == {t: int(t == "services") for t in q.TABLE_KEYS}
        rows, problems = q.view_row_counts(con)
        assert rows == {"fine": 2} and len(problems) == 1 and problems[0].startswith("broken: ")
        con.execute("DROP VIEW broken")
        con.execute('CREATE VIEW "also ""fine""" AS SELECT * FROM services WHERE yjs_id > 1')
        queries = _Counting(con)  # every view answers: one query lists them, one counts them all
        assert q.view_row_counts(queries) == ({"fine": 2, 'also "fine"': 0}, []) and len(queries.sql) == 2
    with duckdb.connect() as con:  # a table missing: the error of its own query, as each table was queried alone
        for table, keys in q.TABLE_KEYS.items():
            if table != "indicator_evidence":
                con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(f'1 AS {k}' for k in keys)}")
        with pytest.raises(duckdb.CatalogException, match=re.escape(
                "LINE 1: SELECT count(*) FROM (SELECT yjs_id, indicator FROM indicator_evidence GROUP BY ALL")):
            q.published_duplicate_keys(con)
    s = pd.DataFrame({"yjs_id": ["a", "b", "c"], "la_codes": ["E1", " ", None],
                      "population_10_17": [1.0, None, 3.0]})
    assert q.services_without_la_or_population(s) == (["b", "c"], ["b"])
    # a population of 0 makes no rate either (the rates were NULL with no word of it)
    s = pd.DataFrame({"yjs_id": ["a", "b", "c"], "la_codes": ["E1", "E2", "E3"], "population_10_17": [1, 0, 3]})
    assert q.services_without_la_or_population(s) == ([], ["b"])


# --- the sensor ------------------------------------------------------------

def _tick(data, cursor=None):
    # a context manager, as Dagster's code server opens it: the settings resource has a teardown (a run's lock)
    with dg.build_sensor_context(cursor=cursor, resources={"settings": RefreshSettings(data_dir=str(data))}) as ctx:
        return data_dir_changed.evaluate_tick(ctx)


def test_sensor_records_first_then_requests_a_refresh_on_change(tmp_path):
    data = tmp_path / "data"
    (data / "custody").mkdir(parents=True)
    (data / "custody" / "a.csv").write_text("x\n1\n")
    first = _tick(data)
    assert not first.run_requests and first.cursor == data_fingerprint(data)
    same = _tick(data, first.cursor)
    assert not same.run_requests and same.cursor == first.cursor
    (data / "custody" / "b.csv").write_text("x\n2\n")
    changed = _tick(data, first.cursor)
    assert len(changed.run_requests) == 1 and changed.cursor != first.cursor
    assert changed.run_requests[0].job_name in (None, "monthly_refresh")
    (data / "custody" / "b.csv").unlink()
    back = _tick(data, changed.cursor)
    assert len(back.run_requests) == 1 and back.run_requests[0].run_key != changed.run_requests[0].run_key


def test_sensor_follows_yjt_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("YJT_DATA_DIR", str(tmp_path))
    with dg.build_sensor_context(resources={"settings": RefreshSettings()}) as ctx:
        assert data_dir_changed.evaluate_tick(ctx).cursor == data_fingerprint(tmp_path)


def test_a_check_that_only_warns_is_not_labelled_blocking():
    """The UI showed "This is a blocking asset check" on quarantine_not_growing, which warns and never
    blocks (its severity is WARN); the checks that stop publication are blocking."""
    from pipeline.definitions import defs

    specs = [spec for node in defs.resolve_asset_graph().assets_defs for spec in node.check_specs]
    warns = [s for s in specs if s.name == checks.QUARANTINE_NOT_GROWING]
    assert len(warns) == 6 and not any(s.blocking for s in warns)
    assert all(s.blocking for s in specs if s.name == checks.ROWS_USABLE)
