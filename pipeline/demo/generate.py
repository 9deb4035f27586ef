"""Write the synthetic demo dataset: one folder per source of the contract.

Only the service and local authority names are real (the 2024 crosswalk);
every indicator figure, population and inspection result is synthetic, drawn
from a latent quality per service (``latent``) with ``numpy.random.default_rng``
streams fixed by the seed, so the same seed gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.demo import indicators, layouts, readme
from pipeline.demo.inspections import build_inspections
from pipeline.demo.latent import draw_latent, persistent_shift
from pipeline.demo.population import build_population, service_population
from pipeline.demo.services import load_services, slug
from pipeline.ingest.discovery import EXTENSIONS
from pipeline.settings import SYNTHETIC_MARKER

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "data" / "demo"
DEFAULT_REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real"
DEFAULT_SEED = 20261201
SOURCES = ("services", "population", "first_time_entrants", "reoffending", "custody",
           "inspections")
TABLE_SUFFIXES = set(EXTENSIONS)  # what the readers read


def resolve(path: str | Path) -> Path:
    """Relative paths resolve against the repo root, not the working directory."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def population_files(population) -> dict:
    files = {f"population/mye{year}_persons_sya_ltla_ew.csv": frame
             for year, frame in population.wide.items()}
    files["population/population_long_2021_2025.csv"] = population.long
    return files


def truth(latent: pd.DataFrame) -> pd.DataFrame:
    """The hidden truth, for benchmarks: not an input (top of data/demo)."""
    frame = pd.DataFrame({
        "yjs_id": [slug(n) for n in latent.index],
        "yjs_name": latent.index,
        "quality": latent["quality"],
        "context": latent["context"],
    })
    for indicator in ("fte", "reoffending", "custody"):
        name = "odds_ratio" if indicator == "reoffending" else "rate_ratio"
        frame[f"{name}_{indicator}"] = np.exp(persistent_shift(latent, indicator))
    return frame.round(4)


def national_figures(pop: pd.DataFrame, fte: pd.DataFrame, reo: pd.DataFrame,
                     outcomes: pd.DataFrame) -> pd.DataFrame:
    """England and Wales by year, before suppression (for the README)."""
    total = pop.sum()
    custody = outcomes[outcomes["tier"] == "Custody"].groupby("fy_end")["count"].sum()
    cohorts = reo.groupby("cohort_year")[["cohort_size", "reoffenders"]].sum()
    fte_total = fte.groupby("year")["fte_count"].sum()
    columns = {  # name: (values, format)
        "population 10-17": (total, "{:,.0f}"),
        "FTE": (fte_total, "{:,.0f}"),
        "FTE per 100,000": (fte_total / total * 1e5, "{:.0f}"),
        "% reoffending (cohorts ending in the year)":
            (cohorts["reoffenders"] / cohorts["cohort_size"] * 100, "{:.1f}"),
        "custodial sentences (year to March)": (custody, "{:,.0f}"),
        "custody per 1,000": (custody / total * 1e3, "{:.3f}"),
    }
    frame = pd.DataFrame({
        name: values.reindex(total.index).map(lambda v, f=fmt: "" if pd.isna(v) else f.format(v))
        for name, (values, fmt) in columns.items()
    })
    return frame.rename_axis("year").reset_index()


def build(seed: int = DEFAULT_SEED, real_dir: Path = DEFAULT_REAL_DIR):
    """({relative path: DataFrame} for every file but the README, national figures)."""
    services = load_services(real_dir)
    population = build_population(real_dir, services["la_code"].tolist(), seed)
    pop = service_population(population.youth, services)
    latent = draw_latent(sorted(services["yjs_name"].unique()), seed)
    fte = indicators.first_time_entrants(pop, latent, seed)
    reo = indicators.reoffending(pop, latent, seed)
    outcomes = indicators.outcomes(pop, latent, seed)
    files = {"services/services.csv": services, **population_files(population)}
    files.update(layouts.first_time_entrants(fte, services, seed))
    files.update(layouts.reoffending(reo, services, seed))
    files.update(layouts.custody(outcomes, services, population.youth[2019], seed))
    files.update(layouts.inspections(build_inspections(latent, pop[2024], seed), services, seed))
    files["truth.csv"] = truth(latent)
    return files, national_figures(pop, fte, reo, outcomes)


def _clear(out: Path) -> None:
    """Remove earlier tables from the source folders, so that no stale file
    is read as input after a change of seed or layout."""
    for source in SOURCES:
        folder = out / source
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
                    path.unlink()


def generate(out: Path = DEFAULT_OUT, seed: int = DEFAULT_SEED,
             real_dir: Path = DEFAULT_REAL_DIR) -> dict[str, int]:
    """Write the dataset under ``out``; returns {relative path: data rows}."""
    out, real_dir = resolve(out), resolve(real_dir)
    files, national = build(seed, real_dir)
    _clear(out)
    rows = {}
    for relative, frame in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        rows[relative] = len(frame)
    (out / "README.md").write_text(readme.text(seed, files, national), encoding="utf-8")
    # so that a demo folder copied beside real ones still says what it is (the lookup's names are real)
    for source in (s for s in SOURCES if s != "services"):
        (out / source / SYNTHETIC_MARKER).write_text(
            f"The tables in this folder are SYNTHETIC: generated by `python -m pipeline.demo` (seed {seed}), "
            "not published figures. See ../README.md.\n", encoding="utf-8")
    return rows
