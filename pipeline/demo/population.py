"""Synthetic 10-17 populations, mid-2013 to mid-2025.

Based on the real ONS mid-2020 lower-tier file: every district's single-year
counts are scaled by a smooth national trend (+1% a year for ages 10-17, +0.5%
for other ages) and a small drift per 2024 authority, with a little noise per
age and year. Years up to 2020 come out in the wide ONS layout on the 2020
geography; 2021 on in the long layout on 2024 codes (districts carried to
their successors with the project's code-change table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.demo import trends
from pipeline.demo.latent import stream
from pipeline.ingest.geography import successor

MYE_2020 = "mye2020_persons_sya_ltla20_ew.csv"
AGES = [str(a) for a in range(90)] + ["90+"]
YOUTH = [str(a) for a in range(10, 18)]
WIDE_YEARS = list(range(2013, 2021))
LONG_YEARS = list(range(2021, 2026))
BASE_YEAR = 2020
DRIFT_SD = 0.006  # per year, per 2024 authority
NOISE_SD = 0.004  # per age and year


@dataclass
class Population:
    wide: dict[int, pd.DataFrame]  # year -> ONS wide layout, 2020 districts
    long: pd.DataFrame  # la_code, year, age, population (2024 codes, 2021+)
    youth: pd.DataFrame  # 2024 la_code x year: population aged 10-17


def _growth(year: int) -> np.ndarray:
    """Per-age national factor for ``year`` relative to mid-2020."""
    youth = np.isin(AGES, YOUTH)
    return np.where(
        youth,
        (1 + trends.POPULATION_GROWTH_10_17) ** (year - BASE_YEAR),
        (1 + trends.POPULATION_GROWTH_OTHER_AGES) ** (year - BASE_YEAR),
    )


def build_population(real_dir: Path, la_codes: list[str], seed: int) -> Population:
    path = Path(real_dir) / MYE_2020
    base = pd.read_csv(path, dtype={"ltla20_code": str, "ltla20_name": str})
    missing = [c for c in ["ltla20_code", "ltla20_name", *AGES] if c not in base.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    rng = stream(seed, "population")
    la_index = {code: i for i, code in enumerate(la_codes)}
    district_la = np.array([la_index[successor(c)] for c in base["ltla20_code"]])
    drift = rng.normal(0.0, DRIFT_SD, len(la_codes))
    counts = base[AGES].to_numpy(dtype=float)

    wide, youth_rows = {}, {}
    for year in WIDE_YEARS:
        noise = rng.normal(0.0, NOISE_SD, counts.shape)
        factor = _growth(year)[None, :] * np.exp(
            drift[district_la][:, None] * (year - BASE_YEAR) + noise
        )
        values = np.rint(counts * factor).astype(np.int64)
        frame = pd.DataFrame(values, columns=AGES)
        frame.insert(0, "total_population", values.sum(axis=1))
        frame.insert(0, "ltla_name", base["ltla20_name"])
        frame.insert(0, "ltla_code", base["ltla20_code"])
        wide[year] = frame
        youth_rows[year] = np.bincount(
            district_la, weights=values[:, np.isin(AGES, YOUTH)].sum(axis=1),
            minlength=len(la_codes),
        )

    # 2024 authorities: 2020 base carried to successors, then the same trend
    youth_cols = np.isin(AGES, YOUTH)
    base_la = np.zeros((len(la_codes), len(YOUTH)))
    np.add.at(base_la, district_la, counts[:, youth_cols])
    long_parts = []
    for year in LONG_YEARS:
        noise = rng.normal(0.0, NOISE_SD, base_la.shape)
        factor = (1 + trends.POPULATION_GROWTH_10_17) ** (year - BASE_YEAR) * np.exp(
            drift[:, None] * (year - BASE_YEAR) + noise
        )
        values = np.rint(base_la * factor).astype(np.int64)
        youth_rows[year] = values.sum(axis=1)
        long_parts.append(
            pd.DataFrame(
                {
                    "la_code": np.repeat(la_codes, len(YOUTH)),
                    "year": year,
                    "age": np.tile(np.arange(10, 18), len(la_codes)),
                    "population": values.ravel(),
                }
            )
        )
    youth = pd.DataFrame(youth_rows, index=pd.Index(la_codes, name="la_code")).round()
    return Population(wide=wide, long=pd.concat(long_parts, ignore_index=True),
                      youth=youth.astype(np.int64))


def service_population(youth: pd.DataFrame, services: pd.DataFrame) -> pd.DataFrame:
    """yjs_name x year: population aged 10-17 of the service's authorities."""
    by_la = services.set_index("la_code")["yjs_name"]
    return youth.groupby(youth.index.map(by_la)).sum().rename_axis("yjs_name")
