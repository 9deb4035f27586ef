"""Run settings: where the data is, where the warehouse goes, the as-of date
and the ranking's knobs.

Flags beat environment variables (``YJT_DATA_DIR``, ``YJT_WAREHOUSE``,
``YJT_AS_OF``), which beat the defaults. Relative paths resolve against the
repo root, never the working directory, so ``dagster dev`` and the CLI agree.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = "data/demo"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the setting."""


def resolve_path(value: str | os.PathLike | None, env_var: str, default: str) -> Path:
    """A path from a flag, else the environment variable, else the default,
    made absolute against the repo root."""
    raw = value or os.environ.get(env_var) or default
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def is_duckdb_file(path: Path) -> bool:
    """Whether the file ``path`` is a DuckDB database, by its magic bytes
    (``DUCK`` after the 8-byte checksum), whatever its name; an empty file is
    not. OSError where it cannot be read."""
    with open(path, "rb") as fh:
        return fh.read(12)[8:12] == b"DUCK"


def check_warehouse(path: Path) -> Path:
    """``path`` (resolved, ``resolve_path``) if a warehouse can be published
    there, else :class:`SettingsError` naming it: a folder there, or a file
    where a folder above it would go, or a file that is not DuckDB's.
    Refused before the run, not after it in the step that publishes (a
    folder or another file: "cannot be read"), or as the bare
    "[Errno 17] File exists" of making the folders above it. Links are
    followed, as publishing follows them (a link's target is replaced)."""
    try:
        target = path.resolve()  # a dangling link: its target, where the file would be written
    except (OSError, RuntimeError) as exc:  # a loop of links (RuntimeError up to Python 3.12)
        raise SettingsError(f"warehouse {path} cannot be resolved: {exc}") from None
    if target.is_dir():
        raise SettingsError(f"warehouse {path} is a folder, not a DuckDB file: give a file's path")
    if target.is_file():  # (an empty one too: DuckDB refuses it, "not a valid DuckDB database file")
        try:
            ours = is_duckdb_file(target)
        except OSError as exc:
            raise SettingsError(f"warehouse {path} cannot be read: {exc.strerror}") from None
        if not ours:  # another file saved under its name: the step that publishes would refuse it after the run
            raise SettingsError(f"warehouse {path} is not a DuckDB file; it was left as it is: move it away "
                                "or give another warehouse path")
    for above in target.parents:  # the nearest that exists; those below it are made as it is published
        if above.exists():
            if not above.is_dir():
                raise SettingsError(f"warehouse {path}: {above} is a file, not a folder")
            break
    return path


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# no figure here is before 1900 (README: Reliability), and the back-test's and the
# ranking's month arithmetic must stay inside pandas' dates (1677-09-22 to 2262-04-11)
AS_OF_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))


def resolve_as_of(value: str | dt.date | None, name: str = "as_of") -> dt.date:
    """The as-of date from a flag or setting (called ``name`` in errors:
    ``--as-of`` for the CLI's) or ``YJT_AS_OF``; today when neither is set."""
    if not value and os.environ.get("YJT_AS_OF"):
        value, name = os.environ["YJT_AS_OF"], "YJT_AS_OF"  # an error names where the value came from
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
    elif not value:
        return dt.date.today()
    else:
        text = str(value).strip()
        try:  # the contract's form only: fromisoformat also takes 20240215 and 2024-W07-1
            day = dt.date.fromisoformat(text) if _ISO_DAY.fullmatch(text) else None
        except ValueError:
            day = None
        if day is None:
            raise SettingsError(f"{name}: {value!r} is {_not_a_day(text)}")
    if not AS_OF_RANGE[0] <= day <= AS_OF_RANGE[1]:
        raise SettingsError(f"{name}: {day.isoformat()} is outside the dates a list can be made as of "
                            f"({AS_OF_RANGE[0].isoformat()} to {AS_OF_RANGE[1].isoformat()})")
    return day


def _not_a_day(text: str) -> str:
    """Why ``text``, which ``date.fromisoformat`` refused, is not a date: a
    day the calendar lacks (``2024-02-30``) is in the right form."""
    form = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if not form:
        return "not a date in YYYY-MM-DD form"
    year, month, _ = map(int, form.groups())
    if year == 0:
        return "not a day of the calendar: there is no year 0"
    if not 1 <= month <= 12:
        return f"not a day of the calendar: there is no month {month}"
    days = calendar.monthrange(year, month)[1]
    return f"not a day of the calendar: {calendar.month_name[month]} {year} has {days} days"


@dataclass(frozen=True)
class RankingRules:
    """The knobs of the ranked list (contract defaults)."""

    n_full_joint: int = 8
    n_benchmark: int = 2
    exclusion_months: int = 12
    lag_months: int = 3
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "fte": 1.0,
            "reoffending": 1.0,
            "custody": 1.0,
            "inspection": 0.75,
            "time_since_inspection": 0.25,
            # the outcome model's standardised score; 0 until the back-test
            # shows it adds to the concern score (see README, Back-test)
            "outcome_model": 0.0,
        }
    )

    def __post_init__(self) -> None:
        for name in ("n_full_joint", "n_benchmark", "exclusion_months", "lag_months"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise SettingsError(f"{name}: {value!r} must be a whole number >= 0")
        if self.lag_months > 60:
            raise SettingsError(f"lag_months: {self.lag_months} is more than 60 months")
        for key, w in self.weights.items():
            if not (isinstance(w, (int, float)) and 0 <= w <= 10):
                raise SettingsError(f"weights.{key}: {w!r} must be a number from 0 to 10")
        if not any(self.weights.values()):  # every concern score 0: the list would go by name
            raise SettingsError("weights: all 0, so nothing would tell the services apart; give one a weight")


# A source folder holding this file declares its tables synthetic (the demo writes one in each), so
# that a data dir mixing demo folders with real ones still says which figures are made up.
SYNTHETIC_MARKER = "SYNTHETIC.md"
DEMO_DIR = REPO_ROOT / DEFAULT_DATA_DIR  # the repo's own demo, whose files are recognised wherever copied


def synthetic_sources(data_dir: Path) -> list[str]:
    """The source folders of ``data_dir`` whose tables are synthetic: every
    folder where the data dir declares itself synthetic (the demo's README.md
    says so in its first line), else those holding :data:`SYNTHETIC_MARKER`
    or a file byte for byte one of the demo's in the folder of that name (its
    CSVs copied without the marker: :func:`_holds_demo_file`)."""
    data_dir = Path(data_dir)
    folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir()) if data_dir.is_dir() else []
    readme = data_dir / "README.md"
    if readme.is_file():
        first = readme.read_text(encoding="utf-8", errors="replace").lstrip().splitlines()[:1]
        if first and "synthetic" in first[0].lower():
            return folders
    return [f for f in folders
            if (data_dir / f / SYNTHETIC_MARKER).is_file() or _holds_demo_file(data_dir / f)]


@functools.lru_cache(maxsize=None)
def _demo_sizes() -> dict[str, dict[int, tuple[Path, ...]]]:
    """The demo's synthetic files by folder and size (once a process): the
    files of each demo folder holding :data:`SYNTHETIC_MARKER`, the marker
    aside (``services/``, whose names are real, has none)."""
    sizes: dict[str, dict[int, tuple[Path, ...]]] = {}
    if not DEMO_DIR.is_dir():
        return sizes
    for folder in sorted(p for p in DEMO_DIR.iterdir() if p.is_dir()):
        if not (folder / SYNTHETIC_MARKER).is_file():
            continue
        by_size: dict[int, tuple[Path, ...]] = {}
        for path in sorted(folder.iterdir()):
            if path.name != SYNTHETIC_MARKER and path.is_file():
                size = path.stat().st_size
                if size:
                    by_size[size] = by_size.get(size, ()) + (path,)
        sizes[folder.name] = by_size
    return sizes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_demo_sha256 = functools.lru_cache(maxsize=None)(_sha256)  # a demo file's hash, once a process


def _holds_demo_file(folder: Path) -> bool:
    """Whether ``folder`` holds a file byte for byte one of the demo's
    synthetic files in the demo folder of the same name. Sizes first: only a
    file as large as one of the demo's is hashed, so a real data dir costs
    a listing."""
    by_size = _demo_sizes().get(folder.name)
    if not by_size:
        return False
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        for path in files:
            twins = by_size.get(path.stat().st_size)
            if twins and _sha256(path) in {_demo_sha256(t) for t in twins}:
                return True
    except OSError:  # unreadable: the ingest says so, naming the file
        return False
    return False


def is_synthetic(data_dir: Path) -> bool:
    """Whether any of the data dir's figures are synthetic (:func:`synthetic_sources`)."""
    return bool(synthetic_sources(data_dir))


DEMO_NOTE = "Demo data: the indicator figures, populations and ratings are SYNTHETIC."


def synthetic_note(data_dir: Path) -> str:
    """What the CLI, the UI's views, the exports and the notebooks say of the
    data's origin: :data:`DEMO_NOTE` where every source folder is the demo's,
    which folders are where only some are (real ratings and populations beside
    the demo's indicators must not be called synthetic), "" where none is."""
    data_dir = Path(data_dir)
    made_up = synthetic_sources(data_dir)
    if not made_up:
        return ""
    if made_up == sorted(p.name for p in data_dir.iterdir() if p.is_dir()):
        return DEMO_NOTE
    named = ", ".join(made_up[:-1]) + " and " + made_up[-1] if len(made_up) > 1 else made_up[0]
    return (f"Partly demo data: the tables in {named} are the demo's SYNTHETIC figures; "
            "the others are the data dir's own.")


@dataclass(frozen=True)
class Limits:
    """The plausibility guards' limits (``pipeline.model.guards``): a factor of 0 or a share of 1
    switches its check off."""

    max_national_rate_factor: float = 2.0
    max_services_dropped_share: float = 0.10
    # the share of the published inspections a refresh may no longer have (a correction); more stops it
    max_inspections_lost_share: float = 0.10

    def __post_init__(self) -> None:
        factor, share = self.max_national_rate_factor, self.max_services_dropped_share
        lost = self.max_inspections_lost_share
        if not (isinstance(factor, (int, float)) and (factor == 0 or 1 < factor <= 1_000)):
            raise SettingsError(f"max_national_rate_factor: {factor!r} must be above 1 "
                                "(at most 1000), or 0 to switch the check off")
        if not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise SettingsError(f"max_services_dropped_share: {share!r} must be from 0 to 1")
        if isinstance(lost, bool) or not isinstance(lost, (int, float)) or not 0 <= lost <= 1:
            raise SettingsError(f"max_inspections_lost_share: {lost!r} must be from 0 to 1")
