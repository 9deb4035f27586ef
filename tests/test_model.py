"""The indicator panel and the per-service evidence, without Dagster."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.indicators import BY_KEY
from pipeline.model import panel, scores, stats
from tests import factories as f

AS_OF = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def world():
    svc = f.services(30)
    pop = f.population(svc)
    quality = np.zeros(30)
    quality[0], quality[1] = 3.0, -3.0  # svc-00 much worse, svc-01 much better
    tables = f.indicator_tables(svc, pop, quality)
    values, disp = panel.build_panel(tables, svc, pop, AS_OF, lag_months=3)
    return svc, pop, tables, values, disp


def test_rates_expected_and_national_follow_from_the_counts(world):
    _, _, _, values, _ = world
    fte = values[(values["indicator"] == "fte") & (values["period_end"] == "2023-12-31")]
    national = fte["numerator"].sum() / fte["denominator"].sum()
    np.testing.assert_allclose(fte["rate"], fte["numerator"] / fte["denominator"] * 100_000)
    np.testing.assert_allclose(fte["expected"], national * fte["denominator"])
    np.testing.assert_allclose(fte["national_rate"], national * 100_000)
    reo = values[values["indicator"] == "reoffending"]
    assert reo["rate"].between(0, 100).all()


def test_as_of_cuts_periods_after_the_publication_lag(world):
    _, _, _, values, _ = world
    # as of 2025-06-01 with a 3-month lag: nothing ending after 2025-03-01
    assert values["period_end"].max() <= pd.Timestamp("2025-03-01")
    assert values.loc[values["indicator"] == "fte", "period_end"].max() == pd.Timestamp("2024-12-31")


def test_every_band_agrees_with_its_z(world):
    _, _, _, values, _ = world
    z, band = values["z_score"], values["funnel_band"]
    assert (band[z > 3.090232] == "high_99.8").all()
    assert (band[(z.abs() <= 1.959964)] == "within").all()
    assert (band[z < -3.090232] == "low_99.8").all()


def test_suppressed_cells_stay_missing(world):
    svc, pop, tables, _, _ = world
    t = {k: v.copy() for k, v in tables.items()}
    fte = t["first_time_entrants"]
    hit = (fte["yjs_id"] == "svc-05") & (fte["period_end"] == "2023-12-31")
    fte.loc[hit, ["fte_count", "suppressed"]] = [np.nan, True]
    values, _ = panel.build_panel(t, svc, pop, AS_OF, 3)
    row = values[(values["yjs_id"] == "svc-05") & (values["indicator"] == "fte")
                 & (values["period_end"] == "2023-12-31")].iloc[0]
    assert row["suppressed"] and np.isnan(row["numerator"]) and np.isnan(row["z_score"])
    assert row["funnel_band"] is None
    # the national rate ignores the suppressed cell rather than counting it as zero
    others = values[(values["indicator"] == "fte") & (values["period_end"] == "2023-12-31")
                    & ~values["suppressed"]]
    assert row["national_rate"] == pytest.approx(
        others["numerator"].sum() / others["denominator"].sum() * 100_000)


def test_an_indicator_suppressed_everywhere_gives_no_evidence_and_no_warning(world):
    import warnings

    svc, pop, tables, _, _ = world
    t = {k: v.copy() for k, v in tables.items()}
    t["first_time_entrants"] = t["first_time_entrants"].assign(fte_count=np.nan, suppressed=True)
    values, _ = panel.build_panel(t, svc, pop, AS_OF, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" reached the analyst's console
        ev = scores.indicator_evidence(values)
    assert set(ev["indicator"]) == {"reoffending", "custody"} and ev["e"].notna().all()
    assert ev["yjs_id"].nunique() == 30


def test_a_merged_service_reported_in_parts_is_summed():
    svc = f.services(3)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.zeros(3))
    fte = tables["first_time_entrants"]
    part = fte[fte["yjs_id"] == "svc-00"].assign(fte_count=5.0)
    tables["first_time_entrants"] = pd.concat([fte, part], ignore_index=True)
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, 3)
    row = values[(values["yjs_id"] == "svc-00") & (values["indicator"] == "fte")
                 & (values["period_end"] == "2022-12-31")]
    original = fte[(fte["yjs_id"] == "svc-00") & (fte["period_end"] == "2022-12-31")]["fte_count"]
    assert len(row) == 1 and row["numerator"].iloc[0] == original.iloc[0] + 5


def test_population_falls_back_to_the_latest_year():
    svc = f.services(2)
    pop = f.population(svc, years=[2020, 2021])
    out = panel.service_population(svc, pop, [2019, 2024])
    latest = pop[pop["year"] == 2021].set_index("la_code")["population_10_17"]
    got = out[out["year"] == 2024].set_index("yjs_id")["population_10_17"]
    assert got["svc-00"] == latest.iloc[0]


def test_a_service_with_a_local_authority_without_population_has_none():
    # two services of two LAs each; one LA of svc-01 has no population (an upper-tier file alone)
    svc = pd.DataFrame({"la_code": ["E06000001", "E06000002", "E06000003", "E07000004"],
                        "yjs_id": ["svc-00", "svc-00", "svc-01", "svc-01"]})
    pop = pd.DataFrame({"la_code": ["E06000001", "E06000002", "E06000003"], "year": [2021] * 3,
                        "population_10_17": [1000, 2000, 4000]})
    out = panel.service_population(svc, pop, [2021])
    assert out.set_index("yjs_id")["population_10_17"].to_dict() == {"svc-00": 3000}  # not svc-01: 4000
    table = panel.services_table(svc.assign(yjs_name=svc["yjs_id"], country="England", region=None), pop)
    assert table["population_10_17"].isna().tolist() == [False, True]


def test_dispersion_published_per_indicator_and_period(world):
    _, _, _, _, disp = world
    assert set(disp["indicator"]) == {"fte", "reoffending", "custody"}
    assert (disp["phi"] > 0).all() and (disp["tau2"] >= 0).all()


def test_evidence_finds_the_planted_outliers(world):
    _, _, _, values, _ = world
    ev = scores.indicator_evidence(values)
    for ind in ("fte", "reoffending", "custody"):
        e = ev[ev["indicator"] == ind].set_index("yjs_id")["e"]
        assert e.idxmax() == "svc-00" and e.idxmin() == "svc-01", ind
    assert (ev["e_sd"] >= 0).all()
    fte = ev[ev["indicator"] == "fte"]
    assert (fte["window_months"] == 36).all()


def _pooled_custody(counts_of_small: list[float], expected_of_small: float) -> pd.DataFrame:
    """A hand-made custody panel: 39 services at their expected 10 a year
    and one small service, svc-small, over three annual periods."""
    rows = []
    for year in (2022, 2023, 2024):
        for i in range(39):
            rows.append((f"svc-{i:02d}", 10.0, 10.0))
        rows.append(("svc-small", counts_of_small[year - 2022], expected_of_small))
    panel_rows = pd.DataFrame(
        [(yjs, "custody", pd.Timestamp(year, 3, 31), 12, o, e / 0.0001, e)
         for (yjs, o, e), year in zip(rows, np.repeat((2022, 2023, 2024), 40))],
        columns=["yjs_id", "indicator", "period_end", "period_months", "numerator", "denominator",
                 "expected"])
    return scores.indicator_evidence(panel_rows).set_index("yjs_id")


def test_a_pool_of_no_events_is_judged_exactly_not_by_the_normal_approximation():
    ev = _pooled_custody([0, 0, 0], expected_of_small=1.0)
    small = ev.loc["svc-small"]
    # weights 1, 1/2, 1/4 by age: E_eff = 1.75^2 / 1.3125 = 2.33 expected, 0 seen
    e_eff = 1.75**2 / 1.3125
    assert small["z"] == pytest.approx(stats.exact_z(0, e_eff, None, "poisson")[()])
    assert -2 * np.sqrt(e_eff) < -stats.Z95 < small["z"] < 0  # the approximation said low_95
    assert small["band"] == "within"


def test_a_pool_of_many_events_is_judged_as_the_normal_approximation_nearly_is():
    ev = _pooled_custody([100, 100, 100], expected_of_small=80.0)
    e_eff, o_eff = 80 * 1.75**2 / 1.3125, 100 * 1.75**2 / 1.3125
    approx = 2 * (np.sqrt(o_eff / e_eff) - 1) * np.sqrt(e_eff)  # the square-root scale's z, 3.23
    assert ev.loc["svc-small", "z"] == pytest.approx(approx, abs=0.1)
    assert ev.loc["svc-small", "band"] == "high_99.8"


def test_months_since_inspection_counts_whole_months():
    m = scores.months_between(pd.Series(pd.to_datetime(["2024-06-15", "2024-06-01"])),
                              dt.date(2025, 6, 14))
    assert list(m) == [11, 12]


def test_shrunk_rates_lie_between_the_raw_rate_and_national(world):
    _, _, _, values, _ = world
    ev = scores.indicator_evidence(values)
    lo = np.minimum(ev["rate"], ev["national_rate"]) - 1e-9
    hi = np.maximum(ev["rate"], ev["national_rate"]) + 1e-9
    assert ev["shrunk_rate"].between(lo, hi).all()
    assert (ev["shrunk_rate_low"] <= ev["shrunk_rate"] + 1e-12).all()
    assert (ev["shrunk_rate"] <= ev["shrunk_rate_high"] + 1e-12).all()
    worst = ev[(ev["indicator"] == "reoffending") & (ev["yjs_id"] == "svc-00")].iloc[0]
    assert worst["shrunk_rate_low"] > worst["national_rate"]


def test_trend_slope_and_rising_run():
    # relative rate O/E over 4 yearly periods (k=3 oldest ... k=0 latest)
    key = np.repeat([0, 1], 4)  # services a and b
    t = scores._trend_sums(key, np.array([3, 2, 1, 0] * 2), np.full(8, 12), np.array(
        [400, 300, 500, 600, 400, 440, 480, 520], float), np.full(8, 400.0), n_keys=2)
    t = pd.DataFrame(t, index=["a", "b"])
    assert t.loc["a", "rising_periods"] == 2 and t.loc["b", "rising_periods"] == 3
    # b rises ~9% a year: log-slope about 0.087; a's scatter about its line
    # (5 times counting noise) widens the error of both, a window's services
    # sharing one dispersion
    assert t.loc["b", "trend_slope"] == pytest.approx(0.087, abs=0.01)
    assert t.loc["b", "trend_z"] == pytest.approx(0.0875 * np.sqrt(5 * 400) / np.sqrt(
        _rss(t.loc["a", "trend_slope"], [400, 300, 500, 600]) / 4), rel=0.05)


def _rss(slope, counts, expected=400.0):
    """Residual sum of squares, weights E, of log((O+0.5)/(E+0.5)) about its weighted line."""
    t, lr = np.array([-3.0, -2, -1, 0]), np.log((np.array(counts) + 0.5) / (expected + 0.5))
    return float((expected * (lr - lr.mean() - slope * (t - t.mean())) ** 2).sum())


def _flat_trends(n_services: int, noise_sd: float, seed: int = 11) -> np.ndarray:
    """trend z of services whose true rate does not move, over 3 yearly
    periods of about 400 expected, with a fresh log-normal effect per period
    of ``noise_sd`` on top of Poisson counting."""
    rng = np.random.default_rng(seed)
    e = np.full(3 * n_services, 400.0)
    o = rng.poisson(e * np.exp(rng.normal(0, noise_sd, e.size))).astype(float)
    key, k = np.repeat(np.arange(n_services), 3), np.tile([2, 1, 0], n_services)
    return scores._trend_sums(key, k, np.full(e.size, 12), o, e, n_services, per_window=n_services)["trend_z"]


@pytest.mark.parametrize("noise_sd", [0.0, 0.15])
def test_a_flat_rate_seldom_has_a_significant_trend(noise_sd):
    # 400 services without a trend: about 5% beyond +-1.96, counting noise
    # alone or with periods scattered 3.2 times more (sd) than it (Poisson's
    # error alone gave 54% on the latter, its z's sd 3.3)
    z = _flat_trends(400, noise_sd)
    assert 0.02 < np.mean(np.abs(z) > 1.96) < 0.09
    assert 0.8 < np.std(z) < 1.25


def test_a_real_trend_is_still_found_among_flat_ones():
    rng = np.random.default_rng(5)
    e = np.full(300, 400.0)
    rise = np.r_[np.full(10, 0.25), np.zeros(90)]  # 10 services rising 25% a year, 90 flat
    k = np.tile([2, 1, 0], 100)
    o = rng.poisson(e * np.exp(-np.repeat(rise, 3) * k + rng.normal(0, 0.1, 300))).astype(float)
    z = scores._trend_sums(np.repeat(np.arange(100), 3), k, np.full(300, 12), o, e, 100, 100)["trend_z"]
    assert (z[:10] > 1.96).mean() >= 0.8 and (z[10:] > 1.96).mean() < 0.1


def test_a_counts_trend_error_is_never_below_counting_noise():
    """Counts lying closer to their trend lines than Poisson noise would put them (a pooled dispersion
    well under 1) had narrowed the trend's error, a trend of z -1.2 reported as -4.6: for a count the
    trend z is at most the Poisson one."""
    svc = f.services(6)
    pop = pd.DataFrame([(code, y, 10_000) for code in svc["la_code"] for y in range(2020, 2025)],
                       columns=["la_code", "year", "population_10_17"])
    counts = {"svc-00": [150, 146, 142, 139, 135]}  # a smooth gentle fall; the others flat at 150
    fte = pd.DataFrame([(i, i, pd.Timestamp(f"{y}-12-31"), 12, float(counts.get(i, [150] * 5)[j]), False)
                        for i in svc["yjs_id"] for j, y in enumerate(range(2020, 2025))],
                       columns=["yjs_id", "yjs_name", "period_end", "period_months", "fte_count", "suppressed"])
    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])
    values, _ = panel.build_panel({"first_time_entrants": fte, "custody": empty.assign(custodial_sentences=[]),
                                   "reoffending": empty.assign(cohort_end=[], cohort_months=[], cohort_size=[],
                                                               reoffenders=[], reoffences=[])},
                                  svc, pop, dt.date(2026, 11, 1), 3)
    ev = scores.indicator_evidence(values).set_index("yjs_id")
    rows = values[(values["indicator"] == "fte") & (values["yjs_id"] == "svc-00")].sort_values("period_end")
    o, e = rows["numerator"].to_numpy()[-3:], rows["expected"].to_numpy()[-3:]  # the 3-year window
    t, lr = np.arange(-2.0, 1.0), np.log((o + 0.5) / (e + 0.5))  # years before the latest, as the slope's
    sxx = (e * (t - np.average(t, weights=e)) ** 2).sum()
    slope = (e * (t - np.average(t, weights=e)) * lr).sum() / sxx
    assert ev.loc["svc-00", "trend_slope"] == pytest.approx(slope)
    assert ev.loc["svc-00", "trend_z"] == pytest.approx(slope * np.sqrt(sxx))  # the Poisson z, not more
    assert -1.96 < ev.loc["svc-00", "trend_z"] < 0  # falling, not significantly (it had been z -25)


def test_a_newer_period_of_another_length_does_not_set_aside_years_of_figures():
    """A first quarter after years of annual figures, for some services only, had become the window:
    one period each for them, nothing for the others; the length whose window covers the most services
    is pooled (the quarters once they cover as many, and have as many figures)."""
    svc = f.services(5)
    pop = pd.DataFrame([(code, y, 10_000) for code in svc["la_code"] for y in range(2020, 2027)],
                       columns=["la_code", "year", "population_10_17"])
    annual = [(i, i, pd.Timestamp(f"{y}-12-31"), 12, 20.0 + j, False) for j, i in enumerate(svc["yjs_id"])
              for y in range(2021, 2026)]

    def quarters(n, services=4):
        ends = pd.date_range("2026-03-31", periods=n, freq="QE")
        return [(i, i, end, 3, 5.0, False) for i in svc["yjs_id"][:services] for end in ends]

    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])

    def evidence(rows):
        fte = pd.DataFrame(rows, columns=["yjs_id", "yjs_name", "period_end", "period_months", "fte_count",
                                          "suppressed"])
        values, _ = panel.build_panel({"first_time_entrants": fte, "custody": empty.assign(custodial_sentences=[]),
                                       "reoffending": empty.assign(cohort_end=[], cohort_months=[], cohort_size=[],
                                                                   reoffenders=[], reoffences=[])},
                                      svc, pop, dt.date(2027, 12, 1), 3)
        return scores.indicator_evidence(values).set_index("yjs_id")

    ev = evidence(annual + quarters(1))
    assert len(ev) == 5 and (ev["period_months"] == 12).all() and (ev["periods_used"] == 3).all()
    assert (ev["window_end"] == pd.Timestamp("2025-12-31")).all()
    ev = evidence(annual + quarters(4))  # 4 quarters each for 4 services: 16 figures against 15 annual
    assert len(ev) == 5 and (ev["period_months"] == 12).all()  # the years cover every service (it had
    # been the quarters, by their figures, and svc-04 had none)
    ev = evidence(annual + quarters(4, services=5))  # every service: 20 quarters against 15 years
    assert (ev["period_months"] == 3).all() and (ev["periods_used"] == 4).all() and len(ev) == 5
    # annual figures that stopped a whole window before the quarters' latest are not taken, however many
    old = [(i, i, pd.Timestamp(f"{y}-12-31"), 12, 20.0, False) for i in svc["yjs_id"] for y in range(2016, 2021)]
    ev = evidence(old + quarters(2))  # 25 annual figures to 2020, 8 quarters in 2026
    assert (ev["period_months"] == 3).all() and (ev["window_end"] == pd.Timestamp("2026-06-30")).all()


def _first_time_entrants_only(fte: pd.DataFrame, svc: pd.DataFrame, pop: pd.DataFrame, as_of: dt.date):
    """``indicator_values`` of a panel of first-time entrants alone (the other indicators empty)."""
    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])
    values, _ = panel.build_panel({"first_time_entrants": fte, "custody": empty.assign(custodial_sentences=[]),
                                   "reoffending": empty.assign(cohort_end=[], cohort_months=[], cohort_size=[],
                                                               reoffenders=[], reoffences=[])},
                                  svc, pop, as_of, 3)
    return values


def test_a_newer_year_ending_in_another_month_is_pooled_with_the_years_before_it():
    """A year ending March 2026 for every service after calendar years had become the whole window
    (one period, no trend): the years before it were taken only a whole number of years back from
    March. The window takes, back from the latest, each latest period ending before the next starts;
    its weights halve every 12 months as they are back (15 and 27 months). One service's years ending
    in June are not compared with national, and do not make the window follow them."""
    svc = f.services(6)
    pop = pd.DataFrame([(code, y, 10_000) for code in svc["la_code"] for y in range(2020, 2027)],
                       columns=["la_code", "year", "population_10_17"])
    rng = np.random.default_rng(3)
    rows = [(i, i, pd.Timestamp(f"{y}-12-31"), 12, float(rng.poisson(20 + 4 * j)), False)
            for j, i in enumerate(svc["yjs_id"][:5]) for y in range(2020, 2026)]
    rows += [("svc-05", "svc-05", pd.Timestamp(f"{y}-06-30"), 12, 30.0, False) for y in range(2020, 2026)]
    rows += [(i, i, pd.Timestamp("2026-03-31"), 12, float(rng.poisson(25)), False) for i in svc["yjs_id"][:5]]
    fte = pd.DataFrame(rows, columns=["yjs_id", "yjs_name", "period_end", "period_months", "fte_count",
                                      "suppressed"])
    values = _first_time_entrants_only(fte, svc, pop, dt.date(2026, 8, 1))
    ev = scores.indicator_evidence(values).set_index("yjs_id")
    assert sorted(ev.index) == [f"svc-0{j}" for j in range(5)]  # svc-05's Junes: no national to compare with
    assert (ev["periods_used"] == 3).all() and (ev["window_end"] == pd.Timestamp("2026-03-31")).all()
    assert ev["trend_slope"].notna().all()
    own = values[(values["yjs_id"] == "svc-02")].set_index("period_end")
    ends = pd.to_datetime(["2026-03-31", "2024-12-31", "2023-12-31"])  # 2025 overlaps the year to March 2026
    w = 0.5 ** (np.array([0, 15, 27]) / 12)
    o, n = own.loc[ends, "numerator"].to_numpy(), own.loc[ends, "denominator"].to_numpy()
    assert ev.loc["svc-02", "rate"] == pytest.approx((w * o).sum() / (w * n).sum() * 100_000)
    # a year ending in March that three services in five report is not taken over everyone's calendar
    # year: the others had lost their 2025 (pooled on 2024 and 2023, "latest Dec 2024")
    fewer = fte[~((fte["period_end"] == pd.Timestamp("2026-03-31")) & fte["yjs_id"].isin(["svc-03", "svc-04"]))]
    ev = scores.indicator_evidence(_first_time_entrants_only(fewer, svc, pop, dt.date(2026, 8, 1))).set_index(
        "yjs_id")
    assert len(ev) == 5 and (ev["window_end"] == pd.Timestamp("2025-12-31")).all()
    assert (ev["periods_used"] == 3).all() and (ev["last_period_end"] == pd.Timestamp("2025-12-31")).all()


def test_which_periods_have_a_national_rate_depends_on_no_later_period():
    """Early years that fewer services reported (a third of them in 2014-15) had no national rate in a
    refresh of 2025, set against the later years' coverage, while a refresh of 2017 compared them:
    the back-test's month 2017 was not what an analyst saw then. A period needs half the services of
    the best-covered period up to it (and two), so the earlier panel is the later one cut."""
    svc = f.services(30)
    pop = f.population(svc, years=range(2014, 2025))
    tables = f.indicator_tables(svc, pop, np.zeros(30), years=range(2014, 2025))
    fte = tables["first_time_entrants"]
    early = (fte["period_end"].dt.year <= 2015) & (fte["yjs_id"] > "svc-09")
    tables["first_time_entrants"] = fte[~early]
    later, _ = panel.build_panel(tables, svc, pop, dt.date(2025, 7, 1), 3)
    then, _ = panel.build_panel(tables, svc, pop, dt.date(2017, 7, 1), 3)
    cut = later[later["period_end"] <= then["period_end"].max()].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut, then.reset_index(drop=True))
    fte_2014 = then[(then["indicator"] == "fte") & (then["period_end"].dt.year == 2014)]
    assert len(fte_2014) == 10 and fte_2014["national_rate"].notna().all()  # the best covered by then
    # a first period one service reports has no national rate: it would be its own
    lone = pd.concat([tables["first_time_entrants"].iloc[:1].assign(period_end=pd.Timestamp("2013-06-30")),
                      tables["first_time_entrants"]], ignore_index=True)
    values, _ = panel.build_panel({**tables, "first_time_entrants": lone}, svc,
                                  f.population(svc, years=range(2013, 2025)), dt.date(2025, 7, 1), 3)
    first = values[(values["indicator"] == "fte") & (values["period_end"] == pd.Timestamp("2013-06-30"))]
    assert len(first) == 1 and first["rate"].notna().all() and first["national_rate"].isna().all()


def test_evidence_at_each_cut_is_the_evidence_of_the_panel_cut_there(world):
    _, _, _, values, _ = world
    cuts = [pd.Timestamp("2021-06-30"), pd.Timestamp("2023-12-31"), values["period_end"].max()]
    stacked = scores.evidence_at_cuts(values, {key: cuts for key in ("fte", "reoffending", "custody")})
    assert set(stacked["cut"]) == set(cuts)
    for cut in cuts:
        direct = scores.indicator_evidence(values[values["period_end"] <= cut])
        got = stacked[stacked["cut"] == cut].drop(columns="cut").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, direct)


def test_the_history_of_every_month_is_the_backward_as_of_join_by_service():
    """history_by_month finds each month's last inspection by one search; it
    is pandas' backward as-of join by service, same-day ties included."""
    rng = np.random.default_rng(4)
    dates = pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 2900, 60), "D")
    insp = f.inspections([(s, str(d.date()), f"r{i}", int(r)) for i, (s, d, r) in enumerate(zip(
        rng.choice(list("pqrstu"), 60), dates, rng.integers(1, 5, 60)))])
    insp = pd.concat([insp, insp.iloc[:6].assign(overall_rating="tie")], ignore_index=True)  # same day
    months = pd.date_range("2017-01-01", "2024-01-01", freq="MS")
    got = scores.history_by_month(insp, months)
    seen = insp.sort_values(["yjs_id", "published"])
    seen["n_inspections"] = seen.groupby("yjs_id").cumcount() + 1
    grid = pd.MultiIndex.from_product([months, sorted(insp["yjs_id"].unique())],
                                      names=["as_of", "yjs_id"]).to_frame(index=False)
    expect = pd.merge_asof(grid, seen.sort_values("published", kind="stable"), left_on="as_of",
                           right_on="published", by="yjs_id", direction="backward")
    expect = expect.dropna(subset=["published"])
    assert got["yjs_id"].tolist() == expect["yjs_id"].tolist()
    assert got["last_rating"].tolist() == expect["overall_rating"].tolist()
    assert got["n_inspections"].tolist() == expect["n_inspections"].tolist()
    np.testing.assert_array_equal(got["last_published"], expect["published"])


def test_the_history_of_every_month_is_the_last_inspection_by_then():
    insp = f.inspections([("a", "2020-06-20", "Good", 2), ("a", "2021-03-01", "Inadequate", 4),
                          ("a", "2021-03-01", "Requires improvement", 3), ("b", "2022-05-02", "Good", 2)])
    months = pd.date_range("2020-01-01", "2023-01-01", freq="MS")
    by_month = scores.history_by_month(insp, months)
    for month in months:
        seen = insp[pd.to_datetime(insp["published"]) <= month]
        got = by_month[by_month["as_of"] == month].set_index("yjs_id")
        assert sorted(got.index) == sorted(seen["yjs_id"].unique())
        for yjs, rows in seen.groupby("yjs_id"):
            last = rows.iloc[-1]  # same-day ties: the later row in the file
            assert got.loc[yjs, "last_rating"] == last["overall_rating"]
            assert got.loc[yjs, "n_inspections"] == len(rows)
            assert got.loc[yjs, "months_since_inspection"] == scores.months_between(
                pd.Series([last["published"]]), month).iloc[0]
    assert by_month.loc[by_month["as_of"] == "2021-03-01", "last_rating"].tolist() == ["Requires improvement"]


def test_service_population_on_its_grid():
    # LA 1 has 2020 twice (summed) and no 2021 (its latest, 2020, stands in); a gap makes figures float
    svc = pd.DataFrame({"la_code": ["E06000002", "E06000001", "E06000001"],
                        "yjs_id": ["svc-b", "svc-b", "svc-b"]})  # an LA listed twice counts once
    pop = pd.DataFrame({"la_code": ["E06000001", "E06000001", "E06000002", "E06000002"],
                        "year": [2020, 2020, 2020, 2021], "population_10_17": [100, 50, 10, 20]})
    out = panel.service_population(svc, pop, [2021])
    assert out.to_dict("list") == {"yjs_id": ["svc-b", "svc-b"], "year": [2020, 2021],
                                   "population_10_17": [160.0, 170.0]}
    assert out["population_10_17"].dtype == "float64"
    full = panel.service_population(svc, pop[pop["la_code"] == "E06000002"].assign(la_code="E06000001"), [2020])
    assert full["population_10_17"].dtype == "int64"  # no gaps: the contract's type


def test_services_table_says_the_year_each_services_population_is_of():
    # a: its LAs' latest is 2022; b: 2020 only (a Welsh LA missing from a later English file);
    # c: one LA of 2022, one of 2020 (a figure partly of 2020); d: an LA with no population at all
    svc = pd.DataFrame({"la_code": ["E06000001", "W06000015", "E06000002", "W06000016", "E06000003", "E06000009"],
                        "yjs_id": ["a", "b", "c", "c", "d", "d"]})
    pop = pd.DataFrame({"la_code": ["E06000001", "E06000001", "W06000015", "E06000002", "W06000016", "E06000003"],
                        "year": [2020, 2022, 2020, 2022, 2020, 2022],
                        "population_10_17": [900, 1000, 2000, 3000, 4000, 5000]})
    table = panel.services_table(svc.assign(yjs_name=svc["yjs_id"], country=None, region=None), pop)
    assert table["population_10_17"].tolist() == [1000, 2000, 7000, pd.NA]
    assert table["population_year"].tolist() == [2022, 2020, 2020, pd.NA]


def test_services_table_shows_the_population_as_of_the_lists_date():
    # a list as of 2014 had been shown every service's latest (2025) population
    svc = pd.DataFrame({"la_code": ["E06000001", "E06000002", "E06000003"], "yjs_id": ["a", "a", "b"],
                        "yjs_name": ["A", "A", "B"], "country": None, "region": None})
    pop = pd.DataFrame({"la_code": ["E06000001"] * 3 + ["E06000002"] * 2 + ["E06000003"],
                        "year": [2013, 2014, 2025, 2015, 2025, 2025],
                        "population_10_17": [100, 110, 190, 200, 290, 500]})
    as_of = {when: panel.services_table(svc, pop, when)[["population_10_17", "population_year"]].values.tolist()
             for when in (None, dt.date(2025, 6, 30), dt.date(2014, 7, 1), dt.date(2010, 1, 1),
                          dt.date(2025, 6, 29), dt.date(2015, 1, 15))}
    assert as_of[None] == as_of[dt.date(2025, 6, 30)] == [[480, 2025], [500, 2025]]
    # 2014: a's first LA its 2014 figure, its second none that early (its earliest, 2015); b none (its 2025)
    assert as_of[dt.date(2014, 7, 1)] == [[310, 2014], [500, 2025]]
    assert as_of[dt.date(2010, 1, 1)] == [[300, 2013], [500, 2025]]
    # an estimate is of 30 June of its year: a list as of 29 June 2025, or 15 January 2015, shows none dated
    # after it (mid-2025's had been shown as of any day of 2025)
    assert as_of[dt.date(2025, 6, 29)] == [[310, 2014], [500, 2025]]
    assert as_of[dt.date(2015, 1, 15)] == [[310, 2014], [500, 2025]]


def test_a_rates_denominator_is_no_estimate_published_after_the_lists_date():
    """A period with no population of its own year took each area's latest year, even one after the
    as-of date: adding a later estimate rewrote past lists, and a back-test month's rates were not
    those of a list as of that month. It takes the latest year before it, else the earliest."""
    svc = f.services(3)
    pop = pd.DataFrame([(code, y, n) for code in svc["la_code"]
                        for y, n in ((2016, 5_000), (2020, 10_000), (2022, 20_000))],
                       columns=["la_code", "year", "population_10_17"])
    fte = pd.DataFrame([(i, i, pd.Timestamp(f"{y}-12-31"), 12, 50.0, False) for i in svc["yjs_id"]
                        for y in range(2015, 2025)],
                       columns=["yjs_id", "yjs_name", "period_end", "period_months", "fte_count", "suppressed"])
    empty = pd.DataFrame(columns=["yjs_id", "yjs_name", "period_end", "period_months", "suppressed"])
    tables = {"first_time_entrants": fte, "custody": empty.assign(custodial_sentences=[]),
              "reoffending": empty.assign(cohort_end=[], cohort_months=[], cohort_size=[], reoffenders=[],
                                          reoffences=[])}

    def denominators(as_of):
        values, _ = panel.build_panel(tables, svc, pop, as_of, 3)
        return values.groupby(values["period_end"].dt.year)["denominator"].unique().map(list).to_dict()

    latest = denominators(dt.date(2025, 7, 1))
    assert latest == {2015: [5_000], 2016: [5_000], 2017: [5_000], 2018: [5_000], 2019: [5_000],
                      2020: [10_000], 2021: [10_000], 2022: [20_000], 2023: [20_000], 2024: [20_000]}
    # a list as of 2021 (no 2022 estimate then) has the same rates for the periods it sees
    assert denominators(dt.date(2021, 7, 1)) == {y: d for y, d in latest.items() if y <= 2020}


def test_population_as_of_takes_the_latest_year_up_to_then_else_the_earliest():
    pop = pd.DataFrame({"la_code": ["A", "A", "A", "B", "B", None],
                        "year": [2019, 2020, 2022, 2021, 2023, 2020],
                        "population_10_17": [1, 2, 3, 4, 5, 6]})
    assert panel.population_as_of(pop, 2020)["population_10_17"].tolist() == [2, 4]
    assert panel.population_as_of(pop, 2018)["population_10_17"].tolist() == [1, 4]
    assert panel.population_as_of(pop, None)["population_10_17"].tolist() == [3, 5]
    assert panel.population_as_of(pop, 2021)["population_10_17"].tolist() == [2, 4]


def test_services_table_takes_the_first_name_given():
    svc = pd.DataFrame({"la_code": ["E06000002", "E06000001", "E06000003"], "yjs_id": ["b", "b", "a"],
                        "yjs_name": ["B2", None, "A"], "country": ["England"] * 3, "region": [None] * 3})
    table = panel.services_table(svc, pd.DataFrame(columns=["la_code", "year", "population_10_17"]))
    assert table[["yjs_id", "yjs_name", "la_codes"]].to_dict("list") == {
        "yjs_id": ["a", "b"], "yjs_name": ["A", "B2"], "la_codes": ["E06000003", "E06000001,E06000002"]}
    assert table["region"].tolist() == [None, None]


def test_counts_sum_a_services_parts_per_period():
    fte = BY_KEY["fte"]
    table = pd.DataFrame({"yjs_id": ["b", "a", "a", "b", "c"],
                          "period_end": pd.to_datetime(["2021-12-31"] * 3 + ["2022-12-31", "2021-12-31"]),
                          "period_months": [12] * 5, "fte_count": [1.0, 2.0, 3.0, np.nan, 4.0],
                          "suppressed": [False, False, False, False, True]})
    pop = pd.DataFrame({"yjs_id": ["a", "b", "c"], "year": [2021] * 3, "population_10_17": [100, 200, 0]})
    out = panel._counts(fte, table, pop)
    expected = pd.DataFrame({"yjs_id": ["a", "b", "b", "c"], "numerator": [5.0, 1.0, np.nan, np.nan],
                             "denominator": [200.0, 200.0, np.nan, np.nan],  # a: each part's population
                             "suppressed": [False, False, True, True]})
    pd.testing.assert_frame_equal(out[expected.columns], expected)
    assert (out["indicator"] == "fte").all()


def test_implausible_rates_and_counts_are_named_or_none():
    from pipeline.model import guards
    disp = pd.DataFrame({"indicator": ["fte", "fte", "custody"], "national_rate": [300.0, 9_000.0, np.nan],
                         "period_end": pd.to_datetime(["2023-12-31", "2024-12-31", "2024-12-31"]),
                         "period_months": [12, 12, 12]})
    assert guards.implausible_national_rates(disp.iloc[[0, 2]]) == []
    assert guards.implausible_national_rates(disp)[0].startswith("national fte rate outside the plausible 20-5000 in 1 ")
    values = pd.DataFrame({"yjs_id": ["a", "b", "c"], "indicator": ["fte", "custody", "reoffending"],
                           "numerator": [10.0, 30.0, 90.0], "denominator": [1000.0, 100.0, 100.0],
                           "period_end": pd.to_datetime(["2024-12-31"] * 3), "period_months": [12, 12, 12]})
    problems = guards.implausible_service_counts(values)  # a share of a cohort is no count: c passes
    assert len(problems) == 1 and problems[0].startswith("custody: 1 service-periods count more than 10%")
    assert guards.implausible_service_counts(values.iloc[[0, 2]]) == []
