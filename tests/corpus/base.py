"""A tiny, valid data dir of nine services: every bad input of the corpus is
this dir with one file added or replaced, so each case tests one fault.

Figures are round so rates are easy to check: each local authority has
20,000 children aged 10-17 (2,500 a year of age), each service 40
first-time entrants per LA a year (200 per 100,000), 2 custodial sentences
per LA (0.1 per 1,000) and a cohort of 100 with 35 reoffenders (35%).
"""

from __future__ import annotations

from pathlib import Path

SERVICES_CSV = """la_code,la_name,parent_yot_name
E06000001,Hartlepool,Hartlepool
E08000001,Bolton,Bolton
E06000019,"Herefordshire, County of",West Mercia
E06000051,Shropshire,West Mercia
E06000065,North Yorkshire,North Yorkshire
E06000061,North Northamptonshire,Northamptonshire
E06000062,West Northamptonshire,Northamptonshire
E06000063,Cumberland,Cumberland
W06000001,Isle of Anglesey,Gwynedd and Ynys Môn
W06000002,Gwynedd,Gwynedd and Ynys Môn
E09000011,Greenwich,Greenwich
E06000010,"Kingston upon Hull, City of",Kingston-upon-Hull
"""
# service -> number of its local authorities
SERVICES = {"Hartlepool": 1, "Bolton": 1, "West Mercia": 2, "North Yorkshire": 1,
            "Northamptonshire": 2, "Cumberland": 1, "Gwynedd and Ynys Môn": 2, "Greenwich": 1,
            "Kingston-upon-Hull": 1}
PERIODS = ("2021-03", "2022-03", "2023-03")
YEARS = (2020, 2021, 2022, 2023)


def write(data_dir: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = data_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def fte_csv(per_la: int = 40, periods=PERIODS) -> str:
    rows = [f"{s},{p},12,{per_la * n}" for p in periods for s, n in SERVICES.items()]
    return "yjs_name,period_end,period_months,fte_count\n" + "\n".join(rows) + "\n"


def build(data_dir: Path) -> Path:
    """The valid base data dir; returns it."""
    write(data_dir, "services/lookup.csv", SERVICES_CSV)
    codes = [line.split(",")[0] for line in SERVICES_CSV.splitlines()[1:]]
    population = [f"{c},{y},{a},2500" for c in codes for y in YEARS for a in range(10, 18)]
    write(data_dir, "population/long.csv", "la_code,year,age,population\n" + "\n".join(population) + "\n")
    write(data_dir, "first_time_entrants/fte.csv", fte_csv())
    reo = [f"{s},{p},12,{100 * n},{35 * n},{90 * n}" for p in PERIODS for s, n in SERVICES.items()]
    write(data_dir, "reoffending/reoffending.csv",
          "yjs_name,cohort_end,cohort_months,cohort_size,reoffenders,reoffences\n" + "\n".join(reo) + "\n")
    cus = [f"{s},{p},12,{2 * n}" for p in PERIODS for s, n in SERVICES.items()]
    write(data_dir, "custody/custody.csv",
          "yjs_name,period_end,period_months,custodial_sentences\n" + "\n".join(cus) + "\n")
    write(data_dir, "inspections/inspections.csv", "yjs_name,published,overall_rating\n"
          "Bolton,2019-05-01,Good\nHartlepool,2022-01-10,Requires improvement\n")
    return data_dir
