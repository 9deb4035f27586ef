"""A small read-only SQL prompt on the published warehouse (``make sql``).

The DuckDB Python package has no CLI binary, so this is the project's own:
statements end with ``;``, results print as tables. The connection is
``read_only=True``, which is safe while a refresh runs: the refresh writes a
copy and swaps it in, this session keeps the snapshot it opened, and
``.reopen`` switches to the newly published file.

    python -m pipeline.sql_prompt [WAREHOUSE] [-c SQL] [-f FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import settings as s

QUESTIONS_DIR = s.REPO_ROOT / "sql" / "questions"
HELP = """\
Statements end with ';'. Commands:
  .tables              tables and views
  .schema NAME         columns of a table or view
  .questions           the example questions in sql/questions/
  .read FILE|NAME      run a .sql file (a question's name is enough)
  .reopen              reconnect, to see a refresh published since you opened
  .help  .quit"""


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `make run` (or set YJT_WAREHOUSE) first")
    return duckdb.connect(str(warehouse), read_only=True)


def show(con: duckdb.DuckDBPyConnection, sql: str, out=sys.stdout, max_rows: int = 200) -> None:
    """Run one statement and print its result (or its error) as a table."""
    try:
        rel = con.sql(sql)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=out)
        return
    if rel is None:  # a statement without a result (SET, PRAGMA ...)
        print("ok", file=out)
        return
    df = rel.df()
    with pd.option_context("display.max_rows", max_rows, "display.max_columns", None,
                           "display.width", 200, "display.max_colwidth", 80):
        print(df.to_string(index=False, max_rows=max_rows) if len(df) else "(no rows)", file=out)
    print(f"({len(df)} rows)", file=out)


def _question(arg: str) -> Path:
    path = Path(arg)
    if not path.exists():
        path = QUESTIONS_DIR / (arg if arg.endswith(".sql") else arg + ".sql")
    return path


def command(con, line: str, warehouse: Path, out=sys.stdout):
    """A dot command; returns the (possibly new) connection, or None to quit."""
    name, _, arg = line.strip().partition(" ")
    arg = arg.strip()
    if name in (".quit", ".exit", ".q"):
        return None
    if name == ".tables":
        show(con, "SELECT table_name AS name, table_type AS kind FROM information_schema.tables "
                  "ORDER BY table_type, table_name", out)
    elif name == ".schema" and arg:
        show(con, f"DESCRIBE \"{arg}\"", out)
    elif name == ".questions":
        for p in sorted(QUESTIONS_DIR.glob("*.sql")):
            first = p.read_text(encoding="utf-8").splitlines()[0].lstrip("- ")
            print(f"  {p.stem:34} {first}", file=out)
    elif name == ".read" and arg:
        path = _question(arg)
        if path.exists():
            show(con, path.read_text(encoding="utf-8"), out)
        else:
            print(f"no such file or question: {arg}", file=out)
    elif name == ".reopen":
        con.close()
        con = connect(warehouse)
        print(f"reopened {warehouse}", file=out)
    else:
        print(HELP, file=out)
    return con


def repl(con, warehouse: Path, stdin=sys.stdin, out=sys.stdout) -> None:
    """Read statements (ending with ';') and dot commands until EOF or .quit."""
    interactive = stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history)
        except ImportError:
            pass
        print(f"{warehouse} (read-only). .help for commands, .quit to leave.", file=out)
    buffer: list[str] = []
    while True:
        try:
            line = input("sql> " if not buffer else "...> ") if interactive else stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        if not buffer and line.strip().startswith("."):
            con = command(con, line, warehouse, out)
            if con is None:
                break
            continue
        buffer.append(line.rstrip("\n"))
        if line.rstrip().endswith(";"):
            show(con, "\n".join(buffer), out)
            buffer = []
    if buffer and "".join(buffer).strip():
        show(con, "\n".join(buffer), out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.sql_prompt", description=__doc__.splitlines()[0])
    p.add_argument("warehouse", nargs="?", help="DuckDB file (default $YJT_WAREHOUSE or data/warehouse.duckdb)")
    p.add_argument("-c", dest="sql", help="run this statement and exit")
    p.add_argument("-f", dest="file", help="run this .sql file (or question name) and exit")
    args = p.parse_args(argv)
    warehouse = s.resolve_path(args.warehouse, "YJT_WAREHOUSE", s.DEFAULT_WAREHOUSE)
    con = connect(warehouse)
    try:
        if args.sql:
            show(con, args.sql)
        elif args.file:
            command(con, f".read {args.file}", warehouse)
        else:
            repl(con, warehouse)
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
