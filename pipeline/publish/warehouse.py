"""Atomic publication of the DuckDB warehouse.

DuckDB locks its file: a writer cannot open it while an analyst holds a
read-only session, and a reader cannot open it while a writer does. So the
refresh never writes to the published file. It builds a fresh staging file
beside it, CHECKPOINTs and closes it, then ``os.replace``s it over the
published one. A reader connected before the swap keeps its snapshot; new
connections see the new file; a refresh that fails or is killed leaves the
published file byte-identical (its staging file is removed by the next run).

One refresh at a time: publication holds an exclusive ``flock`` on
``<warehouse>.lock``; a second publisher waits up to ``timeout`` seconds and
then refuses with a message naming the holder (its pid and start time are
written in the lock file). The kernel drops the lock when its holder dies,
even by SIGKILL, so a killed refresh never blocks the next. The lock is
re-entrant within a process: the CLI holds it for a whole refresh, and the
``warehouse`` asset it runs takes it again to check the guards and publish.
A second lock, on the Dagster instance's storage (:func:`storage_lock`), keeps
refreshes of different warehouses that share it from mixing their outputs.

A list for an earlier date than the published one is a backfill, added to
``ranking_history`` alone, unless the published one is dated after today
(:func:`is_backfill`): one such list must not hold back every later refresh.

Table and view names are ours (validated below); values always reach DuckDB
through ``register``, never pasted into SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import os
import re
import shutil
import struct
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.faults import pause_point

DATE_COLUMNS = {"period_end", "published", "as_of", "window_end", "last_inspected", "next_published",
                "last_period_end"}
# The contract's column types, for a column with no value to tell (no rows, or all NULL: a list as of a
# date before any figure; the demo's rating_note), which DuckDB would otherwise type NULL (a column that
# takes no insert of another warehouse's values, and no BOOLEAN `suppressed`); another is VARCHAR.
EMPTY_COLUMN_TYPES = {
    **dict.fromkeys(["yjs_id", "yjs_name", "country", "region", "la_codes", "indicator", "funnel_band",
                     "inspection_type", "overall_rating", "recommendation", "last_rating", "reasons", "source",
                     "file", "problem", "raw", "sha256"], "VARCHAR"),
    **dict.fromkeys(["population_10_17", "rating_score", "rank", "rank_low", "rank_high", "months_since_inspection",
                     "row_number", "rows"], "BIGINT"),
    **dict.fromkeys(["numerator", "denominator", "rate", "expected", "z_score", "concern_score"], "DOUBLE"),
    "suppressed": "BOOLEAN", "ingested_at": "TIMESTAMPTZ",
}
HISTORY_TABLE = "ranking_history"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_HELD: dict[Path, int] = {}  # lock files this process holds -> depth


class PublishError(RuntimeError):
    """Publication could not complete; the published warehouse is untouched."""


def _lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def refresh_lock(warehouse: Path, timeout: float = 600.0, what: str | None = None):
    """Exclusive lock for one refresh; waits up to ``timeout`` s, then refuses
    (the message names ``what`` is locked: the warehouse unless said)."""
    lock_path = _lock_path(Path(warehouse).resolve())
    if _HELD.get(lock_path):
        _HELD[lock_path] += 1
        try:
            yield
        finally:
            _HELD[lock_path] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+", encoding="utf-8") as fh:  # "a+": never truncate the holder's note
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown process"
                    raise PublishError(
                        f"{what or warehouse}: another refresh is running ({holder}; lock {lock_path.name}, "
                        f"waited {timeout:.0f} s); nothing was changed, try again when it has finished"
                    ) from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now().isoformat(timespec='seconds')}\n")
        fh.flush()
        _HELD[lock_path] = 1
        try:
            pause_point("locked")
            yield
        finally:
            del _HELD[lock_path]
            fcntl.flock(fh, fcntl.LOCK_UN)


def storage_lock(storage: Path, timeout: float = 600.0):
    """Exclusive lock on a Dagster instance's storage folder for one run.

    Dagster's file IO manager keeps each asset's latest output at
    ``<storage>/<asset>``, one file per asset whatever the run, so two
    refreshes of different warehouses (or data dirs, or as-of dates) sharing
    a ``DAGSTER_HOME`` would read each other's outputs between steps and
    publish a mixture. Every run holds this lock from its start to its end
    (:class:`pipeline.defs.resources.RefreshSettings`; the CLI from before
    it starts), so they take turns; re-entrant within a process, as
    :func:`refresh_lock`."""
    storage = Path(storage)
    return refresh_lock(storage / "asset_outputs", timeout, what=f"Dagster storage {storage}")


def checked_name(name: str) -> str:
    """A table or view name of ours; anything else is a bug, not data to quote."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a warehouse table name (lower case, digits, _)")
    return name


@contextlib.contextmanager
def readers_only(warehouse: Path):
    """Hold a read lock on the published file (Linux's open file
    description lock, the kind DuckDB's own locks meet), so that no session
    opens it read-write until the block ends: between the refresh's read of
    the file and the swap, such a session would write a WAL of the old file
    that then lies beside the new one, and DuckDB refuses both. Readers
    (shared locks) are not held back. A writer already there: PublishError.
    No file, or no such locks (not Linux): nothing to hold."""
    ofd = getattr(fcntl, "F_OFD_SETLK", None)
    try:
        fd = os.open(warehouse, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError):
        yield
        return
    try:
        if ofd is not None:
            try:  # struct flock: l_type, l_whence, l_start, l_len (0: the whole file), l_pid (0)
                fcntl.fcntl(fd, ofd, struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))
            except OSError as e:
                raise PublishError(f"{warehouse} is open for writing by another session (a read-write "
                                   f"connection); close it, or query the warehouse read-only ({e.strerror})") from e
        yield
    finally:
        os.close(fd)  # and the lock with it


def staging_files(warehouse: Path) -> list[Path]:
    """Left-over staging files of earlier, interrupted refreshes."""
    return sorted(warehouse.parent.glob(warehouse.name + ".staging-*"))


def read_table(warehouse: Path, table: str) -> pd.DataFrame | None:
    """A table of the published warehouse (read-only), or None if absent."""
    return read_tables(warehouse, [table])[table]


_DUCKDB_LOCK = threading.RLock()  # one file attached at a time


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """This process's in-memory DuckDB, through which it reads the published
    file (:func:`read_only`) and writes the staging one (:func:`_staging`),
    each ATTACHed for the while. ``checkpoint_threshold`` 0: a commit to the
    staging file writes the tables into the file itself, where they would
    otherwise go to its write-ahead log first and into the file again at
    the CHECKPOINT (~10 ms of a demo refresh's ~45)."""
    return duckdb.connect(config={"checkpoint_threshold": "0b"})


def start_duckdb() -> threading.Thread | None:
    """Start this process's DuckDB (:func:`_duckdb`) on a thread of its own,
    unless it has started: DuckDB builds its catalogue in native code,
    without Python's lock, so a run that starts it as it starts (the
    ``settings`` resource) has it ready, on another core, by the time its
    warehouse step attaches the files (~25-40 ms in a fresh process). Not a
    daemon: a run that fails before it needs DuckDB waits for the start to
    finish rather than leaving DuckDB half made as the interpreter exits."""
    if _duckdb.cache_info().currsize:
        return None

    def start() -> None:
        with _DUCKDB_LOCK:  # as read_only and _staging call it: one DuckDB, however the calls interleave
            _duckdb()

    thread = threading.Thread(target=start, name="duckdb start")
    thread.start()
    return thread


@contextlib.contextmanager
def read_only(warehouse: Path):
    """A read-only connection to the DuckDB file ``warehouse``, its tables
    and views unqualified, as ``duckdb.connect(warehouse, read_only=True)``
    gives (the same shared lock on the file), but on one in-memory DuckDB per process that ATTACHes
    the file READ_ONLY and DETACHes it afterwards: starting a DuckDB costs
    ~20 ms (it builds its catalogue of built-in functions), and a refresh
    reads the published file four times. One reader at a time per process
    (DuckDB refuses the same file attached twice). A file DuckDB cannot
    open (not a DuckDB file, a folder) raises :class:`PublishError`, and
    the file is left as it is."""
    with _DUCKDB_LOCK:
        con = _duckdb().cursor()
        try:
            path = str(warehouse).replace("'", "''")
            try:
                con.execute(f"ATTACH '{path}' AS published (TYPE DUCKDB, READ_ONLY)")  # by no other name or header
            except duckdb.IOException as error:
                reason = str(error).removeprefix("IO Error: ")
                raise PublishError(f"the warehouse {warehouse} cannot be read ({reason}); it was left as it is: "
                                   "move it away or give another --warehouse") from None
            try:
                con.execute("USE published")
                yield con
            finally:
                con.execute("USE memory")
                con.execute("DETACH published")
        finally:
            con.close()


@contextlib.contextmanager
def _staging(path: Path):
    """A read-write connection to the new DuckDB file ``path`` (made if
    absent), as ``duckdb.connect(path)`` gives, on this process's DuckDB
    (:func:`_duckdb`): the file ATTACHed, and DETACHed afterwards, which
    closes it. Saves starting a second DuckDB (~20 ms, more in a fresh
    process). What the caller leaves uncommitted is rolled back."""
    with _DUCKDB_LOCK:
        con = _duckdb().cursor()
        try:
            quoted = str(path).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS staging (TYPE DUCKDB)")
            try:
                con.execute("USE staging")
                yield con
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # none open: nothing to roll back
                    con.rollback()
                raise
            finally:
                con.execute("USE memory")
                con.execute("DETACH staging")
        finally:
            con.close()


def read_tables(warehouse: Path, tables: list[str]) -> dict[str, pd.DataFrame | None]:
    """Tables of the published warehouse from one read-only snapshot (None if absent)."""
    out: dict[str, pd.DataFrame | None] = {t: None for t in map(checked_name, tables)}
    if not Path(warehouse).exists():
        return out
    with read_only(warehouse) as con:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        ).fetchall()}
        for table in out:
            out[table] = con.execute(f'SELECT * FROM "{table}"').df() if table in names else None
    return out


def published_as_of(warehouse: Path) -> dt.date | None:
    """The as-of of the published list, ``inspection_targets`` (None if
    none, or if the file cannot be read: publication then says why, naming
    it). Not the latest in ``ranking_history``: that may be a list dated
    after today that a later refresh replaced (:func:`is_backfill`)."""
    if not Path(warehouse).exists():
        return None
    with contextlib.suppress(PublishError), read_only(warehouse) as con:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        ).fetchall()}
        if "inspection_targets" not in names:
            return None
        return con.execute('SELECT max(CAST(as_of AS DATE)) FROM "inspection_targets"').fetchone()[0]
    return None


def listed_as_of(ranked: pd.DataFrame | None) -> dt.date | None:
    """The as-of of a ranked list (``inspection_targets``), None if there is none."""
    if ranked is None or ranked.empty:
        return None
    latest = to_datetime(ranked["as_of"]).max()
    return None if pd.isna(latest) else latest.date()


def is_backfill(as_of: dt.date | None, published: dt.date | None, today: dt.date | None = None) -> bool:
    """Whether a list as of ``as_of`` is a backfill: added to ``ranking_history``
    only, the published list (as of ``published``) staying as it is. It is
    when the published list is dated on or before today and later than
    ``as_of``. A published list dated after today never holds the next one
    back: one typo (2062 for 2026) or a leftover ``YJT_AS_OF`` would
    otherwise freeze it for good, every later refresh a backfill. The one
    rule for the CLI, the UI and the schedule (:func:`publish` applies it)."""
    today = today or dt.date.today()
    return as_of is not None and published is not None and as_of < published <= today


def after_today_warning(as_of: dt.date, today: dt.date | None = None) -> str | None:
    """What to say of a list dated after today (None for one that is not):
    allowed, for simulated data, but it is published only until the next
    refresh as of today or earlier (:func:`is_backfill`)."""
    today = today or dt.date.today()
    if as_of <= today:
        return None
    return (f"as of {as_of} is after today ({today}): this list is published, but the next refresh as of "
            "today or earlier will replace it (a date after today suits simulated data; is it a typo?)")


def _select_list(df: pd.DataFrame) -> str:
    cols = []
    # the types once (``df.dtypes`` builds a Series on each call); a column taken only where it may be empty
    for i, (c, dtype) in enumerate(zip(df.columns, df.dtypes.to_numpy())):
        q = '"' + c.replace('"', '""') + '"'
        if c in DATE_COLUMNS:
            cols.append(f"CAST({q} AS DATE) AS {q}")
        elif dtype == object and df.iloc[:, i].first_valid_index() is None:  # nothing to type it
            cols.append(f"CAST({q} AS {EMPTY_COLUMN_TYPES.get(c, 'VARCHAR')}) AS {q}")
        else:
            cols.append(q)
    return ", ".join(cols)


def _write_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Each frame copied in with one CREATE TABLE AS (no row-by-row inserts);
    the caller's transaction makes them one commit. The frame reaches DuckDB
    as the local variable ``incoming_frame``, which DuckDB's replacement scan
    finds by its name: ``register`` first would make a view of it in the
    catalog, ~1.3 ms a table whatever its size, ~17 ms of a demo refresh's
    13 tables. A table or view of that name (one to write, or one in the
    file a backfill copies) would be found first: then each frame is
    registered under a name of its own, as before."""
    clash = _FRAME_NAME in tables or con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [_FRAME_NAME]).fetchall()[0][0]
    for i, (name, incoming_frame) in enumerate(tables.items()):
        source = _FRAME_NAME
        if clash or not len(incoming_frame.columns):  # (no columns: refused with register's error, not SQL's)
            source = f"incoming_{i}"
            con.register(source, incoming_frame)
        con.execute(f'CREATE TABLE "{checked_name(name)}" AS SELECT {_select_list(incoming_frame)} FROM {source}')
        if i == 0:
            pause_point("staging_write")  # a staging file half written


_FRAME_NAME = "incoming_frame"  # _write_tables' local variable holding the frame it copies


def merge_history(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Ranking history with the new as-of's rows replacing any earlier run's
    rows for the same as-of (a rerun never duplicates)."""
    if old is None or old.empty:
        return new.copy()
    as_of = to_datetime(new["as_of"]).dt.date.unique()
    keep = old[~to_datetime(old["as_of"]).dt.date.isin(as_of)]
    if keep.empty:
        return new.sort_values(["as_of", "rank"], ignore_index=True)
    merged = pd.concat([_typed_like(keep, new), _typed_like(new, keep)], ignore_index=True)
    return merged.sort_values(["as_of", "rank"], ignore_index=True)


def _typed_like(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column it has only missing values in (a list where
    no service was ever inspected: no last rating) given ``other``'s type,
    so that the column keeps the type its values have (pandas warns that it
    will stop ignoring all-missing columns when typing a concatenation)."""
    out = frame
    for column in frame.columns:
        if (column in other and frame[column].isna().all() and other[column].notna().any()
                and frame[column].dtype != other[column].dtype):
            try:
                typed = frame[column].astype(other[column].dtype)
            except (TypeError, ValueError):  # a type that cannot hold a missing value: as it is
                continue
            out = out.assign(**{column: typed})
    return out


_UNREAD = object()


def publish(warehouse: Path, tables: dict[str, pd.DataFrame], views_sql: list[str] = (),
            after_write=None, history=_UNREAD, published=_UNREAD, verify=None) -> dict[str, int]:
    """Write ``tables`` (plus the merged ``ranking_history``) and ``views_sql``
    to a staging copy and swap it in. Returns row counts per table.

    ``tables`` must hold ``inspection_targets``; ``ranking_history`` is built
    here from the published file's history: ``history`` when the caller has
    already read it (``read_tables``, None if absent) while holding
    ``refresh_lock``, so the file is not read twice; otherwise it is read
    here; likewise ``published``, the as-of of the published list
    (:func:`published_as_of`). A backfill (:func:`is_backfill`) only adds to
    ``ranking_history``: the counts then name that table alone.
    ``verify(con)``, given the staging file's connection once it is written,
    returns problems that stop publication (:class:`PublishError`) before
    the swap. ``after_write`` (tests) is called with the staging path just
    before the swap.
    """
    warehouse = Path(warehouse).resolve()  # a link: replace its target, beside it
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if (history is not _UNREAD or published is not _UNREAD) and not _HELD.get(_lock_path(warehouse)):
        # read without the lock, another refresh may have published since
        raise ValueError("publish(history=..., published=...) needs them read while holding refresh_lock")
    with refresh_lock(warehouse), readers_only(warehouse):  # no session writes the old file until it is replaced
        for stale in staging_files(warehouse):
            stale.unlink(missing_ok=True)
        tables = dict(tables)
        if history is _UNREAD:
            history = read_table(warehouse, HISTORY_TABLE)
        if published is _UNREAD:
            published = published_as_of(warehouse)
        history = merge_history(history, tables["inspection_targets"])
        # A backfill adds its rows to ranking_history and changes nothing
        # else: every other table stays as the latest refresh published it.
        backfill = is_backfill(listed_as_of(tables["inspection_targets"]), published)
        tables = {HISTORY_TABLE: history} if backfill else {**tables, HISTORY_TABLE: history}
        staging = warehouse.with_name(f"{warehouse.name}.staging-{os.getpid()}")
        wal = _wal(warehouse)
        try:
            if backfill:
                shutil.copyfile(warehouse, staging)
                if wal.exists():  # changes committed to the published file but not yet checkpointed into it
                    shutil.copyfile(wal, _wal(staging))  # replayed into the copy as it is opened
            with _staging(staging) as con:
                con.begin()  # every table and view in one commit
                if backfill:
                    con.execute(f'DROP TABLE "{HISTORY_TABLE}"')
                _write_tables(con, tables)
                for sql in views_sql:
                    con.execute(sql)
                con.commit()
                if verify is not None and (problems := verify(con)):
                    raise PublishError(f"{warehouse} was not replaced: the new version fails its checks: "
                                       f"{'; '.join(problems)}")
                con.execute("CHECKPOINT")
            if after_write is not None:
                after_write(staging)
            with open(staging, "rb+") as fh:
                os.fsync(fh.fileno())
            pause_point("before_swap")
            _swap(staging, warehouse)
            dir_fd = os.open(warehouse.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            for leftover in (staging, _wal(staging)):
                leftover.unlink(missing_ok=True)
            raise
    return {name: len(df) for name, df in tables.items()}


def _wal(path: Path) -> Path:
    """The write-ahead log DuckDB keeps beside the file ``path``."""
    return path.with_name(path.name + ".wal")


def _swap(staging: Path, warehouse: Path) -> None:
    """``staging`` renamed over ``warehouse``, and the published file's WAL
    (left by a read-write session that ended without a checkpoint) gone
    with the file it belongs to: beside the new file DuckDB would refuse
    both ("WAL does not match database file"). The new file holds what a
    refresh read of the old one, its WAL replayed (a backfill copied both).
    The WAL is moved aside first, so that a file is never beside another's
    WAL, and put back if the rename fails."""
    wal = _wal(warehouse)
    aside = wal.with_name(f"{wal.name}.replaced-{os.getpid()}")
    moved = False
    try:
        os.replace(wal, aside)
        moved = True
    except FileNotFoundError:
        pass
    try:
        os.replace(staging, warehouse)
    except BaseException:
        if moved:
            os.replace(aside, wal)
        raise
    if moved:
        aside.unlink(missing_ok=True)
