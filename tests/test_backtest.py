"""The back-test: every past month ranked as it would have been, each later
inspection scored once, metrics with intervals, published with every method."""

from __future__ import annotations

import base64
import datetime as dt

import xml.etree.ElementTree as ET

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.backtest import metrics as mt
from pipeline.backtest import outcomes, rankings, run
from pipeline.model import outcome, panel, scores
from pipeline.defs.rank import SYNTHETIC_BANNER
from pipeline.rank import targets
from pipeline.settings import REPO_ROOT, RankingRules
from tests import factories
from tests.conftest import DEMO_DIR, run_refresh

AS_OF = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def small():
    svc = factories.services(30)
    pop = factories.population(svc)
    quality = np.random.default_rng(1).normal(size=30)
    tables = factories.indicator_tables(svc, pop, quality)
    insp = factories.inspections([
        (f"svc-{i:02d}", f"{2019 + i % 6}-{1 + i % 12:02d}-15", "Good" if q < 0.3 else "Inadequate",
         2 if q < 0.3 else 4) for i, q in enumerate(quality)])
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, 3)
    return svc, pop, tables, insp, values


def test_auc_and_ties_follow_mann_whitney():
    rng = np.random.default_rng(0)
    y = rng.random(80) < 0.4
    s = np.round(rng.random(80) + 0.3 * y, 1)  # many ties
    assert mt.auc(y, s) == pytest.approx(roc_auc_score(y, s))
    a, lo, hi = mt.auc_interval(y, s)
    assert lo < a < hi
    assert np.isnan(mt.auc([True, True], [1, 2]))


def test_an_auc_interval_needs_most_resamples_to_have_both_outcomes():
    """Five inspections, one adverse, ranked first: AUC 1.0 had been given the interval 1.0-1.0, the
    third of the resamples without the adverse one (no AUC) left out of the interval."""
    a, lo, hi = mt.auc_interval([True, False, False, False, False], [5, 4, 3, 2, 1])
    assert a == 1.0 and np.isnan(lo) and np.isnan(hi)
    # 3 adverse in 12: 3% of the resamples have none, over the 2.5% tail; 4 in 12: 0.8%, an interval
    assert np.isnan(mt.auc_interval([True] * 3 + [False] * 9, np.arange(12.0))[1])
    a, lo, hi = mt.auc_interval([True] * 4 + [False] * 8, np.r_[1.0, 9.0, 10.0, 11.0, np.arange(8.0)])
    assert lo < a < hi


def test_bootstrap_auc_by_counting_is_the_rank_sum_auc_to_the_last_bit():
    rng = np.random.default_rng(7)
    for n, p_adverse, levels in [(1, 0.5, 3), (7, 0.3, 2), (60, 0.2, 5), (150, 0.35, 1000), (300, 0.05, 12)]:
        y = rng.random(n) < p_adverse
        s = np.round(rng.random(n) * levels) / levels  # many ties
        s[rng.random(n) < 0.1] = -np.inf  # a missing score ranks last
        idx = mt.bootstrap_indices(n, n_boot=500, seed=n)
        fast, ranks = mt.bootstrap_auc(y, s, idx), mt._bootstrap_auc_by_ranks(y, s, idx)
        np.testing.assert_array_equal(fast, ranks)  # NaN (one outcome only) in the same resamples
        np.testing.assert_equal(mt.auc(y, s), mt._bootstrap_auc_by_ranks(y, s, np.arange(n)[None, :])[0])
    s[:3] = np.nan  # NaN scores: the ranking route, as before
    np.testing.assert_array_equal(mt.bootstrap_auc(y, s, idx), mt._bootstrap_auc_by_ranks(y, s, idx))
    small = mt.bootstrap_auc(y, s[::-1].copy(), mt.bootstrap_indices(len(y), n_boot=3000))
    assert small.shape == (3000,)  # resamples counted in chunks give one row each


def test_method_metrics_are_the_same_with_the_shared_cache():
    rng = np.random.default_rng(3)
    n = 120
    scored = pd.DataFrame({"adverse": rng.random(n) < 0.3})
    for m in ("a", "b"):
        scored[f"{m}_pct"] = np.round(rng.random(n) + 0.2 * scored["adverse"], 2)
        scored[f"{m}_top10"] = rng.random(n) < 0.1
        scored[f"{m}_top20"] = rng.random(n) < 0.2
        scored[f"{m}_pick"] = rng.random(n) < 0.1
    idx = mt.bootstrap_indices(n)
    cache = {}
    for m in ("a", "b", "a"):
        with_cache = mt.method_metrics(scored, m, idx.copy(), reference="a", cache=cache)
        assert with_cache == mt.method_metrics(scored, m, idx, reference="a")
    other = mt.bootstrap_indices(n, seed=1)  # other resamples: not taken from the cache
    assert (mt.method_metrics(scored, "b", other, reference="a", cache=cache)
            == mt.method_metrics(scored, "b", other, reference="a"))


def test_within_month_positions_are_pandas_grouped_ranks():
    def by_ranks(df, score):
        s = df[score].fillna(-np.inf)
        g = s.groupby(df["as_of"])
        low, high = g.rank(method="min", ascending=False), g.rank(method="max", ascending=False)
        return pd.DataFrame({"n": g.transform("size"), "above": low - 1, "tied": high - low + 1},
                            index=df.index)

    rng = np.random.default_rng(3)
    for n in [0, 1, 2, 7, 40, 300]:
        df = pd.DataFrame({"as_of": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 5, n) * 31, "D"),
                           "x": rng.integers(0, 6, n).astype(float)}, index=rng.permutation(n) + 10)
        for value, share in [(np.nan, 0.2), (-0.0, 0.1), (np.inf, 0.05), (-np.inf, 0.05)]:
            df.loc[rng.random(n) < share, "x"] = value
        pd.testing.assert_frame_equal(mt.within_month(df, "x"), by_ranks(df, "x"), check_exact=True)


def test_rate_percentiles_are_pandas_grouped_percentile_ranks():
    rng = np.random.default_rng(11)
    for n in [0, 1, 2, 9, 60, 400]:
        df = pd.DataFrame({"indicator": rng.choice(["fte", "custody"], n),
                           "period_end": pd.Timestamp("2020-03-31") + pd.to_timedelta(rng.integers(0, 4, n) * 91, "D"),
                           "yjs_id": rng.choice(["a", "b", "c"], n), "rate": np.round(rng.normal(size=n), 1)},
                          index=rng.integers(0, 5, n))  # not unique
        for value, share in [(np.nan, 0.15), (np.inf, 0.05), (-np.inf, 0.05), (-0.0, 0.1)]:
            df.loc[rng.random(n) < share, "rate"] = value
        df.loc[rng.random(n) < 0.05, "period_end"] = pd.NaT  # no period: no percentile
        expect = df[["indicator", "period_end", "yjs_id"]].assign(
            pct=df.groupby(["indicator", "period_end"])["rate"].rank(pct=True))
        pd.testing.assert_frame_equal(rankings.rate_percentiles(df), expect, check_exact=True)


def test_catch_curve_is_the_share_in_the_top_at_each_share_inspected():
    rng = np.random.default_rng(5)
    n = 90
    scored = pd.DataFrame({"adverse": rng.random(n) < 0.4, "m_n": rng.integers(100, 160, n)})
    scored["m_above"] = np.floor(rng.random(n) * scored["m_n"])
    scored["m_tied"] = rng.integers(1, 4, n)
    curve = mt.catch_curve(scored, "m")
    adv = scored[scored["adverse"]]
    pos = adv[["m_n", "m_above", "m_tied"]].set_axis(["n", "above", "tied"], axis=1)
    loop = [mt.share_in_top(pos, s * pos["n"].to_numpy()).mean() for s in curve["share_inspected"]]
    np.testing.assert_array_equal(curve["share_caught"].to_numpy(), loop)
    assert mt.catch_curve(scored[~scored["adverse"]], "m")["share_caught"].isna().all()


def test_ties_at_a_cut_off_count_with_the_share_that_fits():
    df = pd.DataFrame({"as_of": 1, "s": [9.0, 5, 5, 5, 5, 1, np.nan]})
    pos = mt.within_month(df, "s")
    assert mt.share_in_top(pos, 3).tolist() == [1, 0.5, 0.5, 0.5, 0.5, 0, 0]
    assert mt.risk_percentile(pos)[:3].tolist() == pytest.approx([6 / 7, 3.5 / 7, 3.5 / 7])


def test_wilson_interval_matches_known_values():
    lo, hi = mt.wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = mt.wilson(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_the_panel_of_an_earlier_month_is_the_later_panel_cut(small):
    svc, pop, tables, _, values = small
    for month in (dt.date(2022, 5, 1), dt.date(2023, 11, 1)):
        direct, _ = panel.build_panel(tables, svc, pop, month, 3)
        cut = values[values["period_end"] <= panel.indicator_cutoff(month, 3)].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut, direct.reset_index(drop=True))


def test_each_month_is_ranked_as_the_pipeline_would_have_ranked_it(small):
    svc, pop, tables, insp, values = small
    rules = RankingRules()
    months = rankings.backtest_months(values, rules.lag_months, AS_OF)
    assert months[0] == pd.Timestamp("2020-04-01") and months[-1] == pd.Timestamp("2025-06-01")
    monthly = rankings.monthly_rankings(values, svc, insp, rules, months)
    assert len(monthly) == len(months) * 30
    for month in (months[0], pd.Timestamp("2023-02-01")):
        p, _ = panel.build_panel(tables, svc, pop, month.date(), rules.lag_months)
        ev = scores.indicator_evidence(p)
        expect = scores.concern_scores(svc, ev, scores.inspection_history(insp, month.date()), rules.weights)
        got = monthly[monthly["as_of"] == month].set_index("yjs_id")
        expect = expect.set_index("yjs_id").loc[got.index]
        np.testing.assert_allclose(got["concern_score"], expect["concern_score"], rtol=1e-12)
        assert (got["rank"] == expect["rank"]).all()


def test_each_months_league_table_and_features_are_those_of_its_own_panel(small):
    """The monthly rankings join their tables to the month x service grid by
    array look-ups; each month's league table and outcome-model features are
    those computed from that month's panel alone, also where a period end
    has figures of two period lengths (both count in the league table)."""
    svc, pop, tables, insp, values = small
    rules = RankingRules()
    twice = values[(values["indicator"] == "reoffending") & (values["period_end"] >= "2022-01-01")]
    twice = twice.assign(period_months=twice["period_months"] * 2, rate=twice["rate"][::-1].to_numpy())
    values = pd.concat([values, twice], ignore_index=True)
    months = rankings.backtest_months(values, rules.lag_months, AS_OF)
    monthly = rankings.monthly_rankings(values, svc, insp, rules, months)
    for month in (months[0], pd.Timestamp("2023-02-01"), months[-1]):
        cut = values[values["period_end"] <= panel.indicator_cutoff(month.date(), rules.lag_months)]
        got = monthly[monthly["as_of"] == month].set_index("yjs_id")
        league = rankings.league_table(cut).reindex(got.index)
        np.testing.assert_allclose(got["league_table"], league, rtol=1e-14)  # the sum in another order
        ev = scores.indicator_evidence(cut)
        expect = outcome.features(svc[["yjs_id"]], ev, scores.inspection_history(insp, month.date()),
                                  outcome.service_size(cut)).set_index("yjs_id").loc[got.index]
        np.testing.assert_allclose(got[outcome.FEATURES], expect[outcome.FEATURES], rtol=1e-12)


def test_a_month_without_a_services_figures_never_picks_it_as_the_refresh_would_not(small):
    """The refresh recommends no visit to a service without indicator figures
    (its score is its inspection terms alone); the back-test's picks follow
    the same rule, so what it measures is the method the refresh applies."""
    svc, pop, tables, insp, values = small
    rules = RankingRules(n_full_joint=16)  # of 30: a service ranked by its inspection alone is among them
    late = "svc-00"  # its figures start in 2023; inadequate and never revisited: high concern
    values = values[(values["yjs_id"] != late) | (values["period_end"] >= "2023-01-01")].reset_index(drop=True)
    insp = pd.concat([insp[insp["yjs_id"] != late], factories.inspections([(late, "2012-01-15", "Inadequate", 4)])],
                     ignore_index=True)
    months = rankings.backtest_months(values, rules.lag_months, AS_OF)
    monthly = rankings.monthly_rankings(values, svc, insp, rules, months)
    mine = monthly["yjs_id"] == late
    first = values.loc[values["yjs_id"] == late, "period_end"].min()
    cutoff = monthly["as_of"].map(lambda m: pd.Timestamp(panel.indicator_cutoff(m.date(), rules.lag_months)))
    early = mine & (cutoff < first)  # no period of its figures published by the month
    assert early.any() and not monthly.loc[early, "evidenced"].any()
    assert monthly.loc[mine & ~early, "evidenced"].all() and monthly.loc[~mine, "evidenced"].all()
    assert (monthly.loc[early, "rank"] <= rules.n_full_joint).any()  # it would have been picked
    picks = run.positions(monthly, monthly[["concern_score"]], rules)["concern_score_pick"]
    assert (picks[early] == 0).all()
    top = monthly.loc[early, "as_of"]
    assert np.allclose(picks[monthly["as_of"].isin(top)].groupby(monthly["as_of"]).sum(), rules.n_full_joint)
    # the refresh of one of those months gives it no visit either
    month = top.iloc[0]
    p, _ = panel.build_panel(tables, svc, pop, month.date(), rules.lag_months)
    p = p[(p["yjs_id"] != late)]
    ev = scores.indicator_evidence(p)
    ranked = scores.concern_scores(svc, ev, scores.inspection_history(insp, month.date()), rules.weights)
    listed = targets.recommend(ranked, ev, rules, month.date()).set_index("yjs_id")
    assert listed.loc[late, "recommendation"] == "monitor"
    assert listed.loc[late, "rank"] == monthly.loc[early & (monthly["as_of"] == month), "rank"].iloc[0]


def test_each_later_inspection_is_scored_once_by_the_month_before_it():
    months = pd.date_range("2020-01-01", "2023-12-01", freq="MS")
    monthly = pd.DataFrame([(m, s) for m in months for s in ("a", "b", "c")], columns=["as_of", "yjs_id"])
    insp = factories.inspections([("a", "2020-06-20", "Good", 2), ("a", "2021-03-01", "Inadequate", 4),
                                  ("b", "2023-05-02", "Requires improvement", 3),
                                  ("c", "2024-02-01", "Inadequate", 4)])
    out = outcomes.later_outcomes(monthly, insp, as_of=dt.date(2023, 12, 31))
    scored = out[out["scored_inspection"]]
    assert scored[["as_of", "yjs_id"]].astype(str).values.tolist() == [
        ["2020-05-01", "a"], ["2021-02-01", "a"], ["2023-04-01", "b"]]  # c: published after as_of
    row = out[(out["yjs_id"] == "a") & (out["as_of"] == "2020-07-01")].iloc[0]
    assert row["next_published"] == pd.Timestamp("2021-03-01") and row["adverse"]
    b_early = out[(out["yjs_id"] == "b") & (out["as_of"] == "2020-01-01")].iloc[0]
    assert pd.isna(b_early["adverse"])  # nothing within 24 months
    assert out.loc[out["yjs_id"] == "c", "adverse"].isna().all()
    assert not out.loc[out["as_of"] >= "2022-01-01", "window_complete"].any()


def test_later_outcomes_are_the_forward_as_of_join_by_service():
    """``later_outcomes`` finds each row's next inspection by one search;
    it is pandas' forward as-of join (strictly later, by service)."""
    rng = np.random.default_rng(11)
    months = pd.date_range("2018-01-01", "2023-12-01", freq="MS")
    monthly = pd.DataFrame([(m, s) for m in months for s in "abcde"], columns=["as_of", "yjs_id"])
    dates = pd.Timestamp("2017-06-01") + pd.to_timedelta(rng.integers(0, 2600, 40), "D")
    insp = factories.inspections([(s, str(d.date()), "Good" if r < 3 else "Inadequate", r) for s, d, r in zip(
        rng.choice(list("abcdx"), 40), dates, rng.integers(1, 5, 40))])
    insp = insp.drop_duplicates(["yjs_id", "published"])
    insp.loc[insp.index[:3], "published"] = [pd.Timestamp("2020-03-01")] * 3  # a month's own date; ties
    as_of = dt.date(2023, 6, 30)
    out = outcomes.later_outcomes(monthly, insp, as_of)
    seen = insp[insp["published"] <= pd.Timestamp(as_of)].sort_values("published")
    expect = pd.merge_asof(monthly, seen[["yjs_id", "published", "rating_score"]], left_on="as_of",
                           right_on="published", by="yjs_id", direction="forward", allow_exact_matches=False)
    within = expect["published"] <= expect["as_of"] + pd.DateOffset(months=24)
    np.testing.assert_array_equal(out["next_published"], expect["published"].where(within))
    np.testing.assert_array_equal(out["next_rating_score"], expect["rating_score"].where(within))
    np.testing.assert_array_equal(out["adverse"].fillna(False), within & (expect["rating_score"] >= 3))
    assert (out["adverse"].isna() == ~within).all()


def test_later_outcomes_with_no_inspection_on_record_find_none():
    """A back-test month with no inspection published by the as-of date (an
    early as-of; the ratings on record begin later) has no next inspection:
    no error."""
    monthly = pd.DataFrame({"as_of": pd.to_datetime(["2019-01-01", "2019-02-01"]), "yjs_id": ["a", "b"]})
    later = factories.inspections([("a", "2021-03-01", "Good", 2)])
    for insp in (later, later.iloc[:0]):  # published after the as-of date; none at all
        out = outcomes.later_outcomes(monthly, insp, dt.date(2019, 6, 30))
        assert out["next_published"].isna().all() and out["next_rating"].isna().all()
        assert out["adverse"].isna().all() and not out["scored_inspection"].any()
        assert out["next_rating_score"].dtype == float


def test_later_outcomes_rating_scores_are_floats_when_every_row_has_one():
    """The published ``next_rating_score`` keeps one type whether or not
    some rows have no next inspection."""
    monthly = pd.DataFrame({"as_of": pd.to_datetime(["2020-01-01", "2020-01-01"]), "yjs_id": ["a", "b"]})
    insp = factories.inspections([("a", "2020-06-01", "Good", 2), ("b", "2020-07-01", "Inadequate", 4)])
    out = outcomes.later_outcomes(monthly, insp, dt.date(2021, 6, 30))
    assert out["next_rating_score"].dtype == float and out["next_rating_score"].tolist() == [2.0, 4.0]


def test_an_inspection_whose_rating_is_unknown_is_no_outcome():
    """An inspection kept with its rating unknown (its rows disagree: ingest.inspections) is the next
    inspection, but no outcome: not scored, adverse unknown (it had read as not adverse), and not a
    training row for the model."""
    monthly = pd.DataFrame({"as_of": pd.to_datetime(["2020-05-01", "2020-06-01"]), "yjs_id": ["a", "b"]})
    insp = factories.inspections([("a", "2020-06-01", None, 0), ("b", "2020-07-01", "Inadequate", 4)])
    insp["rating_score"] = pd.array([pd.NA, 4], dtype="Int64")
    out = outcomes.later_outcomes(monthly, insp, dt.date(2023, 6, 30))
    assert out["next_published"].tolist() == [pd.Timestamp("2020-06-01"), pd.Timestamp("2020-07-01")]
    assert out["adverse"].tolist() == [pd.NA, True] and out["scored_inspection"].tolist() == [False, True]
    for c in outcome.FEATURES:
        monthly[c] = 0.0
    table = outcome.training_table(monthly, insp, dt.date(2023, 6, 30))
    assert table["yjs_id"].tolist() == ["b"] and table["adverse"].tolist() == [True]
    assert table["adverse"].dtype == bool


@pytest.fixture(scope="module")
def small_monthly(small):
    """Every month's ranking of the small data, under the default rules."""
    svc, _, _, insp, values = small
    rules = RankingRules()
    return rankings.monthly_rankings(values, svc, insp, rules,
                                     rankings.backtest_months(values, rules.lag_months, AS_OF))


@pytest.fixture
def few_outcomes_enough(monkeypatch):
    """A model from 10 outcomes, 3 of each (the small data have 30 inspections)."""
    monkeypatch.setattr(outcome, "MIN_TRAIN", 10)
    monkeypatch.setattr(outcome, "MIN_CLASS", 3)


def test_the_model_is_refitted_only_on_outcomes_published_by_each_month(
        small, small_monthly, few_outcomes_enough, monkeypatch):
    insp, monthly = small[3], small_monthly
    seen = []
    real = outcome.refit
    def recording(table, name, X=None):
        seen.append(table["published"].max())
        return real(table, name, X)

    monkeypatch.setattr(outcome, "refit", recording)
    logit = outcomes.model_logits(monthly, insp, AS_OF, "logistic")
    assert seen and np.isfinite(logit).any()
    first = monthly.loc[np.isfinite(logit), "as_of"].min()
    assert seen[0] <= first  # the first model only knew outcomes published by its month
    assert sorted(seen) == seen and len(set(seen)) == len(seen)  # refitted only on new outcomes
    # the numpy refits give scikit-learn's scores: refitting with it in each month agrees
    monkeypatch.setattr(outcome, "refit", lambda table, name, X=None: outcome.fit_estimator(table, name))
    np.testing.assert_allclose(outcomes.model_logits(monthly, insp, AS_OF, "logistic"), logit,
                               rtol=0, atol=1e-10)


def test_a_model_weight_moves_the_backtested_concern_score_as_in_the_refresh():
    monthly = pd.DataFrame({"as_of": [1, 1, 1, 2, 2, 2], "concern_score": [1.0, 0.0, -1.0] * 2,
                            "league_table": 0.5, "months_since": [1.0, np.nan, 30.0] * 2})
    logit = np.array([np.nan, np.nan, np.nan, -2.0, 0.0, 2.0])
    plain = run.model_method_scores(monthly, logit, weight=0.0)
    pd.testing.assert_series_equal(plain["concern_score"], monthly["concern_score"])
    weighted = run.model_method_scores(monthly, logit, weight=1.0)
    assert weighted["concern_score"].iloc[:3].tolist() == [1.0, 0.0, -1.0]  # no model yet: term 0
    np.testing.assert_allclose(weighted["concern_score"].iloc[3:], weighted["concern_plus_model"].iloc[3:])
    assert weighted["concern_plus_model"].iloc[:3].isna().all()
    plain_methods = run.plain_method_scores(monthly)
    assert plain_methods["time_since_inspection"].iloc[1] == np.inf  # never inspected: longest


@pytest.mark.parametrize("family", ["logistic", "boosting"])
def test_a_model_family_known_only_later_gives_the_same_backtest(
        small, small_monthly, few_outcomes_enough, family):
    # the refresh passes a function that waits for the model fitted in its worker
    insp, rules, asked = small[3], RankingRules(), []

    def pending():
        asked.append(True)
        return family

    later = run.run_backtest(small_monthly, insp, rules, AS_OF, family=pending)
    known = run.run_backtest(small_monthly, insp, rules, AS_OF, family=family)
    assert asked == [True] and np.isfinite(known.scores["outcome_model_score"]).sum() > 100
    pd.testing.assert_frame_equal(later.scores, known.scores, check_exact=True)
    pd.testing.assert_frame_equal(later.metrics, known.metrics, check_exact=True)
    pd.testing.assert_frame_equal(later.curves, known.curves, check_exact=True)


@pytest.mark.parametrize("family, ready, made, metrics, scored", [
    ("logistic", [False], 1, 1, ["logistic"]),  # the guess is kept
    ("boosting", [False], 2, 2, ["logistic", "boosting"]),  # the guess is made and dropped
    ("boosting", [False, False, True], 2, 1, ["logistic", "boosting"]),  # in during the guess
    ("boosting", [True], 1, 1, ["boosting"]),  # known in time: no guess, not even its scores
])
def test_the_backtest_guesses_the_logistic_model_only_while_it_cannot_know(
        small, small_monthly, few_outcomes_enough, monkeypatch, family, ready, made, metrics, scored):
    insp, rules, calls = small[3], RankingRules(), []
    real, real_metrics, real_logits = run._results, run.metrics_table, run.model_logits
    monkeypatch.setattr(run, "_results", lambda *args: calls.append("results") or real(*args))
    monkeypatch.setattr(run, "metrics_table", lambda *args: calls.append("metrics") or real_metrics(*args))
    monkeypatch.setattr(run, "model_logits", lambda *args: calls.append(args[3]) or real_logits(*args))
    answers = iter(ready)

    def pending():
        return family

    pending.ready = lambda: next(answers, ready[-1])
    later = run.run_backtest(small_monthly, insp, rules, AS_OF, family=pending)
    assert (calls.count("results"), calls.count("metrics")) == (made, metrics)
    assert [c for c in calls if c in ("logistic", "boosting")] == scored  # model_logits' family
    known = run.run_backtest(small_monthly, insp, rules, AS_OF, family=family)
    pd.testing.assert_frame_equal(later.scores, known.scores, check_exact=True)
    pd.testing.assert_frame_equal(later.metrics, known.metrics, check_exact=True)


def test_the_model_fitted_from_its_training_months_alone_is_the_model_of_every_month(
        small, small_monthly, few_outcomes_enough, monkeypatch):
    # the refresh's worker ranks only the months the model learns from, and fits; the small data's 22
    # inspections give a model validated out of time at thresholds lower still
    monkeypatch.setattr(outcome, "MIN_TRAIN", 4)
    monkeypatch.setattr(outcome, "MIN_CLASS", 2)
    svc, _, _, insp, values = small
    rules = RankingRules()
    months = rankings.backtest_months(values, rules.lag_months, AS_OF)
    used = rankings.training_months(insp, months, AS_OF)
    table = outcome.training_table(small_monthly, insp, AS_OF)
    assert 0 < len(used) < len(months) and set(table["as_of"]) == set(used)
    early = rankings.fit_outcome_model(values, svc[["yjs_id"]], insp, rules, months, AS_OF)
    full = outcome.fit(table)
    assert early.fitted and (early.name, early.n_train, early.n_adverse) == (full.name, full.n_train,
                                                                            full.n_adverse)
    assert early.calibration == full.calibration
    X = outcome.matrix(table)
    np.testing.assert_array_equal(outcome.decision(early.estimator, X), outcome.decision(full.estimator, X))
    pd.testing.assert_frame_equal(early.metrics, full.metrics, check_exact=True)


def test_a_date_before_enough_history_gives_an_empty_backtest_not_a_failure(small):
    svc, _, _, insp, values = small
    early = values[values["period_end"] < "2019-06-30"]
    assert rankings.backtest_months(early, 3, dt.date(2019, 9, 1)) == []
    monthly = rankings.monthly_rankings(early, svc, insp, RankingRules(), [])
    bt = run.run_backtest(monthly, insp, RankingRules(), dt.date(2019, 9, 1))
    assert bt.scores.empty and (bt.metrics["n_inspections"] == 0).all()
    assert (bt.metrics["note"] == "scored no inspection").all()  # not 'fewer than 20 ...: read the interval'
    assert set(bt.metrics["method"]) == set(run.METHODS)
    # no ranked month to learn from, whether or not inspections were published by then: no model, no error
    for as_of, published in ((dt.date(2019, 9, 1), True), (dt.date(2018, 6, 1), False)):
        assert ((pd.to_datetime(insp["published"]) <= pd.Timestamp(as_of)).sum() > 0) == published
        assert outcome.training_table(monthly, insp, as_of).empty
        for model in (outcome.fit(outcome.training_table(monthly, insp, as_of)),
                      rankings.fit_outcome_model(early, svc, insp, RankingRules(), [], as_of)):
            assert not model.fitted and model.n_train == 0
    typed = rankings.monthly_rankings(values, svc, insp, RankingRules(), [pd.Timestamp("2023-01-01")])
    pd.testing.assert_series_equal(monthly.dtypes, typed.dtypes)


def test_a_count_many_times_too_large_is_scored_and_learned_from_not_a_failure(small, few_outcomes_enough):
    # one service's first-time entrants 25 times its figure in 2020: the
    # exact mid-p tail underflows; its z was infinite and the outcome model's
    # fit failed ("Input X contains infinity") in every month after it
    svc, pop, tables, insp, _ = small
    fte = tables["first_time_entrants"].copy()
    wrong = (fte["yjs_id"] == "svc-03") & (fte["period_end"].dt.year == 2020)
    fte.loc[wrong, "fte_count"] *= 25
    values, _ = panel.build_panel({**tables, "first_time_entrants": fte}, svc, pop, AS_OF, 3)
    rules = RankingRules()
    monthly = rankings.monthly_rankings(values, svc, insp, rules,
                                        rankings.backtest_months(values, rules.lag_months, AS_OF))
    z = values.loc[values["yjs_id"].eq("svc-03") & values["indicator"].eq("fte")
                   & values["period_end"].dt.year.eq(2020), "z_unadjusted"]
    assert len(z) == 1 and 37.5 < z.iloc[0] < np.inf  # past a double's smallest tail, finite
    numbers = monthly.select_dtypes("number")
    assert not np.isinf(numbers.drop(columns=["months_since"], errors="ignore").to_numpy()).any()
    bt = run.run_backtest(monthly, insp, rules, AS_OF, family="logistic")
    assert np.isfinite(bt.scores["outcome_model_score"]).sum() > 100


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("backtest") / "warehouse.duckdb"
    result = run_refresh(DEMO_DIR, db)
    assert result.success
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {t: con.execute(f"SELECT * FROM {t}").df()
                  for t in ("backtest_scores", "backtest_metrics", "inspection_targets", "inspections")}
    mats = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return tables, mats, db


def test_backtest_metrics_are_published_for_every_method_with_their_numbers(demo):
    tables, _, _ = demo
    m = tables["backtest_metrics"]
    assert set(m["method"]) == set(run.METHODS) and set(m["sample"]) == {"common", "all"}
    for col in ("auc", "caught_top10", "caught_top20", "pick_precision"):
        ok = m[col].notna()
        assert ok.all() and (m.loc[ok, f"{col}_low"] <= m.loc[ok, col]).all()
        assert (m.loc[ok, col] <= m.loc[ok, f"{col}_high"]).all()
    assert (m["n_inspections"] > 100).all() and (m["n_adverse"] < m["n_inspections"]).all()
    small = (m["n_adverse"] < mt.SMALL) | (m["n_picked"] < mt.SMALL)
    assert (m["small_numbers"] == small).all() and (m.loc[small, "note"].str.len() > 0).all()
    common = m[m["sample"] == "common"]
    assert common["n_inspections"].nunique() == 1  # like for like


def test_backtest_scores_count_each_inspection_once(demo):
    tables, _, _ = demo
    s, insp = tables["backtest_scores"], tables["inspections"]
    scored = s[s["scored_inspection"]]
    assert not scored.duplicated(["yjs_id", "next_published"]).any()
    assert (pd.to_datetime(scored["next_published"]) > pd.to_datetime(scored["as_of"])).all()
    assert len(scored) <= len(insp) and scored["adverse"].notna().all()
    assert s.loc[s["next_published"].isna(), "adverse"].isna().all()
    assert pd.to_datetime(s["as_of"]).max() == pd.Timestamp("2026-11-01")


def test_the_refresh_shows_the_backtest_and_the_model_in_the_ui(demo):
    tables, mats, _ = demo
    md = mats["backtest_metrics"]
    assert "caught in riskiest 10% (chance: 10%)" in md["metrics"].value
    # the demo's figures are said to be synthetic, in both views and on the chart itself, as the list's are
    assert md["metrics"].value.startswith(SYNTHETIC_BANNER) and md["catch_curve"].value.startswith(SYNTHETIC_BANNER)
    assert md["catch_curve"].value.startswith(SYNTHETIC_BANNER + "*Back-test to 2026-11-01: the months ranked up to "
                                              "then.*\n\n![")
    assert "data:image/svg+xml;base64," in md["catch_curve"].value
    image = base64.b64decode(md["catch_curve"].value.split("base64,", 1)[1].rstrip(")"), validate=True)
    curves = [e for e in ET.fromstring(image).iter("{http://www.w3.org/2000/svg}path") if e.get("class") == "curve"]
    assert len(image) < 40_000 and 0 < len(curves) <= tables["backtest_metrics"]["method"].nunique()
    assert b"concern score (pipeline)" in image  # one line a method that scored, named in the legend
    assert b"SYNTHETIC demo data" in image
    model = mats["outcome_model"]
    assert model["model"].value in {"logistic", "boosting"} and "auc" in model["cv_metrics"].value
    p = tables["inspection_targets"]["adverse_probability"]
    assert p.notna().all() and p.between(0, 1).all()
