"""National scales of the synthetic demo data, by year.

Anchor points (year -> national value) are interpolated linearly in between.
They follow the published national picture only roughly (DOMAIN.md): first-time
entrants down from about 500 to about 150 per 100,000 aged 10-17 over a decade,
about a third of a cohort reoffending, a few hundred custodial sentences a year
recently (about 1,500 in 2013-14). Every figure in the demo is synthetic.
"""

from __future__ import annotations

import numpy as np

# mid-year 10-17 population, growth per year from the real mid-2020 base
POPULATION_GROWTH_10_17 = 0.010
POPULATION_GROWTH_OTHER_AGES = 0.005

# first-time entrants per 100,000 aged 10-17, calendar year
FTE_PER_100K = {
    2013: 480, 2014: 410, 2015: 360, 2016: 320, 2017: 285, 2018: 250,
    2019: 225, 2020: 175, 2021: 148, 2022: 150, 2023: 146, 2024: 142,
    2025: 138,
}

# proven reoffending, % of the cohort, by (fractional) year the cohort ends
REOFFENDING_PCT = {
    2013.0: 36.5, 2016.0: 38.5, 2017.0: 40.0, 2019.0: 38.0,
    2020.5: 33.5, 2022.0: 32.0, 2025.0: 31.0,
}

# reoffences per reoffender
REOFFENCES_PER_REOFFENDER = {2013.0: 3.1, 2017.0: 3.8, 2025.0: 3.5}

# children entering a reoffending cohort per 100,000 aged 10-17
COHORT_PER_100K_YEAR = {2013: 800, 2014: 680, 2015: 600, 2016: 540}
COHORT_PER_100K_QUARTER = {2017.0: 120, 2020.0: 85, 2022.0: 65, 2025.0: 60}

# outcomes per 1,000 aged 10-17, by the year the financial year ends
# (2013-14 ends in 2014)
OUTCOMES_PER_1000 = {
    "Pre-court": {2014: 3.6, 2020: 1.6, 2025: 1.0},
    "First-tier": {2014: 2.4, 2020: 1.0, 2025: 0.7},
    "Community": {2014: 1.6, 2020: 0.7, 2025: 0.45},
    "Custody": {
        2014: 0.30, 2015: 0.27, 2016: 0.24, 2017: 0.21, 2018: 0.19,
        2019: 0.17, 2020: 0.15, 2021: 0.09, 2022: 0.08, 2023: 0.085,
        2024: 0.08, 2025: 0.078,
    },
}


def at(anchors: dict, t) -> np.ndarray:
    """The national value at time(s) ``t``, interpolated between anchors."""
    xs = np.array(sorted(anchors), dtype=float)
    return np.interp(np.asarray(t, dtype=float), xs, [anchors[x] for x in sorted(anchors)])
