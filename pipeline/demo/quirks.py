"""Realism quirks of published releases, applied when the files are written.

Every quirk here is one a contract-compliant reader must cope with row by row
(never a reason to fail a whole file): other spellings of a service's name,
suppressed small counts, thousands separators, and a merged service whose
older rows are reported per local authority.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.demo.latent import stream

SUFFIXES = ("YOT", "YOS", "YJS", "Youth Offending Service", "Youth Offending Team",
            "Youth Justice Service")
ROYAL_BOROUGHS = {"Greenwich", "Kensington and Chelsea", "Windsor and Maidenhead"}


def _borough(name: str) -> str:
    return f"Royal Borough of {name}" if name in ROYAL_BOROUGHS else f"London Borough of {name}"


STYLES = {
    **{suffix: (lambda s: lambda n: f"{n} {s}")(suffix) for suffix in SUFFIXES},
    "ampersand": lambda n: n.replace(" and ", " & "),
    "upper": str.upper,
    "inspection_of": lambda n: f"An inspection of {n}",
    "ji": lambda n: f"{n} - JI",
    "borough": _borough,
}


def _applies(style: str, name: str, boroughs: set[str]) -> bool:
    if style in SUFFIXES:  # never stack two suffixes ("Dorset Combined YOS")
        return not name.endswith(SUFFIXES)
    if style == "ampersand":
        return " and " in name
    if style == "borough":
        return name in boroughs
    return True


def name_variants(services: pd.DataFrame, file_key: str, seed: int, styles: list[str],
                  share: float, fixed: dict[str, str] | None = None) -> dict[str, str]:
    """canonical service name -> the spelling one release uses for it.

    About ``share`` of the services get one of ``styles`` (the same spelling
    in every row of the file, as in a real release); ``fixed`` ones always.
    """
    rng = stream(seed, f"names/{file_key}")
    single_la = services.groupby("yjs_name")["la_code"].transform("size") == 1
    boroughs = set(services.loc[(services["region"] == "London") & single_la, "yjs_name"])
    boroughs |= ROYAL_BOROUGHS & set(services["yjs_name"])
    names = sorted(services["yjs_name"].unique())
    picked = rng.random(len(names)) < share
    chosen = rng.integers(len(styles), size=len(names))
    variants = {
        name: STYLES[styles[k]](name)
        for name, pick, k in zip(names, picked, chosen)
        if pick and _applies(styles[k], name, boroughs)
    }
    variants.update(fixed or {})
    return variants


def published(values, marker: str | None = None, below: int = 0,
              thousands: bool = False) -> np.ndarray:
    """Counts as a release prints them: 1..below-1 replaced by ``marker``
    (zero is shown), thousands separators if the release uses them."""
    values = np.asarray(values, dtype=np.int64)
    text = np.array([f"{v:,}" if thousands else str(v) for v in values], dtype=object)
    if marker is not None:
        text[(values > 0) & (values < below)] = marker
    return text


def split_merged(table: pd.DataFrame, service: str, la_shares: dict[str, float],
                 before_fy_end: int, seed: int) -> pd.DataFrame:
    """Rows of ``service`` for financial years ending before ``before_fy_end``
    reported per local authority instead (named as the LA), counts split in
    proportion to population; zero rows of the rare custody type dropped."""
    rng = stream(seed, f"merged/{service}")
    old = (table["yjs_name"] == service) & (table["fy_end"] < before_fy_end)
    remaining = table.loc[old, "count"].to_numpy()
    left, parts = 1.0, []
    for i, (la_name, share) in enumerate(la_shares.items()):
        last = i == len(la_shares) - 1
        count = remaining if last else rng.binomial(remaining, share / left)
        remaining, left = remaining - count, left - share
        parts.append(table.loc[old].assign(yjs_name=la_name, count=count))
    split = pd.concat(parts)
    rare = split["type"].isin(["Section 250", "Section 91"]) & (split["count"] == 0)
    return pd.concat([table.loc[~old], split[~rare]], ignore_index=True)
