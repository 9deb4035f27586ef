"""Which files of a data dir are inputs, and the checks that keep reading safe.

The data dir comes from configuration; the folders and files under it are
found by listing, never named by configuration, so the only way a path
could lead outside the data dir is a symbolic link. A link is followed only
when its target is inside the data dir; one that leads outside stops the
refresh, naming the link and its target (a link to ``/etc/passwd`` or to
another project's data is a mistake, not an input).

Skipped without comment, as no publisher's file looks like them: hidden
files (``.name``), Office and LibreOffice lock files (``~$name.xlsx``,
``.~lock.name#``), other suffixes (README.md), and anything that is not a
regular file (a folder, a named pipe, which would block the read forever).
Subfolders are not read (an ``archive/`` of superseded files is common); a
folder whose only tables are in subfolders fails, naming them.
A file larger than its format's limit (:mod:`.grids`) is refused before it
is read, so one wrong file cannot exhaust memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.ingest.errors import IngestError
from pipeline.ingest.grids import file_limit

EXTENSIONS = (".csv", ".xlsx", ".ods", ".xls")


def source_files(data_dir: Path, source: str) -> list[tuple[Path, str]]:
    """(path, name as ``source/file``) for every input file of a source folder."""
    root = data_dir.resolve()
    folder = data_dir / source
    if not folder.is_dir():
        raise IngestError(f"{source}/: folder not found under {data_dir}")
    _inside(folder, f"{source}/", root)
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "~$")) or path.suffix.lower() not in EXTENSIONS:
            continue
        name = f"{source}/{path.name}"
        _inside(path, name, root)
        if not path.exists():  # a link to nothing (a share not mounted, a file moved): not to be passed over
            raise IngestError(f"{name}: a link to {os.readlink(path)}, which does not exist; "
                              "inputs must be files inside the data dir")
        if not path.is_file():
            continue
        size, limit = path.stat().st_size, file_limit(path.suffix.lower())
        if size > limit:
            raise IngestError(
                f"{name}: {size / 2**20:,.0f} MB, more than the {limit // 2**20} MB a "
                f"{path.suffix.lower()} input may be; check it is the right file"
                + (" (save a large table as .csv)" if path.suffix.lower() == ".ods" else ""))
        found.append((path, name))
    if not found:
        nested = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                        if p.suffix.lower() in EXTENSIONS and not p.name.startswith((".", "~$")))
        raise IngestError(f"{source}/: no .csv, .xlsx, .ods or .xls file in {folder}" + (
            f" (inputs are read from the folder itself, not its subfolders: found {', '.join(nested[:3])}"
            f"{f' and {len(nested) - 3} more' if len(nested) > 3 else ''})" if nested else ""))
    return found


def _inside(path: Path, name: str, root: Path) -> None:
    """A path (after following links) must stay inside the data dir."""
    try:
        target = path.resolve()
    except (RuntimeError, OSError) as error:  # a loop of links: RuntimeError before Python 3.13, OSError since
        raise IngestError(f"{name}: a link that cannot be followed ({error}); "
                          "inputs must be files inside the data dir") from None
    if target != root and root not in target.parents:
        raise IngestError(f"{name}: a link to {target}, outside the data dir {root}; "
                          "inputs must be files inside the data dir")


def folder_bytes(data_dir: Path, source: str) -> int:
    """The size of a source folder's input files; 0 where it cannot be
    listed (its reader says why)."""
    try:
        return sum(path.stat().st_size for path, _ in source_files(data_dir, source))
    except (IngestError, OSError):
        return 0
