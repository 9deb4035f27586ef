"""The README of the demo folder, written with the data so that it always
describes the files next to it (row counts, national figures, spellings)."""

from __future__ import annotations

import pandas as pd

from pipeline.demo import inspections, latent, layouts

NAME_COLUMNS = ("yjs_name", "YJS", "la_name")
MARKERS = ("*", "..", "x", "[c]", "-")
NOTES = {  # file name prefix -> what the file is
    "services": "the lookup: real names, region from the police force area",
    "mye": "wide ONS layout, 2020 districts; mid-year from the file name",
    "population_long": "long layout, 2024 codes, ages 10-17",
    "fte_2013": "calendar years 2013-2019",
    "fte_2020": "calendar years 2020-2025",
    "reoffending_12": "12-month cohorts to March 2013-2016",
    "reoffending_3": "3-month cohorts, March 2017 to December 2024",
    "outcome_table_2013": "YJB `Outcome_Table`, tier totals",
    "outcome_table_2017": "YJB `Outcome_Table`, by type",
    "inspections": "every inspection but the 2023 ones",
    "hmi_scrape": "HMI Probation scrape layout",
    "truth": "not an input: the hidden truth",
}
_MERGED, _LAS, _FROM = layouts.MERGED
_BAD, _BAD_YEAR, _BAD_MONTH = layouts.UNKNOWN_SERVICE
_NA_NAME, _NA_YEAR = layouts.NOT_AVAILABLE
QUIRKS = f"""\
- **Suppression** (missing, never zero): `..` in `fte_2013_2019.csv` (counts 1-4, and
  {_NA_NAME} {_NA_YEAR}, not available); `[c]` in `fte_2020_2025.csv` (counts 1-9);
  `*` in the 12-month reoffending file (reoffenders and reoffences when reoffenders are 1-4);
  `x` in the 3-month file (reoffenders and reoffences of cohorts of 1-4 children);
  `-` in the older outcome table (counts 1-2). Zero is always printed as `0`.
- **Thousands separators** (`"1,282"`): the 12-month reoffending file, the older outcome
  table and `fte_2013_2019.csv` print counts of 1,000 or more that way.
- **Header styles**: `YJS` for `yjs_name` and `Period_End`-style capitals
  (`fte_2013_2019.csv`), `Cohort end`-style spaces (12-month reoffending).
- **Merged service**: {_MERGED} is one service in the lookup, but the outcome tables
  report {" and ".join(_LAS)} separately (under their local authority names, which are in
  `services.la_name`) up to {_FROM - 2}-{(_FROM - 1) % 100:02d}; from {_FROM - 1}-{_FROM % 100:02d}
  as one service (the merger date is invented).
- **Older release less detailed**: the outcome table to 2016-17 gives one total per tier;
  the later one gives types (Youth Caution, ..., Detention and Training Order, Section 91,
  from 2020-21 Section 250). A zero count of the rarer custody type has no row.
- **Older geography**: population files to mid-2020 use 2020 district codes, 24 of which
  were merged into 2021-2023 unitaries (Northamptonshire, Cumbria, North Yorkshire,
  Somerset); they must be carried to their 2024 successors.
- **Inspections**: old scale in lower case (`good` ... `poor`, 2012-2017, types FJI/SQS);
  the {layouts.SCRAPE_YEAR} inspections appear only in `hmi_scrape_{layouts.SCRAPE_YEAR}.csv`
  (dates `DD/MM/YY`, `Requires Improvement` capitalised, `score_%` = points out of 36),
  never twice.
- **One bad row**: `{_BAD}` ({_BAD_YEAR}-{_BAD_MONTH}, `fte_2020_2025.csv`) is no service:
  quarantine should show it.
"""


def _markdown(frame: pd.DataFrame) -> str:
    rows = [list(frame.columns), ["---"] * len(frame.columns)]
    rows += frame.astype(str).values.tolist()
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _columns(frame: pd.DataFrame) -> str:
    shown = [f"`{c}`" for c in frame.columns[:6]]
    return ", ".join(shown) + (f", ... `{frame.columns[-1]}`" if len(frame.columns) > 6 else "")


def _note(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return next((note for prefix, note in NOTES.items() if name.startswith(prefix)), "")


def _cells(files: dict) -> list[str]:
    lines = []
    for path, frame in files.items():
        if not path.startswith(("first_time_entrants/", "reoffending/", "custody/")):
            continue
        cells = frame.stack()
        found = [f"{(cells == m).sum():,} `{m}`" for m in MARKERS if (cells == m).any()]
        commas = cells.astype(str).str.fullmatch(r"\d{1,3}(,\d{3})+").sum()
        lines.append(f"  - `{path}`: {', '.join(found) or 'none suppressed'}; "
                     f"{commas} with thousands separators")
    return lines


def _variants(files: dict, canonical: set[str]) -> list[str]:
    lines = []
    for path, frame in files.items():
        column = next((c for c in NAME_COLUMNS if c in frame.columns), None)
        if column is None or path.startswith("services/"):
            continue
        names = sorted(set(frame[column]) - canonical - {layouts.UNKNOWN_SERVICE[0]})
        if names:
            shown = ", ".join(f"`{n}`" for n in names[:5])
            lines.append(f"  - `{path}` ({len(names)}): {shown}{', ...' if len(names) > 5 else ''}")
    return lines


def text(seed: int, files: dict[str, pd.DataFrame], national: pd.DataFrame) -> str:
    canonical = set(files["services/services.csv"]["yjs_name"])
    effects = "\n".join(
        f"| {name} | {e.quality:+.2f} | {e.context:+.2f} | {e.sd_persistent:.2f} "
        f"| {e.sd_period:.2f} |" for name, e in latent.EFFECTS.items())
    listing = "\n".join(
        f"| `{path}` | {len(frame):,} | {_columns(frame)} | {_note(path)} |"
        for path, frame in files.items())
    return f"""\
ALL indicator figures, populations and inspection results in this folder are SYNTHETIC (generated by `python -m pipeline.demo` with seed {seed}); only the service and local authority names are real.

# Demo data

Regenerate with `python -m pipeline.demo [--out data/demo] [--seed {seed}] [--real-dir ../shared/data/real]`
(deterministic: the same seed gives byte-identical files). The only real inputs are the
local authority to service crosswalk (2024, 318 authorities, 155 services) and the ONS
mid-2020 single-year population file, used as the base of the synthetic populations.
Each folder below is one source of the data contract; files at the top of `data/demo`
(this README, `truth.csv`) are not read by the pipeline.

| file | rows | columns | what |
|---|---:|---|---|
{listing}

## The model

Each service has a latent `quality` (standard normal, **higher = better**) and a
`context` (standard normal, deprivation-like, independent of quality). Each indicator's
rate is national x exp(effect_quality x quality + effect_context x context + persistent
service effect + fresh noise per period) (logit scale for reoffending), calibrated to the
national figures below; counts are Poisson (FTE, outcomes), cohorts Poisson, reoffenders
binomial, reoffences about 3-4 per reoffender. The persistent and per-period effects make
the rates over-dispersed.

| indicator | quality | context | sd persistent | sd per period |
|---|---:|---:|---:|---:|
{effects}

Inspections read quality noisily: score = (-quality + N(0, {inspections.RATING_NOISE_SD})) / sd, higher = worse.
2012-2017: {inspections.N_OLD} services (more likely the weaker ones), old scale by score cut points
{inspections.OLD_CUTS}. 2018-2024: every service once, points out of 36 =
{inspections.POINTS_CENTRE} - {inspections.POINTS_PER_SD} x score, rated by the published bands (0-6 Inadequate, 7-18
Requires improvement, 19-30 Good, 31-36 Outstanding); `small` for the smallest fifth.
2025-2026: {inspections.N_REINSPECTED} re-inspections, weighted towards Requires improvement and
Inadequate, all published before 2026-11-01.

`truth.csv`: `yjs_id` (slug of the name), `quality`, `context`, and each service's lasting
multiplier per indicator (rate ratio for FTE and custody, odds ratio for reoffending).

## National figures (before suppression)

{_markdown(national)}

## Quirks, as in real releases

{QUIRKS}- **Name variants** (all match the contract's normalisation):
{chr(10).join(_variants(files, canonical))}
- **Cells per file** (suppressed, with separators):
{chr(10).join(_cells(files))}
"""
