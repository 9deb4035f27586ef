"""A small read-only SQL prompt on the published warehouse (``make sql``).

The DuckDB Python package has no CLI binary, so this is the project's own:
statements end with ``;``, results print as tables. The connection is
``read_only=True``, which is safe while a refresh runs: the refresh writes a
copy and swaps it in, this session keeps the snapshot it opened, and
``.reopen`` switches to the newly published file.

    python -m pipeline.sql_prompt [WAREHOUSE] [-c SQL] [-f FILE]

With ``-c`` or ``-f`` it exits 1 when the statement fails (an error, a
write refused, no such file or question), with the error on stderr, so a
script or a scheduled check sees the failure; the prompt itself goes on
after an error and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb

from pipeline import settings as s
from pipeline.report.text import text_table

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
    """A read-only connection to the warehouse; one line, no traceback, where
    there is none or it is not a DuckDB file (a folder, an export)."""
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `make run` (or set YJT_WAREHOUSE) first")
    try:
        ours = s.is_duckdb_file(warehouse)
    except OSError as error:
        raise SystemExit(f"the warehouse {warehouse} cannot be read: {error.strerror}") from None
    if not ours:
        raise SystemExit(f"the warehouse {warehouse} is not a DuckDB file")
    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as error:
        raise SystemExit(f"the warehouse {warehouse} cannot be read: {str(error).splitlines()[0]}") from None


def show(con: duckdb.DuckDBPyConnection, sql: str, out=sys.stdout, max_rows: int = 200, err=None) -> bool:
    """Run ``sql`` and print its result as a table (text left-aligned,
    numbers right, NULL for no value; at most ``max_rows`` rows), or its
    error to ``err`` (default ``out``). Returns whether it ran. Several
    statements are run in order, each result printed (DuckDB's ``sql``
    would run them all and return the last one's alone); they stop at the
    first that fails, as a script does."""
    try:
        statements = [statement.query for statement in con.extract_statements(sql)]
        if len(statements) > 1:
            return all(show(con, one, out, max_rows, err) for one in statements)
        rel = con.sql(sql)
        if rel is None:  # a statement without a result (SET, PRAGMA ...)
            print("ok", file=out)
            return True
        df = rel.df()  # a query's errors at run time (a bad cast) come here, not from con.sql
    except duckdb.Error as exc:
        print(f"error: {exc}", file=err or out)
        return False
    print(text_table(df.head(max_rows)), file=out)  # an empty result still shows its columns
    more = f", the first {max_rows} shown" if len(df) > max_rows else ""
    print(f"({len(df)} {'row' if len(df) == 1 else 'rows'}{more})", file=out)
    return True


def _question(arg: str) -> Path:
    path = Path(arg)
    if not path.exists():
        path = QUESTIONS_DIR / (arg if arg.endswith(".sql") else arg + ".sql")
    return path


def read(con, arg: str, out=sys.stdout, err=None) -> bool:
    """Run the .sql file or question ``arg``; returns whether it ran (its
    error, or that there is no such file, goes to ``err``, default ``out``)."""
    path = _question(arg)
    if not path.exists():
        print(f"no such file or question: {arg}", file=err or out)
        return False
    return show(con, path.read_text(encoding="utf-8"), out, err=err)


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
        read(con, arg, out)
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
            ran = show(con, args.sql, err=sys.stderr)
        elif args.file:
            ran = read(con, args.file, err=sys.stderr)
        else:
            repl(con, warehouse)  # an error is shown and the prompt goes on, as in any SQL shell
            ran = True
    finally:
        con.close()
    return 0 if ran else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader stopped early (`| head`): no traceback, as other shell tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout at exit
        sys.exit(1)
