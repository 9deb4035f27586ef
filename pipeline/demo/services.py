"""The real services lookup: 318 local authorities (2024 codes), 155 services.

Read from the third-party crosswalk in ``shared/data/real`` (column
``parent_yot_name`` is the service). The English region comes from the police
force area, which lies within one region for every force; W-codes are Wales.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

CROSSWALK = "la_to_yjs_crosswalk_2024.csv"

_REGION_FORCES = {
    "North East": ["Cleveland", "Durham", "Northumbria"],
    "North West": ["Cheshire", "Cumbria", "Greater Manchester", "Lancashire", "Merseyside"],
    "Yorkshire and The Humber": [
        "Humberside", "North Yorkshire", "South Yorkshire", "West Yorkshire",
    ],
    "East Midlands": [
        "Derbyshire", "Leicestershire", "Lincolnshire", "Northamptonshire", "Nottinghamshire",
    ],
    "West Midlands": ["Staffordshire", "Warwickshire", "West Mercia", "West Midlands"],
    "East of England": [
        "Bedfordshire", "Cambridgeshire", "Essex", "Hertfordshire", "Norfolk", "Suffolk",
    ],
    "London": ["London"],
    "South East": ["Hampshire", "Kent", "Surrey", "Sussex", "Thames Valley"],
    "South West": [
        "Avon and Somerset", "Devon and Cornwall", "Dorset", "Gloucestershire", "Wiltshire",
    ],
    "Wales": ["Dyfed Powys", "Gwent", "North Wales", "South Wales"],
}
FORCE_REGION = {force: region for region, forces in _REGION_FORCES.items() for force in forces}


def slug(name: str) -> str:
    """``yjs_id``-style slug: lowercase, accents stripped, runs of other
    characters turned into one ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def load_services(real_dir: Path) -> pd.DataFrame:
    """One row per local authority: la_code, la_name, yjs_name, region, country."""
    path = Path(real_dir) / CROSSWALK
    crosswalk = pd.read_csv(path, dtype=str)
    unknown = sorted(set(crosswalk["parent_force_name"]) - set(FORCE_REGION))
    if unknown:
        raise ValueError(f"{path}: police force(s) with no region: {unknown}")
    services = pd.DataFrame(
        {
            "la_code": crosswalk["la_code"],
            "la_name": crosswalk["la_name"],
            "yjs_name": crosswalk["parent_yot_name"],
            "region": crosswalk["parent_force_name"].map(FORCE_REGION),
            "country": crosswalk["la_code"].str[0].map({"E": "England", "W": "Wales"}),
        }
    )
    return services.sort_values("la_code", kind="stable").reset_index(drop=True)
