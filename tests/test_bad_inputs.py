"""The corpus of bad inputs (tests/corpus/cases.py) through the readers and
the plausibility guards: each case must have the outcome the contract asks
for. The last test writes the corpus table and its figures to
tests/artifacts/corpus.md."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pipeline import ingest
from pipeline.model import guards, panel
from pipeline.settings import REPO_ROOT
from tests.corpus import base
from tests.corpus.cases import CASES, Case

AS_OF = dt.date(2026, 11, 1)
INDICATORS = ("first_time_entrants", "reoffending", "custody")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
BIG_ROWS = 1_000_000


@dataclass
class Observed:
    kind: str  # read | quarantine | stop | guard
    message: str
    got: ingest.Ingested | None = None


def read_all(data_dir: Path) -> dict[str, ingest.Ingested]:
    services = ingest.read_services(data_dir)
    out = {"services": services}
    for source in ("population", *INDICATORS, "inspections"):
        out[source] = getattr(ingest, f"read_{source}")(data_dir, services.table)
    return out


def outputs(read: dict[str, ingest.Ingested]) -> dict[str, pd.DataFrame]:
    """What the guards see of a refresh: the panel, services and their ranking rows. Not its
    inspections nor its files read: a case replaces its source's base file, which the guards on
    lost data (inspections lost, an indicator's latest period earlier) would rightly take for a
    lost file; they are tested on their own below."""
    tables = {s: read[s].table for s in INDICATORS}
    values, dispersion = panel.build_panel(tables, read["services"].table, read["population"].table, AS_OF, 3)
    services = panel.services_table(read["services"].table, read["population"].table)
    return {"indicator_values": values, "indicator_dispersion": dispersion,
            "services": services, "inspection_targets": services}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The valid base dir's outputs, standing in for the published warehouse."""
    return outputs(read_all(base.build(tmp_path_factory.mktemp("base") / "data")))


_observed: dict[str, Observed] = {}


def observe(case: Case, folder: Path, published) -> Observed:
    data_dir = base.build(folder / "data")
    case.files(data_dir)
    try:
        read = read_all(data_dir)
    except ingest.IngestError as stop:
        return Observed("stop", str(stop))
    got = read[case.source]
    try:
        guards.check_refresh(outputs(read), published, guards.Limits())
    except guards.GuardError as stop:
        return Observed("guard", str(stop), got)
    problems = got.quarantine["problem"]
    return Observed("quarantine" if len(problems) else "read", "; ".join(dict.fromkeys(problems)), got)


def check(case: Case, seen: Observed) -> None:
    assert seen.kind == case.expect, f"{case.name}: expected {case.expect}, got {seen.kind}: {seen.message}"
    assert case.detail in seen.message, f"{case.name}: {seen.message!r}"
    if seen.kind == "stop":
        assert "\n" not in seen.message and seen.message.split(":")[0].count("/") == 1, seen.message
    if case.rows is not None:
        assert len(seen.got.table) == case.rows, f"{case.name}: {len(seen.got.table)} rows"
    if case.check is not None:
        case.check(seen.got)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_input_has_its_outcome(case, tmp_path, published):
    _observed[case.name] = observe(case, tmp_path, published)
    check(case, _observed[case.name])


def test_a_million_row_file_is_refused_within_bounded_memory(tmp_path):
    """Read in a child process so its peak memory (ru_maxrss) is its own."""
    data_dir = base.build(tmp_path / "data")
    with open(data_dir / "first_time_entrants/big.csv", "w") as fh:
        fh.write("yjs_name,period_end,fte_count\n")
        row = "Bolton,2022-03,40\n"
        for _ in range(BIG_ROWS // 10_000):
            fh.write(row * 10_000)
    script = ("import resource, sys; from pathlib import Path; from pipeline import ingest\n"
              "d = Path(sys.argv[1]); s = ingest.read_services(d).table\n"
              "try:\n    ingest.read_first_time_entrants(d, s); print('read')\n"
              "except ingest.IngestError as e:\n    print(e)\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    run = subprocess.run([sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    message, peak_mb = run.stdout.strip().splitlines()
    assert message.startswith("first_time_entrants/big.csv: over 250,000 data rows (at row 250,002)")
    assert int(peak_mb) < 800, f"peak {peak_mb} MB"
    _observed["million_rows"] = Observed("stop", f"{message} [peak RSS {peak_mb} MB]")


def test_write_the_corpus_table(tmp_path, published):
    """The closing figures: inputs tried, quarantined and refused as expected."""
    lines = ["| input | what | expected | observed |", "|---|---|---|---|"]
    counts = {"read": 0, "quarantine": 0, "stop": 0, "guard": 0}
    for case in CASES:
        seen = _observed.get(case.name) or observe(case, tmp_path / case.name, published)
        check(case, seen)
        counts[case.expect] += 1
        lines.append(f"| {case.name} | {case.what} | {case.expect} | {seen.kind}: {seen.message[:160]} |")
    big = _observed.get("million_rows")
    if big:
        counts["stop"] += 1
        lines.append(f"| million_rows | 1,000,000-row FTE file | stop | {big.kind}: {big.message} |")
    total = sum(counts.values())
    lines += ["", f"inputs tried: {total}; read as meant: {counts['read']}; quarantined as expected: "
              f"{counts['quarantine']}; refused as expected: {counts['stop']}; stopped by a guard: "
              f"{counts['guard']}"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "corpus.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert total >= len(CASES)


# --- the guards on their own -------------------------------------------------------


def test_dropping_more_than_the_allowed_share_of_services_is_stopped(published):
    new = {**published, "services": published["services"].iloc[2:]}  # 2 of 9 gone: 22%
    with pytest.raises(guards.GuardError, match=r"2 of the 9 published services would be dropped from "
                                                r"services \(22%, limit 10%: Bolton, Cumberland\)"):
        guards.check_refresh(new, published, guards.Limits())
    guards.check_refresh(new, published, guards.Limits(max_services_dropped_share=0.25))


def test_a_national_rate_is_compared_with_the_latest_published_period_when_none_is_shared(published):
    later = published["indicator_dispersion"].copy()
    later["period_end"] = later["period_end"] + pd.DateOffset(years=5)
    fte = later["indicator"] == "fte"
    later.loc[fte, "national_rate"] *= 3  # 200 -> 600: plausible, but three times the published rate
    problems = guards.national_rate_changes(later, published["indicator_dispersion"], 2.0)
    assert len(problems) == 1 and problems[0].startswith(
        "national fte rate for the 12 months to 2028-03-31 would move from 200 per 100,000 aged 10-17 "
        "to 600 per 100,000 aged 10-17 (x3")
    assert guards.national_rate_changes(later, published["indicator_dispersion"], 4.0) == []
    guards.check_refresh({**published, "indicator_dispersion": later}, published,
                         guards.Limits(max_national_rate_factor=0))  # 0: switched off


def test_a_run_as_of_a_date_before_the_published_periods_has_lost_nothing(published):
    old = published["indicator_dispersion"]
    first = pd.Timestamp(old["period_end"].min())
    empty = old.iloc[:0]  # as of that date no period had ended, so no national rate
    assert guards.national_rate_changes(empty, old, 2.0, cutoff=first - pd.DateOffset(days=1)) == []
    gone = guards.national_rate_changes(empty, old, 2.0, cutoff=first)  # one published period it could see
    expected = [f"no national {i} rate any more" for i in sorted(set(old["indicator"]))]
    assert [p.split(" (")[0] for p in gone] == expected
    assert len(guards.national_rate_changes(empty, old, 2.0)) == len(gone)  # no cut-off: every period counts
    guards.check_refresh({**published, "indicator_dispersion": empty}, published, guards.Limits(),
                         cutoff=first - pd.DateOffset(days=1))


def _inspections(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["yjs_id", "yjs_name", "published", "inspection_type", "overall_rating"]).assign(
        published=lambda d: pd.to_datetime(d["published"]))


PUBLISHED_INSPECTIONS = _inspections([
    ("bolton", "Bolton", "2019-05-01", "standard", "Good"),
    ("hartlepool", "Hartlepool", "2022-01-10", "standard", "Requires improvement"),
    ("greenwich", "Greenwich", "2026-02-10", "small", "Inadequate"),
    ("cumberland", "Cumberland", "2026-06-01", "FJI", "Good"),
    ("west-mercia", "West Mercia", "2026-10-20", "FJI", "Outstanding"),
])
FILES = pd.DataFrame({"source": "inspections", "file": ["inspections/a.csv", "inspections/b.csv"], "rows": [3, 2]})


def test_published_inspections_lost_are_stopped_naming_the_latest(published):
    """Deleting the demo's inspections file (or every rating unreadable) took 176 of 203 inspections
    away with exit 0: services inspected months before became "never inspected" and were picked."""
    services = published["services"]
    kept = PUBLISHED_INSPECTIONS.iloc[[0, 1]]  # the file b.csv with the three latest is gone
    quarantine = pd.DataFrame({"source": ["inspections"], "file": ["inspections/a.csv"], "row_number": [4],
                               "problem": ["column overall_rating: 'Splendid' is not a rating"], "raw": [""]})
    problems = guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 0.1, dt.date(2026, 10, 1),
                                       FILES.iloc[:1], FILES, quarantine)
    assert problems == [
        "2 of the 4 published inspections would be lost (50%, limit 10%), latest first: Cumberland 2026-06-01 Good, "
        "Greenwich 2026-02-10 Inadequate (files read: inspections/a.csv; no longer read: inspections/b.csv; 1 "
        "row of inspections/ quarantined, e.g. inspections/a.csv row 4: column overall_rating: 'Splendid' is not "
        "a rating): those services would count as never or long ago inspected; is an inspections/ file missing, "
        "or are its rows quarantined? (--max-inspections-lost-share 1 publishes it anyway)"]
    # West Mercia's inspection, published after the run's as-of, is not one it could have
    # below the share, inspections of the last 12 months lost still stop it: those services, just
    # inspected, would be eligible again (all of the last 23 months' lost, 9% of the demo's, had published
    # Kingston and Richmond, inspected 10 months before, as a full joint pick)
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 0.5, dt.date(2026, 10, 1)) == [
        "2 of the inspections published in the 12 months before 2026-10-01 would be lost: Cumberland 2026-06-01 "
        "Good, Greenwich 2026-02-10 Inadequate: just inspected, those services would be eligible for a visit "
        "again; is an inspections/ file cut short, or are its rows quarantined? (--max-inspections-lost-share 1 "
        "publishes it anyway)"]
    # where to look, as above: the files read and the rows quarantined (a rating unreadable)
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 0.5, dt.date(2026, 10, 1),
                                   FILES.iloc[:1], FILES, quarantine)[0].startswith(
        "2 of the inspections published in the 12 months before 2026-10-01 would be lost: Cumberland 2026-06-01 "
        "Good, Greenwich 2026-02-10 Inadequate (files read: inspections/a.csv; no longer read: inspections/b.csv; "
        "1 row of inspections/ quarantined, e.g. inspections/a.csv row 4: column overall_rating: 'Splendid' is "
        "not a rating): just inspected")
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 0.5, dt.date(2026, 10, 1),
                                   recent_months=6) == [guards.lost_inspections(
        kept, PUBLISHED_INSPECTIONS, services, 0.5, dt.date(2026, 10, 1))[0].replace("12 months", "6 months").replace(
        "2 of the", "1 of the").replace(", Greenwich 2026-02-10 Inadequate", "")]
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 1.0, dt.date(2026, 10, 1)) == []
    # a recent inspection's date put right is no loss
    moved = PUBLISHED_INSPECTIONS.assign(published=PUBLISHED_INSPECTIONS["published"] + pd.Timedelta(days=2))
    assert guards.lost_inspections(moved, PUBLISHED_INSPECTIONS, services, 1 - 1e-9, dt.date(2026, 10, 1)) == []
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, services, 0.1, dt.date(2026, 1, 1)) == []
    # a correction of one in ten goes through at the default limit; two in ten do not
    ten = pd.concat([PUBLISHED_INSPECTIONS.iloc[[0]].assign(published=pd.Timestamp(2010, 1, 1) + pd.DateOffset(years=y))
                     for y in range(10)], ignore_index=True)
    assert guards.lost_inspections(ten.iloc[1:], ten, services, 0.1) == []
    assert guards.lost_inspections(ten.iloc[2:], ten, services, 0.1)[0].startswith(
        "2 of the 10 published inspections would be lost (20%, limit 10%)")
    # a service the refresh no longer has: its inspections are the dropped-services guard's to report
    gone = services[~services["yjs_id"].isin(["greenwich", "cumberland"])]
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, gone, 0.1, dt.date(2026, 10, 1)) == []
    # the same service and day, its rating or type corrected, is the same inspection
    corrected = PUBLISHED_INSPECTIONS.assign(overall_rating="Good", inspection_type="FJI; joint")
    assert guards.lost_inspections(corrected, PUBLISHED_INSPECTIONS, services, 0.1) == []
    new = {**published, "inspections": kept}
    with pytest.raises(guards.GuardError, match=r"2 of the 4 published inspections would be lost \(50%, limit 10%\)"):
        guards.check_refresh(new, {**published, "inspections": PUBLISHED_INSPECTIONS}, guards.Limits(),
                             as_of=dt.date(2026, 10, 1))
    guards.check_refresh(new, {**published, "inspections": PUBLISHED_INSPECTIONS},
                         guards.Limits(max_inspections_lost_share=1.0), as_of=dt.date(2026, 10, 1))
    guards.check_refresh(new, published, guards.Limits())  # a first publish: nothing to lose


def test_an_inspection_still_listed_under_a_services_old_name_counts_as_lost_to_its_successor(published):
    """QA: Kingston and Richmond renamed Achieving for Children in the lookup (the same two LAs) while
    the inspections list kept the old name: its inspection of 10 months before was quarantined, the
    guard looked only at services the refresh still had, and the list published the service as never
    inspected, its first full joint pick."""
    old_services = published["services"]
    renamed = old_services.assign(yjs_id=old_services["yjs_id"].replace("greenwich", "royal-greenwich"),
                                  yjs_name=old_services["yjs_name"].replace("Greenwich", "Royal Greenwich"))
    greenwich = PUBLISHED_INSPECTIONS["yjs_id"] == "greenwich"
    kept = PUBLISHED_INSPECTIONS[~greenwich]  # its row quarantined: the old name matches no service
    as_of = dt.date(2026, 10, 1)
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, renamed, 0.5, as_of, old_services=old_services) == [
        "1 of the inspections published in the 12 months before 2026-10-01 would be lost: Greenwich (now Royal "
        "Greenwich) 2026-02-10 Inadequate: just inspected, those services would be eligible for a visit again; is "
        "an inspections/ file cut short, or are its rows quarantined? (--max-inspections-lost-share 1 publishes "
        "it anyway)"]
    # listed under its new name: the same inspection, no loss
    listed = pd.concat([kept, PUBLISHED_INSPECTIONS[greenwich].assign(yjs_id="royal-greenwich")])
    assert guards.lost_inspections(listed, PUBLISHED_INSPECTIONS, renamed, 0.5, as_of, old_services=old_services) == []
    # a service whose authorities no service serves now: the dropped-services guard's, as before
    gone = renamed[renamed["yjs_id"] != "royal-greenwich"]
    assert guards.lost_inspections(kept, PUBLISHED_INSPECTIONS, gone, 0.5, as_of, old_services=old_services) == []
    # a service merged into one serving more authorities takes its inspections too
    merged = renamed[renamed["yjs_id"] != "royal-greenwich"].copy()
    merged.loc[merged["yjs_id"] == "bolton", "la_codes"] = "E08000001,E09000011"
    assert "Greenwich (now Bolton) 2026-02-10" in guards.lost_inspections(
        kept, PUBLISHED_INSPECTIONS, merged, 0.5, as_of, old_services=old_services)[0]
    # a service split in two: each half inherits its last inspection, and must still have it (QA: a 1+1
    # split had been no successor at all, and both halves published as never inspected, the first two picks)
    split = old_services[old_services["yjs_id"] != "gwynedd-and-ynys-mon"]
    split = pd.concat([split, pd.DataFrame({"yjs_id": ["gwynedd", "ynys-mon"], "yjs_name": ["Gwynedd", "Ynys Môn"],
                                            "la_codes": ["W06000002", "W06000001"]})], ignore_index=True)
    both = _inspections([("gwynedd-and-ynys-mon", "Gwynedd and Ynys Môn", "2026-05-01", "standard", "Good")])
    before = pd.concat([PUBLISHED_INSPECTIONS, both], ignore_index=True)
    assert guards.lost_inspections(PUBLISHED_INSPECTIONS, before, split, 0.5, as_of, old_services=old_services)[0] \
        .startswith("2 of the inspections published in the 12 months before 2026-10-01 would be lost: Gwynedd and "
                    "Ynys Môn (now Gwynedd) 2026-05-01 Good, Gwynedd and Ynys Môn (now Ynys Môn) 2026-05-01 Good: ")
    one = pd.concat([PUBLISHED_INSPECTIONS, both.assign(yjs_id="gwynedd")], ignore_index=True)
    assert "lost: Gwynedd and Ynys Môn (now Ynys Môn) 2026-05-01 Good: " in guards.lost_inspections(
        one, before, split, 0.5, as_of, old_services=old_services)[0]
    each = pd.concat([one, both.assign(yjs_id="ynys-mon")], ignore_index=True)
    assert guards.lost_inspections(each, before, split, 0.5, as_of, old_services=old_services) == []
    # a successor with a later inspection of its own loses nothing: its last is what the ranking reads
    # (QA: Kingston and Richmond's LAs given to Sutton and Wandsworth, each inspected since, had stopped it)
    own = pd.concat([one, both.assign(yjs_id="ynys-mon", published=pd.Timestamp("2026-08-01"))], ignore_index=True)
    assert guards.lost_inspections(own, before, split, 0.5, as_of, old_services=old_services) == []
    older = pd.concat([one, both.assign(yjs_id="ynys-mon", published=pd.Timestamp("2025-08-01"))], ignore_index=True)
    assert "(now Ynys Môn) 2026-05-01" in guards.lost_inspections(older, before, split, 0.5, as_of,
                                                                  old_services=old_services)[0]
    # as the warehouse step calls the guards: the refresh stops
    with pytest.raises(guards.GuardError, match=r"Greenwich \(now Royal Greenwich\) 2026-02-10"):
        guards.check_refresh({**published, "services": renamed, "inspections": kept},
                             {**published, "inspections": PUBLISHED_INSPECTIONS}, guards.Limits(), as_of=as_of)


def test_a_stop_says_when_the_published_warehouse_came_from_another_data_dir(published):
    """The demo's warehouse refreshed from real files: every demo inspection 'lost', with no word that
    the data dir had changed, and the override called a 'correction'."""
    kept = PUBLISHED_INSPECTIONS.iloc[[0, 1]]
    meta = {"old": pd.DataFrame({"data_dir": ["/repo/data/demo"]}), "new": pd.DataFrame({"data_dir": ["/data/real"]})}
    with pytest.raises(guards.GuardError) as stop:
        guards.check_refresh({**published, "inspections": kept, "run_metadata": meta["new"]},
                             {**published, "inspections": PUBLISHED_INSPECTIONS, "run_metadata": meta["old"]},
                             guards.Limits(), as_of=dt.date(2026, 10, 1))
    assert str(stop.value).endswith(
        "publishes it anyway). The published warehouse was built from the data dir /repo/data/demo, this run "
        "reads /data/real: to start afresh from it, publish to a new warehouse (--warehouse), or switch the "
        "guards named off for one run")
    with pytest.raises(guards.GuardError) as same:
        guards.check_refresh({**published, "inspections": kept, "run_metadata": meta["old"]},
                             {**published, "inspections": PUBLISHED_INSPECTIONS, "run_metadata": meta["old"]},
                             guards.Limits(), as_of=dt.date(2026, 10, 1))
    assert str(same.value).endswith("publishes it anyway)")


def test_an_indicator_whose_latest_period_is_earlier_than_published_is_stopped(published):
    """Deleting the demo's fte_2020_2025.csv made FTE end in December 2019, as of 2026-12-02,
    and changed the picks with exit 0 and no warning."""
    old = published["indicator_dispersion"]
    fte = old["indicator"] == "fte"
    new = old[~fte | (old["period_end"] < old.loc[fte, "period_end"].max())]  # its latest period gone
    files = pd.DataFrame({"source": "first_time_entrants", "file": ["first_time_entrants/fte.csv"], "rows": [18]})
    before = pd.concat([files, files.assign(file="first_time_entrants/fte_2023.csv")])
    problems = guards.stale_indicators(new, old, None, files, before)
    assert problems == [
        "fte: its latest period would end 2022-03-31, where the published warehouse's ends 2023-03-31 (files "
        "read: first_time_entrants/fte.csv; no longer read: first_time_entrants/fte_2023.csv): is a newer "
        "first_time_entrants/ file missing, or its rows quarantined? (--max-national-rate-factor 0 lets a "
        "withdrawn period through)"]
    # a backfill, as of a date before the published latest period ended, has lost nothing
    assert guards.stale_indicators(new, old, pd.Timestamp("2023-03-30"), files, before) == []
    assert guards.stale_indicators(old, old, None, files, files) == []
    # a period with no national rate (every figure suppressed) is no latest period
    blank = old.assign(national_rate=old["national_rate"].where(~fte | (old["period_end"] < "2023-01-01")))
    assert guards.stale_indicators(blank, old, None)[0].startswith("fte: its latest period would end 2022-03-31")
    tables = {**published, "indicator_dispersion": new, "source_files": files}
    with pytest.raises(guards.GuardError, match="fte: its latest period would end 2022-03-31"):
        guards.check_refresh(tables, {**published, "source_files": before}, guards.Limits())
    guards.check_refresh(tables, published, guards.Limits(max_national_rate_factor=0))  # off with the rate check
