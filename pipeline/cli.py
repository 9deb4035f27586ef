"""Command line: ``python -m pipeline refresh [--data-dir] [--warehouse] [--as-of]``.

Runs the ``monthly_refresh`` job in-process on a real Dagster instance
(``$DAGSTER_HOME``, default ``.dagster_home/`` in the repo, so runs show in
the UI), then prints the top of the published ranked list. Exit 0 on success;
non-zero with a one-line cause on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import sys
from pathlib import Path

from pipeline import settings as s

EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: another refresh of the same warehouse is running


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at a persistent folder holding the repo's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or s.REPO_ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(s.REPO_ROOT / "dagster.yaml", target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _root_cause(error) -> str:
    """The message of a Dagster error chain that says what is wrong, on one
    line: the innermost of our own errors (which name the file and the
    problem: "inspections/bad.xlsx: not a readable .xlsx spreadsheet"),
    else the innermost error (not the library error ours was raised from,
    "BadZipFile: File is not a zip file")."""
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    ours = [e for e in chain if (e.message or "").lstrip().startswith("pipeline.")]
    error = ours[-1] if ours else chain[-1]
    lines = [ln for ln in (error.message or "").strip().splitlines() if ln.strip()]
    # our errors' messages say what is wrong; their class path ("pipeline.ingest...Error: ") does not
    return re.sub(r"^pipeline\.[\w.]+: ", "", lines[-1].strip()) if lines else "unknown error"


def run_refresh(args: argparse.Namespace) -> int:
    data_dir = s.resolve_path(args.data_dir, "YJT_DATA_DIR", s.DEFAULT_DATA_DIR)
    warehouse = s.check_warehouse(s.resolve_path(args.warehouse, "YJT_WAREHOUSE", s.DEFAULT_WAREHOUSE))
    as_of = s.resolve_as_of(args.as_of, "--as-of")
    rules = s.RankingRules(n_full_joint=args.full_joint, n_benchmark=args.benchmark,
                           exclusion_months=args.exclusion_months, lag_months=args.lag_months)
    if not data_dir.is_dir():
        raise s.SettingsError(f"data dir {data_dir} " + ("is a file, not a folder" if data_dir.exists()
                                                          else "does not exist"))
    limits = s.Limits(args.max_national_rate_factor, args.max_services_dropped_share, args.max_inspections_lost_share)
    ensure_dagster_home()
    from pipeline.model.worker import start_ahead

    start_ahead()  # the model worker imports scikit-learn while this process imports Dagster

    import dagster as dg  # imported late: `--help` stays fast

    from pipeline.definitions import defs
    from pipeline.defs.run_owners import PID_TAG, fail_orphaned_runs
    from pipeline.publish.warehouse import PublishError, published_as_of, refresh_lock, storage_lock

    config = {"data_dir": str(data_dir), "warehouse": str(warehouse), "as_of": as_of.isoformat(),
              "lag_months": rules.lag_months, "n_full_joint": rules.n_full_joint,
              "n_benchmark": rules.n_benchmark, "exclusion_months": rules.exclusion_months,
              "max_national_rate_factor": limits.max_national_rate_factor,
              "max_services_dropped_share": limits.max_services_dropped_share,
              "max_inspections_lost_share": limits.max_inspections_lost_share}
    job = defs.resolve_job_def("monthly_refresh")
    lock, instance = contextlib.ExitStack(), dg.DagsterInstance.get()
    for run in fail_orphaned_runs(instance, by="a CLI refresh"):  # else the runs queued behind it wait for good
        print(f"NOTE: marked run {run.run_id} failed: it was left STARTED by a refresh that died "
              f"(pid {run.tags[PID_TAG]}); left so, it would hold back any run queued behind it.")
    try:  # one refresh at a time: held for the whole run, so a second CLI refuses at once; one per
        # Dagster home, whose storage holds the assets' outputs between steps, and one per warehouse.
        # In the order a run from the UI takes them (its storage at its start, the warehouse to publish)
        lock.enter_context(storage_lock(instance.storage_directory(), timeout=args.wait))
        lock.enter_context(refresh_lock(warehouse, timeout=args.wait))
    except PublishError as busy:
        lock.close()
        instance.dispose()
        print(f"refresh refused: {busy}", file=sys.stderr)
        return EXIT_BUSY
    with lock, instance:
        # With the lock held, the warehouse changes only if this run publishes: whether it did is
        # read from the file itself, not from which steps ran (one may fail after the swap).
        previous, before = published_as_of(warehouse), _file_version(warehouse)
        result = job.execute_in_process(
            run_config={"resources": {"settings": {"config": config}},
                        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            instance=instance,
            raise_on_error=False, tags={"as_of": as_of.isoformat(), "launched_by": "cli"})
        replaced, listed = _file_version(warehouse) != before, published_as_of(warehouse)
    if not replaced and not result.success:  # the published warehouse is exactly as it was
        stopped = _stopped_by(result)
        if stopped:
            print(f"refresh stopped by check {_check_line(stopped, 'failed')}; nothing was published"
                  f"{_quarantined(result, stopped.asset_key.to_user_string())}", file=sys.stderr)
            return EXIT_FAILED
        step, cause = _failed_step(result)
        print(f"refresh failed in {step}: {cause}", file=sys.stderr)
        return EXIT_FAILED

    # a backfill (pipeline.publish.warehouse.is_backfill) added its list to ranking_history alone
    backfill = listed != as_of
    done = f"{warehouse} WAS {'backfilled' if backfill else 'published'} as of {as_of}"
    try:
        _print_published(warehouse, as_of, backfill, previous, listed, data_dir, rules, result, args.top)
    except PublishError as exc:  # published, but it could not be read back
        print(f"refresh failed after publishing: {done}, then reading it back failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # whoever read the output stopped reading (`... | head`): the list is cut short,
        _stdout_to_devnull()  # not the refresh; nothing more is printed to the closed pipe
    except OSError as exc:  # stdout cannot be written (a full disk): published all the same
        _stdout_to_devnull()
        print(f"refresh failed after publishing: {done}, then printing its list failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not result.success:  # a step after the swap failed: say that the warehouse was replaced all the same
        stopped = _stopped_by(result)
        if stopped:
            what = f"check {_check_line(stopped, 'failed', ' failed: ')}"
        else:
            what = "{} failed: {}".format(*_failed_step(result))
        print(f"refresh failed after publishing: {done}, then {what}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that Python's flush of it at exit does
    not fail on the closed pipe again (as Python's documentation advises
    for SIGPIPE)."""
    if sys.stdout is None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_published(warehouse, as_of, backfill: bool, previous, listed, data_dir, rules, result, top: int) -> None:
    """What a refresh that published prints on stdout: the notes, warnings
    and the top of its list (``run_refresh``)."""
    import pandas as pd

    from pipeline.model.panel import indicator_cutoff as cutoff_of
    from pipeline.publish.warehouse import after_today_warning, read_tables
    from pipeline.rank import targets

    published = read_tables(warehouse, ["inspection_targets", "ranking_history", "inspections"])
    ranked = published["inspection_targets"]
    if backfill:
        history = published["ranking_history"]
        ranked = history[pd.to_datetime(history["as_of"]).dt.date == as_of]
    made_up = s.synthetic_note(data_dir)
    if made_up:
        print(f"NOTE: {made_up}")
    print(f"{'Backfilled' if backfill else 'Published'} {warehouse} as of {as_of}: {targets.summary(ranked)}.")
    if backfill:
        print(f"A backfill: this list was added to ranking_history; inspection_targets and the other "
              f"tables still hold the latest refresh, as of {listed}.")
    elif previous and previous > as_of:  # only a list dated after today gives way to an earlier one
        print(f"It replaced the list as of {previous}, which was dated after today (ranking_history keeps it; "
              "its exports go).")
    if warning := after_today_warning(as_of):
        print(f"WARNING: {warning}")
    none = ranked["reasons"].str.contains(targets.NO_FIGURES, regex=False)
    uncompared = ranked["reasons"].str.contains(targets.NO_EVIDENCE, regex=False)
    suppressed = ranked["reasons"].str.contains(targets.SUPPRESSED, regex=False)
    if len(ranked) and none.all() and suppressed.any():  # figures there are, none that may be shown
        print(f"NOTE: no indicator figure published by {as_of} can be used (those published are suppressed: "
              "too few to publish), so every service is monitored.")
    elif len(ranked) and none.all():
        print(f"NOTE: no indicator figures were published by {as_of} (periods ending by "
              f"{cutoff_of(as_of, rules.lag_months):%d %B %Y}, after the {rules.lag_months}-month publication lag), "
              "so every service is monitored.")
    elif len(ranked) and (none | uncompared).all():
        print(f"NOTE: no indicator figure published by {as_of} could be compared with national: a period needs "
              "at least two services reporting it, and half as many as the indicator's best-covered period, "
              "for a national rate; so every service is monitored.")
    else:
        for note in targets.shortfall_notes(ranked, rules):
            print(f"NOTE: {note}")
    for e in result.get_asset_check_evaluations():  # published, but worth a look (as in the UI)
        if not e.passed:
            print(f"WARNING: check {_check_line(e, 'did not pass')}")
    top_rows = ranked.sort_values("rank").head(top)
    picked = ranked[ranked["recommendation"] != "monitor"].sort_values("rank")  # every pick, however low
    show = pd.concat([top_rows, picked]).drop_duplicates("yjs_id").sort_values("rank")
    print(ranked_table(show, rules))
    if show["last_inspected"].isna().any():  # say what "none on record" can hide
        print(none_on_record_note(published["inspections"], as_of))
    if sys.stdout is not None:  # (None: started with stdout closed, and print prints nothing)
        sys.stdout.flush()  # a closed pipe raises here, inside the caller's try, not at exit


NONE_ON_RECORD = "none on record"


def ranked_table(shown: pd.DataFrame, rules: s.RankingRules) -> str:
    """The ranked list as printed after a refresh, one row a service:
    rank, service, recommendation, concern score, 90% rank interval, when
    last inspected ("9 months ago", or "none on record") and its rating
    ("-" if none), and a note saying why a service is not recommended
    where the list alone does not: rank 1 may be passed over because it
    was inspected within the exclusion window, or have no figures."""
    import pandas as pd

    from pipeline.rank.targets import NO_EVIDENCE, NO_FIGURES
    from pipeline.report.text import text_table

    inspected = shown["last_inspected"].notna()
    ineligible = shown["eligible"].eq(False)  # NULL in a list published before it was a column
    notes = [f"not eligible: inspected within {rules.exclusion_months} months" if out
             else "no indicator figures" if NO_FIGURES in str(why)
             else "no figures compared with national" if NO_EVIDENCE in str(why) else ""
             for out, why in zip(ineligible, shown["reasons"])]
    table = pd.DataFrame({
        "rank": shown["rank"].to_numpy(),
        "service": shown["yjs_name"].to_numpy(),
        "recommendation": shown["recommendation"].to_numpy(),
        "concern": shown["concern_score"].to_numpy(dtype=float),
        "90% interval": [f"{low}-{high}" for low, high in zip(shown["rank_low"], shown["rank_high"])],
        "last inspected": [_ago(m) if seen else NONE_ON_RECORD
                           for m, seen in zip(shown["months_since_inspection"], inspected)],
        "last rating": shown["last_rating"].where(inspected, "-").to_numpy(),
        "note": notes,
    })
    return text_table(table, missing="-", floatfmt=".2f")


def _ago(months) -> str:
    """Whole months since an inspection, in words ("<1 month ago" for 0)."""
    months = int(months)
    return "<1 month ago" if months < 1 else f"{months} month{'s' if months > 1 else ''} ago"


def none_on_record_note(inspections, as_of) -> str:
    """What "none on record" means: no inspection in the records read, which
    may begin late (the HMI Probation scrape starts in March 2021) and so
    cannot tell a service never inspected from one inspected before them."""
    import pandas as pd

    published = pd.to_datetime(inspections["published"] if inspections is not None else [])
    begin = published[published <= pd.Timestamp(as_of)].min()
    if pd.isna(begin):
        return f"{NONE_ON_RECORD}: no inspection of these services on record was published by {as_of}."
    return (f"{NONE_ON_RECORD}: the inspections on record begin in {begin:%B %Y}; "
            "an inspection before then would not show.")


def _file_version(path: Path) -> tuple[int, int, int] | None:
    """Which version of the file at ``path`` is there (None: no file): each
    publication swaps in a new file, a new inode."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _check_line(evaluation, otherwise: str, between: str = ": ") -> str:
    """ "indicator_values:rates_in_plausible_ranges: <its description's first
    line>" (``otherwise`` without one): a check as the CLI's lines name it."""
    return (f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}{between}"
            f"{(evaluation.description or otherwise).splitlines()[0]}")


def _stopped_by(result):
    """The first blocking check that failed (an ERROR), or None."""
    import dagster as dg

    return next((e for e in result.get_asset_check_evaluations()
                 if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR), None)


def _failed_step(result) -> tuple[str, str]:
    """The first failed step and its cause, on one line."""
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    if failure is None:
        return "run", "run failed"
    return failure.step_key, _root_cause(failure.step_failure_data.error)


def _quarantined(result, asset: str) -> str:
    """What the stopped run quarantined of the sources behind the checked
    ``asset``, most in one source, with its first row's problem: a check that
    stops the refresh often follows from rows set aside (a table by sex,
    names that match nothing), and with nothing published the analyst has no
    quarantine table to look in. Said "separately": those rows may have
    nothing to do with what the check found (one unmatched name beside a
    rate that is out of range)."""
    from pipeline import ingest
    from pipeline.indicators import INDICATORS
    from pipeline.rank.targets import plural

    behind = [asset] if asset in ingest.SOURCES else (
        [ind.source for ind in INDICATORS] if asset.startswith("indicator_") else ingest.SOURCES)
    counts = []
    for source in behind:
        try:
            quarantine = result.output_for_node(source).quarantine
        except Exception:  # noqa: BLE001  (that step did not run, or made no output)
            continue
        if len(quarantine):
            counts.append((len(quarantine), source, quarantine))
    if not counts:
        return ""
    n, source, quarantine = max(counts, key=lambda c: c[0])
    kinds = quarantine["problem"].str.replace(r"'[^']*'|\d+", "_", regex=True)  # a problem, whatever its values
    common = kinds.value_counts(sort=True)
    row = quarantine[kinds == common.index[0]].iloc[0]
    said = " ".join(e.description or "" for e in result.get_asset_check_evaluations() if not e.passed)
    if re.search(re.escape(f"{row['file']} row {row['row_number']}") + r"\b", said):
        return ""  # the check's own line names that row (a source mostly quarantined)
    return (f"; separately, the run quarantined {plural(n, 'row')} of {source}, {common.iloc[0]} like "
            f"{row['file']} row {row['row_number']}: {row['problem']}")


class _Parser(argparse.ArgumentParser):
    """argparse, with an error on one line (the contract's one-line cause),
    not after the whole usage; ``--help`` gives that."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m pipeline",
                                description="Youth justice inspection targeting pipeline.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("refresh", help="run the monthly refresh and publish the warehouse")
    r.add_argument("--data-dir", help="input folder (default $YJT_DATA_DIR or data/demo)")
    r.add_argument("--warehouse", help="DuckDB file (default $YJT_WAREHOUSE or data/warehouse.duckdb)")
    r.add_argument("--as-of", help="rank as an analyst would have on this date, YYYY-MM-DD "
                                   "(default $YJT_AS_OF or today)")
    rules = s.RankingRules()  # the defaults
    r.add_argument("--lag-months", type=int, default=rules.lag_months,
                   help="indicator publication lag (default %(default)s)")
    r.add_argument("--full-joint", type=int, default=rules.n_full_joint,
                   help="full joint inspections (default %(default)s)")
    r.add_argument("--benchmark", type=int, default=rules.n_benchmark,
                   help="benchmark visits (default %(default)s)")
    r.add_argument("--exclusion-months", type=int, default=rules.exclusion_months,
                   help="services inspected this recently are not recommended (default %(default)s)")
    r.add_argument("--top", type=_rows, default=15, help="rows of the top of the ranked list to print (every service recommended for a visit is "
                        "printed too)")
    r.add_argument("--wait", type=_seconds, default=0, help="seconds to wait for another refresh of "
                   "the same warehouse, or with the same Dagster home, to finish before refusing (default 0: "
                   "refuse at once)")
    limits = s.Limits()
    r.add_argument("--max-national-rate-factor", type=float, default=limits.max_national_rate_factor,
                   help="stop if a national rate moves more than this factor (default %(default)s; 0: off)")
    r.add_argument("--max-services-dropped-share", type=float,
                   default=limits.max_services_dropped_share, help="stop if more than this share of "
                   "services disappears (default %(default)s; 1: off)")
    r.add_argument("--max-inspections-lost-share", type=float, default=limits.max_inspections_lost_share,
                   help="stop if more than this share of the published inspections are gone "
                   "(default %(default)s; 1: off, for one run to publish a correction)")
    return p


def _rows(text: str) -> int:
    """A number of rows to print: a whole number, 0 or more (a negative one
    had printed every row but that many)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (0 or more)")
    return value


def _seconds(text: str) -> float:
    """A number of seconds to wait: finite and not negative (``nan`` would wait for good)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_refresh(args)
    except (s.SettingsError, OSError) as exc:
        print(f"refresh failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
