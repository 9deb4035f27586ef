"""The three national youth justice indicators, as data.

One row per indicator keeps per-indicator code out of the pipeline: the panel,
the statistics and the reasons all loop over ``INDICATORS``. Lower is better
for all three.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Indicator:
    key: str  # the `indicator` value in indicator_values
    label: str  # plain-English name used in reasons
    source: str  # ingest asset / input folder
    family: str  # "poisson" (count per population) or "binomial" (proportion)
    multiplier: float  # rate = numerator / denominator * multiplier
    unit: str  # how the rate is written in reasons
    decimals: int  # decimals in reasons


INDICATORS: tuple[Indicator, ...] = (
    Indicator("fte", "first-time entrants", "first_time_entrants", "poisson", 100_000,
              "per 100,000 aged 10-17", 0),
    Indicator("reoffending", "proven reoffending", "reoffending", "binomial", 100, "%", 1),
    Indicator("custody", "custodial sentences", "custody", "poisson", 1_000,
              "per 1,000 aged 10-17", 2),
)

BY_KEY = {ind.key: ind for ind in INDICATORS}


PER_PERIOD = {1: " a month", 3: " a quarter", 6: " a half-year"}


def format_rate(key: str, rate: float, with_unit: bool = True, months: int = 12) -> str:
    """A rate as analysts write it: '41.2%', '212 per 100,000 aged 10-17'
    (or '212' without the unit, for a second figure beside the first); none
    at all is '0 per 1,000 aged 10-17'. A rate per population of periods
    other than years (``months``) says so: '67 per 100,000 aged 10-17 a
    quarter', which is not a year's 67."""
    ind = BY_KEY[key]
    value = "0" if rate == 0 else f"{rate:,.{ind.decimals}f}"  # "0.00" reads as a figure not known
    if ind.unit == "%":
        return f"{value}%"
    if not with_unit:
        return value
    per = "" if months == 12 else PER_PERIOD.get(months, f" per {months} months")
    return f"{value} {ind.unit}{per}"
