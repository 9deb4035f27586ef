"""The demo's input files, in the layouts of the data contract's folders.

Each function returns ``{relative path: DataFrame of strings}``; the quirks
of each release (its spellings, suppression marker and threshold, number
format, header style) are set here, one release per file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.demo.indicators import OUTCOME_TYPES
from pipeline.demo.quirks import name_variants, published, split_merged

UNKNOWN_SERVICE = ("Atlantis YOT", 2022, 12)  # the one deliberately bad row
NOT_AVAILABLE = ("Powys", 2015)  # an FTE cell a release left blank ('..')
MERGED = ("Bury and Rochdale", ("Bury", "Rochdale"), 2020)  # separate to 2018-19
SCRAPE_YEAR = 2023
# the older outcome table (to 2016-17) gives one total per tier
OLDER_RELEASE_TYPES = {
    "Pre-court": "Youth caution or youth conditional caution",
    "First-tier": "Referral order or other first-tier sentence",
    "Community": "Youth rehabilitation order",
    "Custody": "Custodial sentence (DTO or Section 91)",
}


def _names(canonical: pd.Series, variants: dict[str, str]) -> pd.Series:
    return canonical.map(lambda n: variants.get(n, n))


def first_time_entrants(fte: pd.DataFrame, services: pd.DataFrame, seed: int) -> dict:
    fte = fte.sort_values(["year", "yjs_name"], kind="stable")
    old, new = fte[fte["year"] <= 2019], fte[fte["year"] >= 2020]
    old_names = name_variants(services, "fte_old", seed, ["YOT"], 0.10, {
        "Kingston-upon-Hull": "Kingston upon Hull YOT", "St. Helens": "St Helens YOT"})
    old_counts = published(old["fte_count"], "..", 5, thousands=True)
    missing = (old["yjs_name"] == NOT_AVAILABLE[0]) & (old["year"] == NOT_AVAILABLE[1])
    old_counts[missing.to_numpy()] = ".."
    old_file = pd.DataFrame({
        "YJS": _names(old["yjs_name"], old_names),
        "Period_End": old["year"].astype(str) + "-12",
        "Period_Months": "12",
        "FTE_Count": old_counts,
    })
    new_names = name_variants(services, "fte_new", seed, ["YJS", "Youth Justice Service"],
                              0.08, {"Leeds": "Leeds YJS"})
    new_file = pd.DataFrame({
        "yjs_name": _names(new["yjs_name"], new_names),
        "period_end": new["year"].astype(str) + "-12",
        "period_months": "12",
        "fte_count": published(new["fte_count"], "[c]", 10),
    })
    name, year, count = UNKNOWN_SERVICE
    at = int(np.searchsorted(new["year"].to_numpy(), year, side="right"))
    bad = pd.DataFrame([{"yjs_name": name, "period_end": f"{year}-12",
                         "period_months": "12", "fte_count": str(count)}])
    new_file = pd.concat([new_file.iloc[:at], bad, new_file.iloc[at:]], ignore_index=True)
    return {"first_time_entrants/fte_2013_2019.csv": old_file,
            "first_time_entrants/fte_2020_2025.csv": new_file}


def reoffending(reo: pd.DataFrame, services: pd.DataFrame, seed: int) -> dict:
    reo = reo.sort_values(["cohort_year", "cohort_month", "yjs_name"], kind="stable")
    files = {}
    for months, marker, below, header, styles, fixed, path in (
        (12, "*", 5, ["YJS", "Cohort end", "Cohort months", "Cohort size", "Reoffenders",
                       "Reoffences"], ["upper", "YOS"], {},
         "reoffending/reoffending_12_month_cohorts_2013_2016.csv"),
        (3, "x", 5, ["yjs_name", "cohort_end", "cohort_months", "cohort_size", "reoffenders",
                     "reoffences"], ["Youth Offending Service", "borough", "ampersand"],
         {"Greenwich": "Royal Borough of Greenwich Youth Offending Service"},
         "reoffending/reoffending_3_month_cohorts_2017_2024.csv"),
    ):
        part = reo[reo["cohort_months"] == months]
        variants = name_variants(services, f"reoffending_{months}", seed, styles, 0.08, fixed)
        # 12-month release: few reoffenders hidden; 3-month: results of small cohorts
        small = part["reoffenders"] if months == 12 else part["cohort_size"]
        hidden = ((small > 0) & (small < below)).to_numpy()
        reoffenders = published(part["reoffenders"], thousands=months == 12)
        reoffences = published(part["reoffences"], thousands=months == 12)
        reoffenders[hidden] = reoffences[hidden] = marker
        files[path] = pd.DataFrame(dict(zip(header, [
            _names(part["yjs_name"], variants),
            part["cohort_year"].astype(str) + "-" + part["cohort_month"].map("{:02d}".format),
            part["cohort_months"].astype(str),
            published(part["cohort_size"], thousands=months == 12),
            reoffenders,
            reoffences,
        ])))
    return files


def custody(outcomes: pd.DataFrame, services: pd.DataFrame, la_population: pd.Series,
            seed: int) -> dict:
    service, las, merged_from = MERGED
    codes = services.set_index("la_name").loc[list(las), "la_code"]
    pop = la_population.loc[codes.to_numpy()].to_numpy(dtype=float)
    table = split_merged(outcomes, service, dict(zip(las, pop / pop.sum())), merged_from, seed)
    order = {kind: i for i, kind in enumerate(
        [k for types in OUTCOME_TYPES.values() for k, _ in types] + ["Section 91"])}
    table = table.assign(_order=table["type"].map(order)).sort_values(
        ["fy_end", "yjs_name", "_order"], kind="stable")
    variants = name_variants(services, "custody", seed, ["ampersand"], 1.0)
    older = table[table["fy_end"] <= 2017].groupby(
        ["fy_end", "yjs_name", "tier"], sort=False, as_index=False)["count"].sum()
    older["type"] = older["tier"].map(OLDER_RELEASE_TYPES)
    files = {}
    for label, part, marker, below in (
        ("2013-14_to_2016-17", older, "-", 3),
        ("2017-18_to_2024-25", table[table["fy_end"] >= 2018], None, 0),
    ):
        files[f"custody/outcome_table_{label}.csv"] = pd.DataFrame({
            "Financial_Year": (part["fy_end"] - 1).astype(str) + "-"
            + (part["fy_end"] % 100).map("{:02d}".format),
            "YJS": _names(part["yjs_name"], variants),
            "Caution_or_sentence_tier": part["tier"],
            "Caution_or_sentence_type": part["type"],
            "Number_Cautioned_Sentenced": published(part["count"], marker, below, thousands=True),
        })
    return files


def inspections(history: pd.DataFrame, services: pd.DataFrame, seed: int) -> dict:
    scraped = (history["phase"] == "2018-2024") & (history["published"].dt.year == SCRAPE_YEAR)
    rest, scrape = history[~scraped], history[scraped]
    variants = name_variants(services, "inspections", seed,
                             ["inspection_of", "ji", "YOS", "borough"], 0.12,
                             {"York": "City of York YOT"})
    standard = pd.DataFrame({
        "yjs_name": _names(rest["yjs_name"], variants),
        "published": rest["published"].dt.strftime("%Y-%m-%d"),
        "inspection_type": rest["inspection_type"],
        "overall_rating": rest["overall_rating"],
    })
    variants = name_variants(services, "hmi_scrape", seed, ["ji", "borough", "ampersand"], 0.15)
    scrape_file = pd.DataFrame({
        "la_name": _names(scrape["yjs_name"], variants),
        "publication_date": scrape["published"].dt.strftime("%d/%m/%y"),
        "overall_rating": scrape["overall_rating"].str.replace(
            "Requires improvement", "Requires Improvement"),
        "score_%": (scrape["points"].astype(float) / 36 * 100).map("{:.2f}".format),
    })
    return {"inspections/inspections.csv": standard,
            f"inspections/hmi_scrape_{SCRAPE_YEAR}.csv": scrape_file}
