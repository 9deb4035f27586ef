"""The statistics module against worked examples and independent formulas."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from pipeline.model import stats


def test_stats_module_knows_nothing_of_dagster():
    import pipeline.model.stats as mod
    source = open(mod.__file__).read()
    assert "import dagster" not in source and "from dagster" not in source


def test_poisson_z_is_twice_the_root_difference():
    o = np.array([0, 4, 25, 100, 1000])
    e = np.array([2.0, 4.0, 16.0, 121.0, 900.0])
    y, target, se = stats.transformed(o, e, None, "poisson")
    np.testing.assert_allclose((y - target) / se, 2 * (np.sqrt(o) - np.sqrt(e)))


def test_binomial_z_on_the_arcsine_scale():
    o, n, p0 = np.array([0, 10, 40]), np.array([20, 30, 100]), 0.3
    y, target, se = stats.transformed(o, n, p0, "binomial")
    expect = (np.arcsin(np.sqrt(o / n)) - np.arcsin(np.sqrt(p0))) * 2 * np.sqrt(n)
    np.testing.assert_allclose((y - target) / se, expect)


def test_zero_or_missing_denominator_gives_nan_not_error():
    y, _, se = stats.transformed([3, np.nan], [0, 10], None, "poisson")
    assert np.isnan(y).all() and np.isnan(se).all()


def test_winsorised_phi_worked_example():
    # z = 1..10; 10% / 90% linear quantiles are 1.9 and 9.1
    z = np.arange(1, 11, dtype=float)
    clipped = np.array([1.9, 2, 3, 4, 5, 6, 7, 8, 9, 9.1])
    assert stats.winsorised_phi(z) == pytest.approx(np.mean(clipped**2))
    assert stats.winsorised_phi(z) == pytest.approx(37.042)


def test_dersimonian_laird_tau2_worked_example():
    se = np.array([0.1, 0.2, 0.5])
    w = 1 / se**2  # 100, 25, 4
    expected = (3 * 2.0 - 2) / (w.sum() - (w**2).sum() / w.sum())  # 4 / 46.5116
    assert stats.dl_tau2(np.zeros(3), se, phi=2.0) == pytest.approx(expected)
    assert expected == pytest.approx(0.0860, abs=1e-4)
    assert stats.dl_tau2(np.zeros(3), se, phi=0.5) == 0.0


def test_overdispersion_detected_only_beyond_noise():
    rng = np.random.default_rng(1)
    e = rng.uniform(50, 5000, 150)
    pure = rng.poisson(e)
    y, t, se = stats.transformed(pure, e, None, "poisson")
    assert not stats.dispersion(y, t, se)["adjusted"]
    noisy = rng.poisson(e * rng.lognormal(0, 0.3, 150))
    y, t, se = stats.transformed(noisy, e, None, "poisson")
    d = stats.dispersion(y, t, se)
    assert d["adjusted"] and d["tau2"] > 0 and d["phi"] > 2


def test_adjusted_z_shrinks_large_areas_most():
    z_small = stats.adjusted_z(1.2, 1.0, 0.1, tau2=0.01)
    z_large = stats.adjusted_z(1.2, 1.0, 0.01, tau2=0.01)
    assert z_small / 2.0 == pytest.approx(1 / np.sqrt(2))  # 0.2/sqrt(0.02)
    assert z_large < 20 and z_large == pytest.approx(0.2 / np.sqrt(0.0101))


@pytest.mark.parametrize("z,band", [(3.2, "high_99.8"), (3.09, "high_95"), (2.0, "high_95"),
                                    (1.9, "within"), (-1.95, "within"), (-1.96, "low_95"), (-2.5, "low_95"),
                                    (-3.1, "low_99.8")])
def test_funnel_band_thresholds(z, band):
    assert stats.funnel_band([z])[0] == band


def test_funnel_band_of_missing_z_is_none():
    assert stats.funnel_band([np.nan])[0] is None


def test_poisson_limits_match_exact_quantiles_for_large_counts():
    # For a large expected count the square-root limits agree with the exact
    # Poisson quantiles (scipy) to within about one event.
    pop, p0 = 200_000, 0.005  # expected 1,000
    lo, hi = stats.funnel_limits(pop, p0, "poisson", stats.Z998)
    exact_hi = sps.poisson.ppf(0.999, p0 * pop)
    exact_lo = sps.poisson.ppf(0.001, p0 * pop)
    assert abs(hi * pop - exact_hi) <= 2 and abs(lo * pop - exact_lo) <= 2


def test_binomial_limits_match_exact_quantiles_for_large_cohorts():
    n, p0 = 2_000, 0.3
    lo, hi = stats.funnel_limits(n, p0, "binomial", stats.Z95)
    assert abs(hi * n - sps.binom.ppf(0.975, n, p0)) <= 2
    assert abs(lo * n - sps.binom.ppf(0.025, n, p0)) <= 2


@settings(max_examples=60, deadline=None)
@given(small=st.floats(5, 1e4), factor=st.floats(1.01, 100), p0=st.floats(0.01, 0.6),
       family=st.sampled_from(["poisson", "binomial"]), tau2=st.floats(0, 0.05))
def test_limits_widen_as_the_denominator_shrinks(small, factor, p0, family, tau2):
    lo_s, hi_s = stats.funnel_limits(small, p0, family, stats.Z95, tau2)
    lo_l, hi_l = stats.funnel_limits(small * factor, p0, family, stats.Z95, tau2)
    assert hi_s >= hi_l - 1e-12 and lo_s <= lo_l + 1e-12


@settings(max_examples=80, deadline=None)
@given(o=st.integers(0, 400), pop=st.floats(100, 5e5), p0=st.floats(1e-4, 2e-3))
def test_band_agrees_with_limits(o, pop, p0):
    e = p0 * pop
    y, t, se = stats.transformed(o, e, None, "poisson")
    band = stats.funnel_band(stats.adjusted_z(y, t, se, 0.0))[0]
    lo95, hi95 = stats.funnel_limits(pop, p0, "poisson", stats.Z95)
    lo998, hi998 = stats.funnel_limits(pop, p0, "poisson", stats.Z998)
    rate = o / pop
    eps = 1e-12
    if band == "high_99.8":
        assert rate >= hi998 - eps
    elif band == "high_95":
        assert hi95 - eps <= rate <= hi998 + eps
    elif band == "within":
        assert lo95 - eps <= rate <= hi95 + eps
    elif band == "low_95":
        assert lo998 - eps <= rate <= lo95 + eps
    else:
        assert rate <= lo998 + eps


def test_shrinkage_pulls_noisy_areas_further():
    mean, sd = stats.shrink([1.5, 1.5], [1.0, 1.0], [0.5, 0.05], tau2=0.01)
    assert 1.0 < mean[0] < mean[1] < 1.5
    assert sd[0] > sd[1] > 0
    m0, s0 = stats.shrink([1.5], [1.0], [0.1], tau2=0.0)
    assert m0[0] == 1.0 and s0[0] == 0.0


def test_rank_intervals_cover_the_ranks_and_are_tight_when_certain():
    mean = np.array([5.0, 4.0, 3.0, 2.9, 0.0])
    low, high = stats.rank_intervals(mean, np.array([0.01, 0.01, 0.5, 0.5, 0.01]), n_draws=2000)
    ranks = np.array([1, 2, 3, 4, 5])
    assert (low <= ranks).all() and (ranks <= high).all()
    assert low[0] == high[0] == 1 and low[4] == high[4] == 5
    assert low[2] == 3 and high[2] == 4


def test_random_effects_tau2_keeps_real_outliers_that_winsorising_hides():
    rng = np.random.default_rng(3)
    e = rng.uniform(200, 2000, 30)
    o = rng.poisson(e).astype(float)
    o[0], o[1] = e[0] * 2.0, e[1] * 0.3  # two genuine outliers
    y, t, se = stats.transformed(o, e, None, "poisson")
    assert stats.dispersion(y, t, se)["tau2"] == 0.0  # robust limits: in control
    tau2 = stats.random_effects_tau2(y, t, se)
    assert tau2 > 0
    mean, _ = stats.shrink(y, t, se, tau2)
    assert mean[0] > 1.2 and mean[1] < 0.8


@pytest.mark.parametrize("e", [0.3, 2.0, 7.5, 40.0, 900.0])
def test_exact_poisson_limits_bracket_scipy_quantiles(e):
    # mid-p limits interpolate between integer counts: within one event of
    # scipy's exact quantile
    pop, p0 = 1_000.0, e / 1_000.0
    for z, q in ((stats.Z95, 0.975), (stats.Z998, 0.999)):
        lo, hi = stats.exact_limits(pop, p0, "poisson", z)
        assert abs(hi * pop - sps.poisson.ppf(q, e)) <= 1
        assert abs(lo * pop - sps.poisson.ppf(1 - q, e)) <= 1


@pytest.mark.parametrize("n,p0", [(5, 0.3), (12, 0.35), (40, 0.1), (400, 0.32)])
def test_exact_binomial_limits_bracket_scipy_quantiles(n, p0):
    for z, q in ((stats.Z95, 0.975), (stats.Z998, 0.999)):
        lo, hi = stats.exact_limits(n, p0, "binomial", z)
        assert abs(hi * n - sps.binom.ppf(q, n, p0)) <= 1
        assert abs(lo * n - sps.binom.ppf(1 - q, n, p0)) <= 1
        assert 0 <= lo <= hi <= 1


def test_exact_z_handles_zero_and_small_counts():
    z = stats.exact_z([0, 0, 1, 12], [0.5, 5.0, 5.0, 5.0], None, "poisson")
    # zero events with 0.5 expected is unremarkable; with 5 expected it is low
    assert -1.0 < z[0] < 0 and z[1] < -1.96 and z[2] < 0 and z[3] > 1.96
    mid = sps.poisson.cdf(11, 5.0) + 0.5 * sps.poisson.pmf(12, 5.0)
    assert z[3] == pytest.approx(sps.norm.ppf(mid))



def test_exact_z_is_finite_where_the_mid_p_tail_is_too_small_for_a_double():
    # 0 events against 800 expected: mid-p 0.5 exp(-800), which underflows;
    # its logarithm -800 - log 2 does not
    z = stats.exact_z([0, 0], [800.0, 1e4], None, "poisson")
    ndtri_exp = stats.scipy_special().ndtri_exp  # the inverse of log Phi
    np.testing.assert_allclose(z, ndtri_exp(-np.array([800.0, 1e4]) - np.log(2)), rtol=1e-12)
    assert z[0] == pytest.approx(-39.902, abs=1e-3)
    lo = stats.exact_z([0], [1000.0], [0.6], "binomial")[0]  # 0.5 x 0.4^1000
    assert lo == pytest.approx(ndtri_exp(1000 * np.log(0.4) - np.log(2)), rel=1e-12)
    # a count many times too large: finite, and the larger the count the larger z
    up = stats.exact_z([400, 1000, 2000, 20000], [45.0] * 4, None, "poisson")
    assert np.isfinite(up).all() and (np.diff(up) > 0).all() and up[0] < 37.5 < up[1]  # both ways
    hi = stats.exact_z([990, 1000], [1000.0] * 2, [0.3] * 2, "binomial")
    assert np.isfinite(hi).all() and 0 < hi[0] < hi[1]
    # an impossible count (a national proportion of 0 or 1) is still infinite
    np.testing.assert_array_equal(stats.exact_z([3, 0], [10, 10], [0.0, 1.0], "binomial"),
                                  [np.inf, -np.inf])


@pytest.mark.parametrize("family, k, mean, n", [
    ("poisson", [0, 3, 50, 200, 10, 60], [600, 500, 400, 300, 1.5, 20], None),
    ("binomial", [0, 5, 900, 1000, 2, 40], [0.4, 0.5, 0.6, 0.5, 0.1, 0.2], [1000] * 4 + [30, 60]),
])
def test_the_log_tail_series_is_the_mid_p_tail_where_a_double_holds_it(family, k, mean, n):
    k, mean = np.array(k, float), np.array(mean, float)
    n = None if n is None else np.array(n, float)
    lower, upper = stats._mid_tails(k, n if n is not None else mean, mean if n is not None else None,
                                    family)
    centre = mean if n is None else n * mean
    for side, tail, far in (("lower", lower, k < centre), ("upper", upper, k > centre)):
        np.testing.assert_allclose(stats._log_mid_tail(family, side, k[far], mean[far],
                                                       None if n is None else n[far]),
                                   np.log(tail[far]), rtol=1e-12, atol=1e-12)


def test_effective_exact_z_interpolates_far_tails_in_their_logarithm():
    o, e = np.array([0.0, 0.25, 0.5, 1.0]), np.full(4, 900.0)
    z = stats.effective_exact_z(o, e, None, "poisson")
    assert np.isfinite(z).all() and (np.diff(z) > 0).all()
    np.testing.assert_array_equal(z[[0, 3]], stats.exact_z([0, 1], [900.0] * 2, None, "poisson"))
    # linear in the tail: 0.5 at 0 events, with P(0) and P(1) = 900 P(0) at 1
    np.testing.assert_allclose(z[1], stats.scipy_special().ndtri_exp(
        -900 + np.log(0.75 * 0.5 + 0.25 * (1 + 0.5 * 900))), rtol=1e-12)
    up = stats.effective_exact_z([800.5, 801.0], [30.0, 30.0], None, "poisson")
    assert np.isfinite(up).all() and up[0] < up[1]


def test_effective_exact_z_of_whole_counts_is_exact_z():
    o, e = np.array([0, 3, 12, 250]), np.array([2.0, 5.5, 4.0, 240.0])
    np.testing.assert_array_equal(stats.effective_exact_z(o, e, None, "poisson"),
                                  stats.exact_z(o, e, None, "poisson"))
    n, p0 = np.array([7, 40, 400]), np.array([0.3, 0.31, 0.29])
    np.testing.assert_array_equal(stats.effective_exact_z([0, 20, 100], n, p0, "binomial"),
                                  stats.exact_z([0, 20, 100], n, p0, "binomial"))


def test_effective_exact_z_interpolates_the_mid_p_tail_between_whole_counts():
    below = sps.poisson.cdf(1, 6.0) + 0.5 * sps.poisson.pmf(2, 6.0)  # mid-p at 2 events
    above = sps.poisson.cdf(2, 6.0) + 0.5 * sps.poisson.pmf(3, 6.0)  # and at 3
    z = stats.effective_exact_z([2.25], [6.0], None, "poisson")[0]
    assert z == pytest.approx(sps.norm.ppf(0.75 * below + 0.25 * above))
    # a binomial's effective size is rounded, its count scaled with it
    assert stats.effective_exact_z([6.0], [30.6], [0.3], "binomial")[0] == pytest.approx(
        stats.effective_exact_z([6.0 * 31 / 30.6], [31.0], [0.3], "binomial")[0])


def test_effective_exact_z_of_no_events_is_not_the_normal_approximations():
    # 0 events where 2.4 were expected: mid-p 0.5 exp(-2.4) = 0.045, z -1.69,
    # within the limits; the square-root scale's -2 sqrt(2.4) = -3.10 is beyond 99.8%
    z = stats.effective_exact_z([0.0], [2.4], None, "poisson")[0]
    assert z == pytest.approx(sps.norm.ppf(0.5 * np.exp(-2.4)))
    assert -stats.Z95 < z < 0


@settings(max_examples=80, deadline=None)
@given(o=st.integers(0, 300), pop=st.floats(200, 5e5), p0=st.floats(1e-4, 2e-3),
       widen=st.floats(1.0, 3.0))
def test_exact_band_agrees_with_exact_limits(o, pop, p0, widen):
    z = stats.exact_z(o, p0 * pop, None, "poisson")[()] / widen
    band = stats.funnel_band([z])[0]
    lo95, hi95 = stats.exact_limits(pop, p0, "poisson", stats.Z95 * widen)
    lo998, hi998 = stats.exact_limits(pop, p0, "poisson", stats.Z998 * widen)
    rate, eps = o / pop, 1e-9 / pop
    assert (band == "high_99.8") == (rate > hi998 + eps) or abs(rate - hi998) < 1e-6 / pop
    assert (band in ("high_95", "high_99.8")) == (rate > hi95 + eps) or abs(rate - hi95) < 1e-6 / pop
    assert (band in ("low_95", "low_99.8")) == (rate < lo95 - eps) or abs(rate - lo95) < 1e-6 / pop


def test_wilson_interval_of_none_or_all_of_a_cohort_ends_at_0_or_1_exactly():
    lo, hi = stats.rate_interval([0, 7, 3], [7, 7, 7], "binomial")
    assert lo[0] == 0.0 and hi[1] == 1.0 and 0 < lo[2] < hi[2] < 1
    # none of an empty or missing cohort: no interval, as no rate (its low end had been 0)
    lo, hi = stats.rate_interval([0, 0, np.nan], [0, np.nan, np.nan], "binomial")
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_wilson_and_exact_poisson_intervals():
    lo, hi = stats.rate_interval([0, 10], [20, 20], "binomial")
    assert lo[0] == pytest.approx(0.0, abs=1e-12) and 0.1 < hi[0] < 0.2  # Wilson 0/20: 0-16.1%
    assert hi[0] == pytest.approx(0.1611, abs=1e-3)
    lo, hi = stats.rate_interval([0, 10], [1.0, 1.0], "poisson")
    assert lo[0] == 0 and hi[0] == pytest.approx(3.689, abs=1e-3)  # Garwood 0 events
    assert lo[1] == pytest.approx(4.795, abs=1e-3) and hi[1] == pytest.approx(18.39, abs=1e-2)
    # a suppressed count has no interval, as it has no rate (its low end had been 0, published for
    # 145 suppressed demo rows)
    lo, hi = stats.rate_interval([np.nan, 0.0], [1000.0, 1000.0], "poisson")
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and lo[1] == 0.0 and hi[1] > 0


@settings(max_examples=60, deadline=None)
@given(small=st.integers(5, 5_000), factor=st.integers(2, 50), p0=st.floats(0.01, 0.6),
       family=st.sampled_from(["poisson", "binomial"]), widen=st.floats(1.0, 2.0))
def test_exact_limits_widen_as_the_denominator_shrinks(small, factor, p0, family, widen):
    # cohort sizes are whole; discreteness allows one event's wobble
    big = small * factor
    lo_s, hi_s = stats.exact_limits(small, p0, family, stats.Z95 * widen)
    lo_l, hi_l = stats.exact_limits(big, p0, family, stats.Z95 * widen)
    assert hi_s + 1.0 / small >= hi_l and lo_s - 1.0 / small <= lo_l


def test_the_control_limit_z_values_are_the_normal_quantiles():
    from scipy.stats import norm

    assert stats.Z95 == norm.ppf(0.975) and stats.Z998 == norm.ppf(0.999)


def test_top_k_probability_counts_how_often_an_area_is_among_the_k_highest():
    p = stats.top_k_probability([5.0, 1.0, 1.0, -5.0], [0.1, 0.3, 0.3, 0.1], k=2)
    assert p[0] == 1.0 and p[3] == 0.0
    assert p[1] == pytest.approx(0.5, abs=0.02) and p[1] + p[2] == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    p = stats.top_k_probability(rng.normal(size=50), rng.uniform(0.1, 1, 50), k=8)
    assert p.sum() == pytest.approx(8.0) and ((0 <= p) & (p <= 1)).all()
    # one draw: the k-th highest of it, against what the draws themselves say
    draws = 0.3 + 0.2 * np.random.default_rng(20121).standard_normal((10_000, 3))
    own = (draws >= np.sort(draws, axis=1)[:, [1]]).mean(axis=0)
    np.testing.assert_allclose(stats.top_k_probability([0.3] * 3, [0.2] * 3, k=2), own)
    # areas known exactly and tied at the k-th place share the places left: the shares add up to k
    # (each counted in, 3 areas for 1 place had given 1.0 each, 4 in all for k = 2)
    p = stats.top_k_probability([5.0, 1.0, 1.0, 1.0, -5.0], [0.1, 0, 0, 0, 0.1], k=2)
    np.testing.assert_allclose(p, [1.0, 1 / 3, 1 / 3, 1 / 3, 0.0])
    p = stats.top_k_probability([0.5, 0.0, 0.0, -0.5], [0.5, 0, 0, 0.5], k=2)  # a draw's ties vary
    assert p.sum() == pytest.approx(2.0) and p[1] == p[2] and 0.5 < p[1] < 1


@pytest.mark.parametrize("cells", [1, 50, 7_000, 10**9])
def test_draws_in_chunks_are_one_matrix_and_do_not_move_the_results(monkeypatch, cells):
    rng = np.random.default_rng(4)
    mean, sd = rng.normal(size=30), rng.uniform(0.1, 1, 30)
    mean[:4], sd[:4] = 0.2, 0.0  # a tied block of certain areas
    whole = mean + sd * np.random.default_rng(7).standard_normal((2_500, 30))
    before = (np.r_[stats.rank_intervals(mean, sd, n_draws=2_500, seed=7)],
              stats.top_k_probability(mean, sd, 5, 2_500, 7))
    monkeypatch.setattr(stats, "CHUNK_CELLS", cells)  # chunks of 30 rows (at least one per area) up to one
    chunks = [chunk.copy() for chunk in stats._draws(mean, sd, 2_500, 7)]
    assert len(chunks) == {1: 84, 50: 84, 7_000: 11, 10**9: 1}[cells]
    np.testing.assert_array_equal(np.vstack(chunks), whole)
    # negated mean and sd: the same values negated, which the rank intervals sort ascending
    np.testing.assert_array_equal(np.vstack([-c for c in stats._draws(-mean, -sd, 2_500, 7)]), whole)
    np.testing.assert_array_equal(np.r_[stats.rank_intervals(mean, sd, n_draws=2_500, seed=7)], before[0])
    np.testing.assert_array_equal(stats.top_k_probability(mean, sd, 5, 2_500, 7), before[1])


@pytest.mark.parametrize("n", [1, 2, 155, 256, 257, 3875])
def test_the_rows_argsort_by_int64_keys_is_numpys(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(300, n)) * rng.choice([1e-300, 1e-5, 1.0, 1e300], (300, 1))
    np.testing.assert_array_equal(stats._argsort_rows(x), np.argsort(x, axis=1))
    if n >= 10:  # rows its keys cannot order: left to np.argsort, which chooses among equal values
        x[::4, 5] = x[::4, 9]
        x[1::4, 7] = np.nextafter(x[1::4, 8], np.inf)
        x[2::4, 1], x[2::4, 2], x[3::4, 3], x[3::4, 4] = 0.0, -0.0, np.inf, -np.inf
        np.testing.assert_array_equal(stats._argsort_rows(x), np.argsort(x, axis=1))


def test_a_long_list_gets_fewer_draws_never_under_2000():
    # 10,000 draws of 3,875 services (the 100x benchmark) had cost 1.2 GB more and seconds of sorting
    assert [stats.draws_for(n) for n in (155, 800, 3875, 100_000)] == [10_000, 10_000, 2064, 2000]
    assert stats.draws_for(3875) * 3875 <= stats.DRAW_CELLS


def test_rank_interval_endpoints_hardly_move_between_seeds():
    # 155 services as the demo's: with 2,000 draws an endpoint moved by up to 6 ranks between seeds
    rng = np.random.default_rng(1)
    mean, sd = rng.normal(0, 0.6, 155), np.abs(rng.normal(0.25, 0.05, 155))
    ends = np.array([np.r_[stats.rank_intervals(mean, sd, seed=seed)] for seed in range(5)])
    assert np.abs(ends - ends[0]).max() <= 2


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), draws=st.integers(1, 300), q=st.floats(0, 1), seed=st.integers(0, 99))
def test_rank_quantiles_from_histograms_are_numpys(n, draws, q, seed):
    ranks = np.random.default_rng(seed).integers(1, n + 1, (draws, n))  # ranks[d, a]: area a's in draw d
    counts = stats._rank_counts(np.broadcast_to(np.arange(n), ranks.shape), ranks)
    for whole in (np.floor, np.ceil):
        np.testing.assert_array_equal(stats._rank_quantile(counts, q, whole),
                                      whole(np.quantile(ranks, q, axis=0)).astype(int))


def test_rank_intervals_of_tied_certain_areas_span_the_ranks_they_share():
    # three areas with no evidence (sd 0) tie at 1.0 between a certain top and a certain bottom
    mean = np.array([3.0, 1.0, 1.0, 1.0, -2.0])
    low, high = stats.rank_intervals(mean, np.array([0.0, 0.0, np.nan, 0.0, 0.0]))
    assert low.tolist() == [1, 2, 2, 2, 5] and high.tolist() == [1, 4, 4, 4, 5]
    # all tied: nothing orders them
    low, high = stats.rank_intervals(np.full(6, 0.12), np.zeros(6))
    assert (low == 1).all() and (high == 6).all()
    # a tied block among uncertain areas: its members share every draw's block of ranks
    mean = np.array([0.5, 0.0, 0.0, -0.5])
    sd = np.array([1.0, 0.0, 0.0, 1.0])
    low, high = stats.rank_intervals(mean, sd, n_draws=4000)
    assert low[1] == low[2] and high[1] == high[2] and high[1] - low[1] >= 2
    # without ties the intervals are those of the plain ranks, draw for draw
    mean, sd = np.array([2.0, 1.0, 0.5, 0.0]), np.array([0.5, 0.0, 0.7, 0.0])
    rng = np.random.default_rng(20121)
    ranks = (-(mean + sd * rng.standard_normal((2000, 4)))).argsort(axis=1).argsort(axis=1) + 1
    low, high = stats.rank_intervals(mean, sd)
    assert low.tolist() == np.floor(np.quantile(ranks, 0.05, axis=0)).astype(int).tolist()
    assert high.tolist() == np.ceil(np.quantile(ranks, 0.95, axis=0)).astype(int).tolist()


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_exact_limits_of_alike_areas_are_each_areas_own(family):
    # areas of one size in one period share their search (stats._distinct); each gets its own answer
    d = np.array([40.0, 40.0, 7.0, 40.0, 7.0, 0.0, np.nan, 40.0])
    p0 = np.array([0.3, 0.3, 0.3, 0.2, 0.3, 0.3, 0.3, 0.3])
    z = np.array([1.96, 1.96, 3.09, 1.96, 3.09, 1.96, 1.96, -0.0])
    together = np.stack(stats.exact_limits(d, p0, family, z))
    alone = np.stack([np.r_[stats.exact_limits(d[i:i + 1], p0[i:i + 1], family, z[i:i + 1])]
                      for i in range(d.size)], axis=1)
    np.testing.assert_array_equal(together, alone)


@settings(max_examples=60, deadline=None)
@given(n_groups=st.integers(1, 12), n=st.integers(0, 300), spread=st.sampled_from([1.0, 1.5, 3.0]),
       gaps=st.booleans(), seed=st.integers(0, 99))
def test_dispersions_of_groups_are_each_groups_own(n_groups, n, spread, gaps, seed):
    # every period (or window) at once, to the bit what dispersion, random_effects_tau2 and
    # nanmedian give each alone; some groups empty or of fewer than 3, some values missing
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n)
    se, target = rng.random(n) * 0.2 + 0.01, np.ones(n)
    y = target + rng.normal(0, spread, n) * se
    if gaps:
        y[rng.random(n) < 0.1] = np.nan
        se[rng.random(n) < 0.05] = np.inf
        y[: n // 4] = target[: n // 4]  # z exactly 0
    got = stats.dispersions(y, target, se, group, n_groups)
    for g in range(n_groups):
        i = np.flatnonzero(group == g)
        alone = {**stats.dispersion(y[i], target[i], se[i]),
                 "tau2_shrinkage": stats.random_effects_tau2(y[i], target[i], se[i]),
                 "median_var": np.nanmedian(se[i] ** 2) if i.size else np.nan}
        for name, value in alone.items():
            np.testing.assert_array_equal(got[name][g], value, err_msg=f"{name} of group {g}")
