"""The UI's table metadata: a DataFrame as Markdown on an asset or check."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.report.markdown import markdown_table


def md_table(df: pd.DataFrame, rows: int | None = None, floatfmt: str = ".3g") -> dg.MetadataValue:
    """``df`` (its first ``rows`` rows, if given) as a Markdown table, with
    numbers to ``floatfmt``; "none" when it has no rows."""
    if not len(df):
        return dg.MetadataValue.md("none")
    return dg.MetadataValue.md(markdown_table(df if rows is None else df.head(rows), floatfmt=floatfmt))
