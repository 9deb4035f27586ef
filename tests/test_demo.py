"""The synthetic demo dataset (``python -m pipeline.demo``).

It must regenerate byte for byte, lie in the contract's input layouts, sit at
plausible national scales, carry the quirks of real releases, and link the
hidden service quality to inspection ratings clearly but not perfectly.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from pipeline.demo.__main__ import main
from pipeline.demo.generate import DEFAULT_REAL_DIR
from pipeline.settings import DEMO_NOTE, SYNTHETIC_MARKER, is_synthetic, synthetic_note, synthetic_sources

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
MARKERS = {"*", "..", "x", "[c]", "[x]", "[z]", "-", ""}
REGIONS = {"North East", "North West", "Yorkshire and The Humber", "East Midlands",
           "West Midlands", "East of England", "London", "South East", "South West", "Wales"}
# rating_score as the contract defines it: 1 best ... 4 worst, same on both scales
RATING_SCORE = {"outstanding": 1, "good": 2, "requires improvement": 3, "inadequate": 4}
OLD_RATING_SCORE = {"good": 1, "satisfactory": 2, "unsatisfactory": 3, "poor": 4}
SUFFIX = r"(youth offending service|youth offending team|youth justice service|yos|yot|yjs)"


def key(column: str) -> str:
    """Column names match ignoring case, spaces, underscores and punctuation."""
    return re.sub(r"[^a-z0-9%]", "", column.lower())


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.rename(columns=lambda c: {"yjs": "yjsname"}.get(key(c), key(c)))


def folder(name: str, root: Path = DEMO) -> pd.DataFrame:
    return pd.concat([read(p).assign(file=p.name) for p in sorted((root / name).glob("*.csv"))],
                     ignore_index=True)


def count(cells: pd.Series) -> pd.Series:
    """Numbers as published: thousands separators allowed, markers missing."""
    cells = cells.str.strip()
    return pd.to_numeric(cells.where(~cells.isin(MARKERS)).str.replace(",", ""))


def normalise(name: str) -> str:
    """The contract's service-name normalisation, written out independently."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    s = s.replace("&", " and ")
    before = None
    while s != before:
        before = s
        s = re.sub(r"\s*-\s*ji$", "", s.strip())
        s = re.sub(r"^(an inspection of|royal borough of|london borough of)\s+", "", s)
        if not s.startswith("city of london"):
            s = re.sub(r"^city of\s+", "", s)
        s = re.sub(r"[^a-z0-9]+", " ", s).strip()
        s = re.sub(rf"\s+{SUFFIX}$", "", s)
    return s


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("elsewhere"))  # paths must not depend on the cwd
        assert main(["--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def services() -> pd.DataFrame:
    return read(DEMO / "services" / "services.csv")


@pytest.fixture(scope="module")
def service_of(services) -> dict[str, str]:
    return {normalise(n): n for n in services["yjsname"].unique()}


def test_regenerating_gives_byte_identical_files(regenerated):
    committed = {p.relative_to(DEMO): p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    fresh = {p.relative_to(regenerated): p.read_bytes()
             for p in regenerated.rglob("*") if p.is_file()}
    assert sorted(fresh) == sorted(committed)
    changed = [str(path) for path in fresh if fresh[path] != committed[path]]
    assert not changed, f"regenerate data/demo with python -m pipeline.demo: {changed}"


def test_readme_says_synthetic_and_files_stay_small():
    first = (DEMO / "README.md").read_text(encoding="utf-8").splitlines()[0]
    assert "SYNTHETIC" in first and "seed" in first and "python -m pipeline.demo" in first
    sizes = [p.stat().st_size for p in DEMO.rglob("*") if p.is_file()]
    assert max(sizes) < 2_000_000 and sum(sizes) < 10_000_000


def test_demo_folders_say_they_are_synthetic_even_beside_real_ones(tmp_path):
    assert synthetic_sources(DEMO) == sorted(p.name for p in DEMO.iterdir() if p.is_dir())
    mixed = tmp_path / "mixed"  # the demo's indicators beside a real lookup, population and ratings
    for source in ("first_time_entrants", "reoffending", "custody"):
        shutil.copytree(DEMO / source, mixed / source)
    for source in ("services", "population", "inspections"):
        (mixed / source).mkdir()
    assert synthetic_sources(mixed) == ["custody", "first_time_entrants", "reoffending"]
    # the real lookup, populations and ratings are not called synthetic, as the whole demo's note would
    assert synthetic_note(mixed) == ("Partly demo data: the tables in custody, first_time_entrants and "
                                     "reoffending are the demo's SYNTHETIC figures; the others are the data dir's own.")
    assert synthetic_note(DEMO) == DEMO_NOTE and "populations and ratings" in DEMO_NOTE
    (mixed / "first_time_entrants" / SYNTHETIC_MARKER).unlink()  # and its files the analyst's own
    for csv in (mixed / "first_time_entrants").glob("*.csv"):
        csv.write_text(csv.read_text(encoding="utf-8") + "Hartlepool,2026-03,5\n", encoding="utf-8")
    assert synthetic_sources(mixed) == ["custody", "reoffending"] and is_synthetic(mixed)
    assert synthetic_sources(tmp_path / "absent") == [] and not is_synthetic(mixed / "services")
    assert synthetic_note(mixed / "services") == ""


def test_demo_files_copied_without_the_marker_are_still_flagged(tmp_path, monkeypatch):
    """The demo's indicator CSVs copied beside a real lookup, populations and ratings, without the
    folders' SYNTHETIC.md: no NOTE was printed, and a list resting on made-up figures passed as real."""
    import pipeline.settings as settings

    mixed = tmp_path / "mixed"
    for source in ("first_time_entrants", "reoffending", "custody"):  # `cp data/demo/SOURCE/*.csv`
        (mixed / source).mkdir(parents=True)
        for csv in (DEMO / source).glob("*.csv"):
            shutil.copy(csv, mixed / source)
    for source in ("services", "population", "inspections"):
        (mixed / source).mkdir()
    (mixed / "services" / "services.csv").write_bytes((DEMO / "services" / "services.csv").read_bytes())
    (mixed / "population" / "own.csv").write_text("la_code,age,population\nE06000001,10,1200\n")
    # the demo's file with one figure changed, the size kept: the analyst's own, not the demo's
    demo_ratings = (DEMO / "inspections" / "inspections.csv").read_bytes()
    digit = next(i for i in range(len(demo_ratings) - 1, 0, -1) if demo_ratings[i:i + 1].isdigit())
    other = b"1" if demo_ratings[digit:digit + 1] != b"1" else b"2"
    changed = demo_ratings[:digit] + other + demo_ratings[digit + 1:]
    (mixed / "inspections" / "inspections.csv").write_bytes(changed)
    hashed = []
    monkeypatch.setattr(settings, "_sha256", lambda path: _sha256_spy(path, hashed), raising=False)  # data dir files
    assert synthetic_sources(mixed) == ["custody", "first_time_entrants", "reoffending"]
    # services/ holds the demo's lookup, whose names are real: not made up, as in the demo itself
    assert synthetic_note(mixed) == ("Partly demo data: the tables in custody, first_time_entrants and "
                                     "reoffending are the demo's SYNTHETIC figures; the others are the data dir's own.")
    # only files as large as one of the demo's are hashed (the real-looking population file is not)
    assert "own.csv" not in hashed and "inspections.csv" in hashed
    assert not (mixed / "custody" / SYNTHETIC_MARKER).exists()


def _sha256_spy(path, seen: list) -> str:
    import hashlib

    seen.append(Path(path).name)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_every_contract_folder_has_the_contract_columns():
    layouts = {  # folder -> accepted header sets (contract layout or its alias layout)
        "services": [{"lacode", "laname", "yjsname"}],
        "first_time_entrants": [{"yjsname", "periodend", "ftecount"}],
        "reoffending": [{"yjsname", "cohortend", "cohortmonths", "cohortsize", "reoffenders",
                         "reoffences"}],
        "custody": [{"financialyear", "yjsname", "cautionorsentencetier",
                     "numbercautionedsentenced"}],
        "inspections": [{"yjsname", "published", "overallrating"},
                        {"laname", "publicationdate", "overallrating", "score%"}],
        "population": [{"lacode", "year", "age", "population"}],
    }
    for name, accepted in layouts.items():
        files = sorted((DEMO / name).glob("*.csv"))
        assert files, name
        for path in files:
            columns = set(read(path).columns)
            wide = (name == "population" and re.match(r"mye\d{4}", path.name)
                    and {"ltlacode", "ltlaname", "90"} | {str(a) for a in range(90)} <= columns)
            assert wide or any(layout <= columns for layout in accepted), (path, columns)


def test_services_are_the_real_318_authorities_and_155_services(services):
    assert len(services) == 318 and services["yjsname"].nunique() == 155
    assert set(services["region"]) == REGIONS
    assert (services["country"] == services["lacode"].str[0].map(
        {"E": "England", "W": "Wales"})).all()
    assert ((services["region"] == "Wales") == (services["country"] == "Wales")).all()


def test_population_is_plausible_smooth_and_on_known_codes(services):
    totals = {}
    for path in sorted((DEMO / "population").glob("mye*.csv")):
        year = int(re.match(r"mye(\d{4})", path.name).group(1))
        totals[year] = read(path)[[str(a) for a in range(10, 18)]].astype(int).to_numpy().sum()
    long = read(DEMO / "population" / "population_long_2021_2025.csv")
    assert set(long["lacode"]) == set(services["lacode"])
    assert set(long["age"].astype(int)) == set(range(10, 18))
    totals.update(long.groupby(long["year"].astype(int))["population"]
                  .apply(lambda s: s.astype(int).sum()).to_dict())
    assert sorted(totals) == list(range(2013, 2026))
    series = pd.Series(totals)
    assert series.between(5.0e6, 6.3e6).all()
    assert series.pct_change().dropna().abs().max() < 0.03


def test_national_scales_are_plausible():
    fte = folder("first_time_entrants")
    fte_by_year = count(fte["ftecount"]).groupby(fte["periodend"].str[:4]).sum()
    assert 5_000 <= fte_by_year["2021"] <= 12_000
    assert 18_000 <= fte_by_year["2013"] <= 35_000  # about 500 per 100,000 aged 10-17

    reo = folder("reoffending")
    known = count(reo["reoffenders"]).notna()
    by_cohort = reo[known].assign(
        size=count(reo["cohortsize"]), reoffenders=count(reo["reoffenders"]),
        reoffences=count(reo["reoffences"])).groupby("cohortend")[
        ["size", "reoffenders", "reoffences"]].sum()
    rate = by_cohort["reoffenders"] / by_cohort["size"]
    assert rate.between(0.25, 0.45).all(), rate
    assert (by_cohort["reoffences"] / by_cohort["reoffenders"]).between(2.5, 4.5).all()

    outcomes = folder("custody")
    custody = outcomes[outcomes["cautionorsentencetier"] == "Custody"]
    per_year = count(custody["numbercautionedsentenced"]).groupby(custody["financialyear"]).sum()
    assert len(per_year) == 12 and per_year.between(100, 2_000).all(), per_year
    assert per_year["2013-14"] > 2 * per_year["2024-25"]


def test_suppression_markers_and_thousands_separators_are_present():
    cells = {
        "first_time_entrants": folder("first_time_entrants")["ftecount"],
        "reoffending": folder("reoffending")[["reoffenders", "reoffences"]].stack(),
        "custody": folder("custody")["numbercautionedsentenced"],
    }
    found = set()
    for name, values in cells.items():
        markers = set(values[values.isin(MARKERS)])
        assert markers, f"no suppressed cell in {name}"
        found |= markers
    assert {"*", "..", "[c]", "x", "-"} <= found
    every = pd.concat(cells.values())
    assert every.str.fullmatch(r"\d{1,3}(,\d{3})+").any()


def test_names_match_but_for_one_bad_row_and_the_merged_service(services, service_of):
    unmatched = []  # (folder, name, financial year or "")
    for name in ("first_time_entrants", "reoffending", "custody", "inspections"):
        frame = folder(name)
        names = frame["yjsname"].fillna(frame["laname"]) if "laname" in frame else frame["yjsname"]
        year = frame.get("financialyear", pd.Series("", index=frame.index))
        miss = ~names.map(normalise).isin(service_of)
        unmatched += [(name, n, y) for n, y in zip(names[miss], year[miss])]
    bad = [u for u in unmatched if u[1] == "Atlantis YOT"]
    assert len(bad) == 1 and bad[0][0] == "first_time_entrants"
    merged = [u for u in unmatched if u[1] != "Atlantis YOT"]
    lookup = services.set_index("laname")["yjsname"]
    assert merged and {lookup[n] for _, n, _ in merged} == {"Bury and Rochdale"}
    assert all(source == "custody" and year < "2019-20" for source, _, year in merged)


def test_quality_predicts_cycle_ratings_noisily(service_of):
    standard = read(DEMO / "inspections" / "inspections.csv")
    scrape = read(DEMO / "inspections" / "hmi_scrape_2023.csv")
    history = pd.concat([
        standard.assign(published=pd.to_datetime(standard["published"], format="%Y-%m-%d")),
        pd.DataFrame({"yjsname": scrape["laname"], "overallrating": scrape["overallrating"],
                      "published": pd.to_datetime(scrape["publicationdate"], format="%d/%m/%y")}),
    ], ignore_index=True)
    history["service"] = history["yjsname"].map(normalise).map(service_of)
    assert history["service"].notna().all()
    assert not history.duplicated(["service", "published"]).any()
    assert history["published"].max() < pd.Timestamp("2026-11-01")

    truth = read(DEMO / "truth.csv").set_index("yjsname")["quality"].astype(float)
    cycle = history[history["published"].dt.year.between(2018, 2024)]
    assert sorted(cycle["service"]) == sorted(truth.index)  # every service once
    score = cycle["overallrating"].str.lower().map(RATING_SCORE)
    assert score.notna().all()
    # quality: higher = better; rating_score: 1 best ... 4 worst -> negative rho
    rho = pd.Series(truth[cycle["service"]].to_numpy()).corr(
        pd.Series(score.to_numpy()), method="spearman")
    assert -0.9 < rho < -0.4, rho

    old = history[history["published"].dt.year <= 2017]
    assert 20 <= len(old) <= 40
    assert old["overallrating"].map(OLD_RATING_SCORE).notna().all()
    again = history[history["published"] >= pd.Timestamp("2025-01-01")]
    assert 0.10 <= len(again) / len(truth) <= 0.15


def test_default_real_dir_is_the_shared_folder_not_the_cwd():
    assert DEFAULT_REAL_DIR == REPO.parent / "shared" / "data" / "real"
    assert (DEFAULT_REAL_DIR / "la_to_yjs_crosswalk_2024.csv").is_file()
