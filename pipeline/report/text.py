"""DataFrames as plain-text tables for a terminal (the SQL prompt, the CLI).

``text_table(df)`` aligns as a printed table is read: numbers right, text
left, each column's header as its values. pandas' ``to_string`` right-aligns
text, so a long text column (the reasons) ends up indented by its longest
value, and shows a missing value as ``None``, ``<NA>`` or ``NaN`` by dtype,
where a reader wants one word for "no value".
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _cells(column: pd.Series, missing: str, floatfmt: str | None) -> list[str]:
    """``column``'s values as text: numbers, dates and booleans as pandas
    prints them (one precision a column), text as it is on one line, a
    missing value as ``missing``."""
    absent = column.isna().to_numpy()
    if column.dtype == object or pd.api.types.is_string_dtype(column):  # text, and DuckDB's lists
        text = [str(v.tolist() if isinstance(v, np.ndarray) else v).replace("\n", " ") for v in column]
    elif floatfmt and pd.api.types.is_float_dtype(column):
        text = [format(v, floatfmt) for v in column]
    else:
        text = [v.strip() for v in column.to_string(index=False).splitlines()] if len(column) else []
    return [missing if gone else v for v, gone in zip(text, absent)]


def text_table(df: pd.DataFrame, missing: str = "NULL", floatfmt: str | None = None) -> str:
    """``df`` (its columns, not its index) as an aligned text table, two
    spaces between columns; an empty ``df`` gives its header alone."""
    columns = []
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        cells = [str(df.columns[i]), *_cells(column, missing, floatfmt)]
        width = max(map(len, cells))
        columns.append([c.rjust(width) if _is_number(column) else c.ljust(width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns))
