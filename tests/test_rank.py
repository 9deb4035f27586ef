"""The ranked list's rules and reasons, without Dagster."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.model import panel, scores
from pipeline.rank import targets
from pipeline.settings import RankingRules, SettingsError
from tests import factories as f

AS_OF = dt.date(2025, 6, 1)


def ranked(quality, inspection_rows=(), rules=RankingRules(), n=30, without_figures=()):
    svc = f.services(n)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, rules.lag_months)
    ev = scores.indicator_evidence(values)
    ev = ev[~ev["yjs_id"].isin(without_figures)]
    history = scores.inspection_history(f.inspections(inspection_rows), AS_OF)
    sc = scores.concern_scores(svc, ev, history, rules.weights)
    return targets.recommend(sc, ev, rules, AS_OF)


@pytest.fixture(scope="module")
def quality():
    q = np.random.default_rng(7).normal(0, 0.6, 30)
    q[[0, 1, 2]] = [2.5, 2.2, 2.0]
    q[[3, 4]] = [-2.5, -2.2]
    return q


def test_one_row_per_service_with_the_contract_counts(quality):
    out = ranked(quality)
    assert len(out) == 30 and out["yjs_id"].is_unique
    assert (out["recommendation"] == "full_joint_inspection").sum() == 8
    assert (out["recommendation"] == "benchmark_visit").sum() == 2
    assert list(out["rank"]) == list(range(1, 31))
    assert (out["rank_low"] <= out["rank"]).all() and (out["rank"] <= out["rank_high"]).all()
    assert out["reasons"].str.len().gt(20).all()


def test_the_worst_services_are_picked_and_the_best_benchmarked(quality):
    out = ranked(quality).set_index("yjs_id")
    for s in ("svc-00", "svc-01", "svc-02"):
        assert out.loc[s, "recommendation"] == "full_joint_inspection"
    assert set(out.index[out["recommendation"] == "benchmark_visit"]) == {"svc-03", "svc-04"}


def test_recently_inspected_services_are_excluded(quality):
    rows = [("svc-00", "2025-01-10", "Inadequate", 4), ("svc-03", "2024-12-01", "Outstanding", 1)]
    out = ranked(quality, rows).set_index("yjs_id")
    assert out.loc["svc-00", "recommendation"] == "monitor"
    assert out.loc["svc-03", "recommendation"] == "monitor"
    assert "not eligible" in out.loc["svc-00", "reasons"]
    assert out.loc["svc-00", "months_since_inspection"] == 4
    assert (out["recommendation"] == "full_joint_inspection").sum() == 8


def test_benchmark_needs_a_good_last_rating(quality):
    rows = [("svc-03", "2021-01-10", "Requires improvement", 3)]
    out = ranked(quality, rows).set_index("yjs_id")
    assert out.loc["svc-03", "recommendation"] == "monitor"


def test_fewer_benchmarks_when_fewer_qualify():
    out = ranked(np.r_[2.5, np.zeros(29)])
    assert (out["recommendation"] == "benchmark_visit").sum() == 0


def test_reasons_cite_the_figures(quality):
    rows = [("svc-00", "2019-05-20", "Requires improvement", 3)]
    out = ranked(quality, rows).set_index("yjs_id")
    text = out.loc["svc-00", "reasons"]
    assert "vs" in text and "national" in text and "z " in text
    assert "above the 99.8% limit" in text
    assert "last inspected 2019-05, Requires improvement" in text
    bench = out[out["recommendation"] == "benchmark_visit"]["reasons"]
    assert bench.str.startswith("better than national on").all()


def test_configurable_capacity_and_exclusion(quality):
    out = ranked(quality, rules=RankingRules(n_full_joint=3, n_benchmark=1, exclusion_months=0))
    assert (out["recommendation"] == "full_joint_inspection").sum() == 3
    assert (out["recommendation"] == "benchmark_visit").sum() == 1


@pytest.mark.parametrize("kwargs", [{"n_full_joint": -1}, {"lag_months": 100},
                                    {"weights": {"fte": -2.0}},
                                    {"weights": dict.fromkeys(RankingRules().weights, 0.0)}])
def test_invalid_rules_are_refused(kwargs):
    with pytest.raises(SettingsError):
        RankingRules(**kwargs)
    RankingRules(weights={**dict.fromkeys(RankingRules().weights, 0.0), "outcome_model": 1.0})  # one is enough


def test_a_service_without_indicator_figures_is_never_picked(quality):
    rules = RankingRules(n_full_joint=30, n_benchmark=2, exclusion_months=0)
    out = ranked(quality, rules=rules, without_figures=["svc-01", "svc-03"]).set_index("yjs_id")
    assert (out["recommendation"] == "full_joint_inspection").sum() == 28  # all the others
    for s in ("svc-01", "svc-03"):  # the worst and the best on the indicators, had they been known
        assert out.loc[s, "recommendation"] == "monitor"
        assert out.loc[s, "reasons"].startswith("no indicator data, so no visit is recommended")


def test_with_no_indicator_figures_at_all_every_service_is_monitored(quality):
    ids = [f"svc-{i:02d}" for i in range(30)]
    rows = [("svc-07", "2020-02-01", "Inadequate", 4)]
    out = ranked(quality, rows, without_figures=ids)
    assert (out["recommendation"] == "monitor").all()
    # nothing tells the 29 never-inspected services apart: each interval spans all their ranks
    tied = out[out["yjs_id"] != "svc-07"]
    assert tied["concern_score"].nunique() == 1
    assert (tied["rank_low"] == tied["rank"].min()).all() and (tied["rank_high"] == tied["rank"].max()).all()
