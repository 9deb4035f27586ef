"""DataFrames as Markdown tables for the Dagster UI's metadata.

``markdown_table(df)`` renders what ``df.to_markdown(index=False)`` renders
(a GitHub pipe table: numbers right-aligned and formatted with ``floatfmt``,
text left-aligned, missing values blank), without tabulate: pandas hands
every cell to tabulate's per-cell type guessing, ~2 ms a preview and 40 ms
over a refresh's two dozen previews, plus its import. Cells are not padded
(Markdown renderers ignore padding) and a ``|`` inside a cell is escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _cell(value, floatfmt: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else format(float(value), floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, floatfmt: str = "g") -> str:
    """``df`` (its columns, not its index) as a Markdown pipe table."""
    series = [df.iloc[:, i] for i in range(df.shape[1])]
    header = "| " + " | ".join(_cell(str(c), floatfmt) for c in df.columns) + " |"
    align = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(s)
                           and not pd.api.types.is_bool_dtype(s) else ":---" for s in series) + "|"
    columns = [s.astype(object).tolist() for s in series]
    rows = ["| " + " | ".join(_cell(v, floatfmt) for v in row) + " |" for row in zip(*columns)]
    return "\n".join([header, align, *rows])
