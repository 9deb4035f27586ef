"""The distributions of ``pipeline.model.stats`` (built on scipy.special, so
that the refresh never imports scipy.stats) against scipy.stats itself: the
same numbers to the last bit, edges included, on random inputs."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from pipeline.backtest import metrics as mt
from pipeline.model import stats
from pipeline.settings import REPO_ROOT

rng = np.random.default_rng(20121)
M = 4000


def assert_same(ours, theirs):
    """The same 64 bits in every element (so also the sign of zero and NaN)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    np.testing.assert_array_equal(ours, theirs)  # first, for a readable failure
    assert np.array_equal(ours.view(np.uint64), theirs.view(np.uint64))


def some(values, m=M, share=0.05):
    """A mask choosing about ``share`` of m places, and draws from ``values``."""
    return rng.random(m) < share, rng.choice(values, m)


def poisson_inputs():
    mean = 10 ** rng.uniform(-6, 6.5, M)
    k = np.round(mean + rng.normal(0, 4, M) * np.sqrt(mean + 1))
    k = np.where(*some([-1.0, -2.5, 0.0, 0.5, 3.5, np.nan, np.inf, -np.inf]), k)
    mean = np.where(*some([0.0, -1.0, np.nan, np.inf, 1e-300], share=0.02), mean)
    return k, mean, None


def binomial_inputs():
    n = np.round(10 ** rng.uniform(0, 6, M))
    p = np.where(rng.random(M) < 0.3, 10 ** rng.uniform(-6, 0, M), rng.uniform(0, 1, M))
    p = np.where(rng.random(M) < 0.2, 1 - 10 ** rng.uniform(-6, -0.3, M), p)
    k = np.round(n * p + rng.normal(0, 4, M) * np.sqrt(n * p * (1 - p) + 1))
    k = np.where(*some([-1.0, 0.0, 0.5, np.nan, np.inf, -np.inf]), k)
    edge, shift = some([0.0, 1.0, -1.0, -0.5, 0.5])
    k = np.where(edge, n + shift, k)  # k = n, beyond it, just below it
    n = np.where(*some([0.0, 1.0, 2.5, -1.0, np.nan], share=0.02), n)
    p = np.where(*some([0.0, 1.0, -0.1, 1.1, np.nan], share=0.02), p)
    return k, p, n


@pytest.mark.parametrize("what", ["cdf", "sf", "pmf"])
@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_discrete_distributions_are_scipy_stats_to_the_bit(family, what):
    k, mean, n = poisson_inputs() if family == "poisson" else binomial_inputs()
    with np.errstate(all="ignore"):
        if family == "poisson":
            theirs = getattr(sps.poisson, what)(k, mean)
        else:
            theirs = getattr(sps.binom, what)(k, n, mean)
        assert_same(stats._discrete(what, family, k, mean, n), theirs)


def probabilities():
    q = np.where(rng.random(M) < 0.5, 10 ** rng.uniform(-320, 0, M), 1 - 10 ** rng.uniform(-17, 0, M))
    return np.where(*some([0.0, 1.0, 0.5, -0.1, 1.1, np.nan, 5e-324]), q)


def test_normal_and_chi_square_are_scipy_stats_to_the_bit():
    q = probabilities()
    z = np.where(*some([0.0, -0.0, np.inf, -np.inf, np.nan, 40.0]), rng.normal(0, 8, M))
    df = np.where(*some([0.0, -1.0, np.nan, 1.0, 1e7]), np.round(10 ** rng.uniform(0, 6, M)))
    with np.errstate(all="ignore"):
        assert_same(stats._norm_ppf(q), sps.norm.ppf(q))
        assert_same(stats._norm_isf(q), sps.norm.isf(q))
        assert_same(stats._norm_sf(z), sps.norm.sf(z))
        assert_same(stats._chi2_ppf(q, df), sps.chi2.ppf(q, df))
        for level in (0.5, 0.9, 0.95, 0.99, 0.998):
            assert mt._z(level) == sps.norm.ppf(0.5 + level / 2)


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_exact_quantile_search_is_scipy_ppf_and_isf(family):
    m = 1000
    q = rng.uniform(1e-6, 1 - 1e-6, m)
    if family == "poisson":
        mean, n = 10 ** rng.uniform(-6, 6.5, m), None
        dist, args = sps.poisson, (mean,)
    else:
        mean, n = rng.uniform(1e-6, 1 - 1e-6, m), np.round(10 ** rng.uniform(0, 6, m))
        dist, args = sps.binom, (n, mean)
    assert_same(stats._ppf(family, q, mean, n), dist.ppf(q, *args))
    assert_same(stats._isf(family, q, mean, n), dist.isf(q, *args))


def test_average_ranks_are_scipy_rankdata():
    for size in (0, 1, 2, 7, 50, 300):
        x = np.round(rng.normal(size=(40, size)), int(rng.integers(0, 3)))
        x[rng.random(x.shape) < 0.05] = np.inf
        x[rng.random(x.shape) < 0.05] = -np.inf
        x[rng.random(x.shape) < 0.01] = np.nan
        assert_same(mt._average_ranks(x), sps.rankdata(x, axis=1))


def test_the_refresh_statistics_do_not_import_scipy_stats():
    """What the monthly refresh computes, in a fresh interpreter: scipy.special
    only, never scipy.stats (whose import takes 0.6-0.8 s)."""
    code = """
import sys
import numpy as np
import pipeline.model.stats as s, pipeline.backtest.metrics as mt
assert "scipy" not in sys.modules
pop, n = np.array([0.0, 50.0, 1e4, 2e6]), np.array([1.0, 12.0, 400.0, 0.0])
s.exact_z([0, 3, 40, 9000], pop * 0.002, None, "poisson"), s.exact_z([0, 5, 100, 0], n, 0.3, "binomial")
s.exact_limits(pop, 0.002, "poisson", s.Z95 * np.array([1.0, 1.5, 3.0, 1.0]))
s.exact_limits(n, 0.3, "binomial", s.Z998)
s.rate_interval([0, 4], [10.0, 20.0], "poisson"), s.rate_interval([0, 4], [10.0, 20.0], "binomial")
y, t, se = s.transformed([5, 9, 20, 31], [6.0, 10.0, 15.0, 40.0], None, "poisson")
s.dispersion(y, t, se), s.overdispersed(3.0, 50)
mt.wilson(3, 20), mt.auc_interval([1, 0, 1, 0], [0.1, np.nan, 0.3, 0.2])
print("scipy.stats" in sys.modules, "scipy.special" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
