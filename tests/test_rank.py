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


def ranked(quality, inspection_rows=(), rules=RankingRules(), n=30, without_figures=(), without=(),
           inspections_from=None):
    svc = f.services(n)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, rules.lag_months)
    ev = scores.indicator_evidence(values)
    ev = ev[~ev["yjs_id"].isin(without_figures)]
    ev = ev[np.array([(i, k) not in without for i, k in zip(ev["yjs_id"], ev["indicator"])], dtype=bool)]
    history = scores.inspection_history(f.inspections(inspection_rows), AS_OF)
    sc = scores.concern_scores(svc, ev, history, rules.weights)
    return targets.recommend(sc, ev, rules, AS_OF, inspections_from)


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
    # first, as it is what decides (rank 1 passed over)
    assert out.loc["svc-00", "reasons"].startswith("not eligible: inspected within the last 12 months; ")
    assert out.loc["svc-00", "months_since_inspection"] == 4
    assert (out["recommendation"] == "full_joint_inspection").sum() == 8


def test_benchmark_needs_a_good_last_rating(quality):
    rows = [("svc-03", "2021-01-10", "Requires improvement", 3)]
    out = ranked(quality, rows).set_index("yjs_id")
    assert out.loc["svc-03", "recommendation"] == "monitor"


def test_an_inspection_whose_rating_is_unknown_still_counts(quality):
    """An inspection listed twice with two ratings is kept, its rating unknown (ingest.inspections):
    recently inspected, the service is excluded; its rating term is neutral; an unknown rating is no
    good rating for a benchmark; the reasons say it is unknown (they had said "None")."""
    frame = f.inspections([("svc-00", "2025-01-10", None, 0), ("svc-03", "2021-01-10", None, 0)])
    frame["rating_score"] = pd.array([pd.NA, pd.NA], dtype="Int64")
    svc = f.services(30)
    history = scores.inspection_history(frame, AS_OF).set_index("yjs_id")
    assert history.loc["svc-00", "months_since_inspection"] == 4
    assert np.isnan(history.loc["svc-00", "last_rating_score"])
    out = ranked(quality, [("svc-00", "2025-01-10", "Inadequate", 4), ("svc-03", "2021-01-10", "Outstanding", 1)])
    ours = ranked_with(quality, frame, svc).set_index("yjs_id")
    assert ours.loc["svc-00", "recommendation"] == "monitor"
    assert ours.loc["svc-00", "reasons"].startswith("not eligible: inspected within the last 12 months; ")
    assert ("; last inspected 2025-01, rating unknown (its records disagree: see the inspections' rating_note)"
            in ours.loc["svc-00", "reasons"])
    assert ours.loc["svc-00", "concern_last_rating"] == 0
    # svc-03 is one of the two best: benchmarked when last rated Outstanding, not when its rating is unknown
    assert out.set_index("yjs_id").loc["svc-03", "recommendation"] == "benchmark_visit"
    assert ours.loc["svc-03", "recommendation"] == "monitor"


def test_a_rating_inferred_from_its_score_is_said_to_be(quality):
    """A rating whose cell could not be read, given by its score on the 2018 framework (ingest.inspections:
    the real scrape's Portsmouth), has a rating_note: the reasons say the rating is inferred (they had
    read "Good" as if published); it still counts as the rating it is, a good one for a benchmark."""
    rows = [("svc-03", "2021-01-10", "Outstanding", 1), ("svc-04", "2021-02-10", "Good", 2),
            ("svc-05", "2021-03-10", "Good", 2)]
    frame = f.inspections(rows).assign(rating_note=[
        "overall_rating not read ('1 The resettlement...' is not a rating); rated from score_% 91.67: 33 of 36 "
        "points", None, "rated from score_% 61.11: 22 of 36 points"])
    ours = ranked_with(quality, frame, f.services(30)).set_index("yjs_id")
    plain = ranked_with(quality, f.inspections(rows), f.services(30)).set_index("yjs_id")
    assert "; last inspected 2021-01, Outstanding (inferred from its score: see the inspections' rating_note); " \
        in ours.loc["svc-03", "reasons"]
    assert "; last inspected 2021-03, Good (inferred from its score: see the inspections' rating_note); " \
        in ours.loc["svc-05", "reasons"]
    assert "; last inspected 2021-02, Good; " in ours.loc["svc-04", "reasons"]
    assert "inferred" not in "".join(plain["reasons"])
    assert ours.loc["svc-03", "recommendation"] == plain.loc["svc-03", "recommendation"] == "benchmark_visit"
    assert ours.drop(columns="reasons").equals(plain.drop(columns="reasons"))

def ranked_with(quality, inspections: pd.DataFrame, svc: pd.DataFrame, rules=RankingRules()):
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, rules.lag_months)
    ev = scores.indicator_evidence(values)
    sc = scores.concern_scores(svc, ev, scores.inspection_history(inspections, AS_OF), rules.weights)
    return targets.recommend(sc, ev, rules, AS_OF)


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


def test_a_service_whose_figures_none_could_be_compared_is_not_said_to_have_none(quality):
    # svc-00's every figure is of periods too few services report (one each): no evidence, but figures
    svc = f.services(30)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    # svc-02: its reoffending of periods of its own, its custody missing (first-time entrants below)
    own = {k: (t["yjs_id"] == "svc-00") | ((t["yjs_id"] == "svc-02") & (k == "reoffending"))
           for k, t in tables.items()}
    date = {k: next(c for c in ("period_end", "cohort_end") if c in t) for k, t in tables.items()}
    tables = {k: t.assign(**{date[k]: t[date[k]].where(~own[k], t[date[k]] - pd.offsets.MonthEnd(2))})
              for k, t in tables.items()}
    tables["custody"] = tables["custody"][tables["custody"]["yjs_id"] != "svc-02"]
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, 3)
    # svc-01's every figure suppressed: it has none to compare, and is said to have no data, as before (QA: it
    # had been said to have figures none of which could be compared)
    hidden = values["yjs_id"] == "svc-01"
    # svc-02's first-time entrants suppressed, and its latest reoffending figure
    mix = values[(values["yjs_id"] == "svc-02") & (values["indicator"] == "reoffending")]
    hidden |= (values["yjs_id"] == "svc-02") & (values["indicator"] == "fte")
    hidden |= values.index == mix["period_end"].idxmax()
    values.loc[hidden, ["numerator", "rate", "national_rate", "expected", "z_score"]] = np.nan
    values.loc[hidden, "suppressed"] = True
    ev = scores.indicator_evidence(values)
    assert not (ev["yjs_id"] == "svc-00").any() and values.loc[values["yjs_id"] == "svc-00", "rate"].notna().any()
    assert not (ev["yjs_id"] == "svc-01").any()
    sc = scores.concern_scores(svc, ev, scores.inspection_history(f.inspections(()), AS_OF), RankingRules().weights)
    out = targets.recommend(sc, ev, RankingRules(), AS_OF, values=values).set_index("yjs_id")
    text = out.loc["svc-00", "reasons"]
    assert text.startswith(targets.NO_EVIDENCE) and targets.NO_FIGURES not in text
    assert "its first-time entrants figures are not compared with national: their periods" in text
    assert "indicators: none compared with national" in text
    assert out.loc["svc-00", "recommendation"] == "monitor"
    suppressed = out.loc["svc-01", "reasons"]
    assert suppressed.startswith(targets.NO_FIGURES) and "indicators: no data" in suppressed
    assert "its first-time entrants figures in the years pooled (3 years to Dec 2024) are suppressed" in suppressed
    # a published figure behind a suppressed latest one is said (QA: it had read "no indicator data" and
    # "suppressed"), and the indicator it has no figures for is named (QA: left unsaid without evidence)
    mixed = out.loc["svc-02", "reasons"]
    assert mixed.startswith(targets.NO_EVIDENCE + "; no figures for custodial sentences; ")
    assert "its first-time entrants figures in the years pooled (3 years to Dec 2024) are suppressed" in mixed
    assert "its proven reoffending figures are not compared with national: their periods (latest " in mixed
    others = out.drop(index=["svc-00", "svc-01", "svc-02"])["reasons"]
    assert not others.str.contains(targets.NO_EVIDENCE, regex=False).any()
    assert not others.str.contains("none compared", regex=False).any()


def test_with_no_indicator_figures_at_all_every_service_is_monitored(quality):
    ids = [f"svc-{i:02d}" for i in range(30)]
    rows = [("svc-07", "2020-02-01", "Inadequate", 4)]
    out = ranked(quality, rows, without_figures=ids)
    assert (out["recommendation"] == "monitor").all()
    # nothing tells the 29 never-inspected services apart, and nothing is known of anyone's indicators:
    # every interval is the whole list (svc-07's inspection alone does not make its place known)
    tied = out[out["yjs_id"] != "svc-07"]
    assert tied["concern_score"].nunique() == 1
    assert (out["rank_low"] == 1).all() and (out["rank_high"] == 30).all()


def test_a_service_without_indicator_figures_has_the_whole_list_for_its_rank_interval(quality):
    out = ranked(quality, without_figures=["svc-05"]).set_index("yjs_id")
    assert out.loc["svc-05", ["rank_low", "rank_high"]].tolist() == [1, 30]
    assert ((out.drop(index="svc-05")["rank_high"] - out.drop(index="svc-05")["rank_low"]) < 29).all()


def _evidence(**overrides) -> pd.DataFrame:
    row = {"indicator": "reoffending", "rate": 41.2, "national_rate": 31.0, "window_months": 36,
           "window_end": pd.Timestamp("2024-12-31"), "periods_used": 12, "period_months": 3,
           "last_period_end": pd.Timestamp("2024-12-31"), "z": 3.4, "band": "high_99.8", "trend_z": 0.5,
           "rising_periods": 0}
    return pd.DataFrame([{**row, **overrides}])


@pytest.mark.parametrize("overrides, span", [
    ({}, "3 years to Dec 2024"),
    ({"periods_used": 11}, "11 of the 12 quarters to Dec 2024"),
    # its periods need not run on: the others suppressed (Pembrokeshire's 4 quarters ran from Mar 2022)
    ({"periods_used": 1, "last_period_end": pd.Timestamp("2023-12-31")}, "1 of the 12 quarters to Dec 2024, latest Dec 2023"),
    ({"periods_used": 7, "last_period_end": pd.Timestamp("2024-06-30")}, "7 of the 12 quarters to Dec 2024, latest Jun 2024"),
    ({"indicator": "fte", "rate": 250.0, "national_rate": 140.0, "period_months": 12, "periods_used": 2},
     "2 of the 3 years to Dec 2024"),
])
def test_a_figure_says_what_periods_of_the_service_it_rests_on(overrides, span):
    # Ceredigion's one quarter to Dec 2023 had been labelled "3 years to Dec 2024"
    assert f"({span}; z 3.4, above the 99.8% limit)" in targets.indicator_phrases(_evidence(**overrides))[0]


@pytest.mark.parametrize("trend, text", [
    ({"trend_z": 2.2, "rising_periods": 3}, ", rising against national for 3 periods (trend z 2.2)"),
    ({"trend_z": 2.2}, ", rising against national (trend z 2.2)"),
    ({"trend_z": -2.5}, ", falling against national (trend z -2.5)"),
])
def test_a_trend_is_said_to_be_against_national(trend, text):
    # the run counts rises of the rate relative to national: a rate falling slower than the nation's rises
    assert targets.indicator_phrases(_evidence(**trend))[0].endswith(text)


@pytest.mark.parametrize("trend", [{"rising_periods": 2}, {"rising_periods": 2, "trend_z": 1.9},
                                   {"trend_z": -1.9}])
def test_a_trend_within_noise_is_not_told(trend):
    # two rises running are what noise gives one service in six: 'rising for 2 periods' had been
    # said of trend z 0.15
    assert targets.indicator_phrases(_evidence(**trend))[0].endswith("limit)")


@pytest.mark.parametrize("z, shown", [(1.955, "1.95"), (1.95996, "1.95"), (1.96, "2.0"), (3.08, "3.08"),
                                      (-3.089, "-3.08"), (3.0903, "3.1"), (2.44, "2.4"), (-0.01, "0.0")])
def test_a_z_score_is_never_rounded_across_a_limit(z, shown):
    # "z 2.0, within the limits" and "z 3.1, above the 95% limit" had contradicted their bands
    assert targets.z_text(z) == shown


def test_how_sure_each_full_joint_pick_is(quality):
    rows = [("svc-02", dt.date(2025, 1, 5).isoformat(), "Good", 2)]  # not eligible
    out = ranked(quality, rows).set_index("yjs_id")
    assert np.isnan(out.loc["svc-02", "p_full_joint"])
    pool = out["p_full_joint"].dropna()
    assert len(pool) == 29 and pool.sum() == pytest.approx(8.0)
    picks = out["recommendation"] == "full_joint_inspection"
    assert pool[picks].min() > 0 and pool[picks].mean() > pool[~picks[pool.index]].mean()
    close = out["p_full_joint"].between(0.25, 0.75, inclusive="left")
    assert (out["reasons"].str.contains("a close call") == close).all()


def test_a_close_call_says_which_way_it_went():
    rules = RankingRules()
    df = pd.DataFrame({"p_full_joint": [0.51, 0.49, 0.9, 0.1, np.nan],
                       "recommendation": ["full_joint_inspection", "monitor", "full_joint_inspection",
                                          "monitor", "monitor"]})
    text = targets.close_call_text(df, rules).tolist()
    assert text[0] == "; a close call: picked, but among the 8 highest eligible in only 51% of simulations"
    assert text[1] == "; a close call: not picked, though among the 8 highest eligible in 49% of simulations"
    assert text[2:] == ["", "", ""]


def test_fewer_picks_than_asked_are_explained():
    out = ranked(np.r_[2.5, np.zeros(29)])
    notes = targets.shortfall_notes(out, RankingRules())
    assert len(notes) == 1 and notes[0].startswith("No benchmark visit recommended (2 asked): a benchmark must be "
                                                   "significantly better than national (below the lower 95% limit)")
    rules = RankingRules(n_full_joint=40, n_benchmark=0)
    notes = targets.shortfall_notes(ranked(np.r_[2.5, np.zeros(29)], rules=rules), rules)
    assert notes == ["Only 30 full joint inspections recommended (40 asked): 30 services not inspected in the "
                     "last 12 months have indicator figures."]
    assert targets.shortfall_notes(ranked(np.r_[2.5, np.zeros(29)], rules=RankingRules(n_benchmark=0)),
                                   RankingRules(n_benchmark=0)) == []


def test_reasons_name_the_indicators_a_service_has_no_figures_for(quality):
    # Bexley (no population: no first-time entrants or custody figures) had read as if all three were compared
    out = ranked(quality, without={("svc-05", "fte"), ("svc-05", "custody")}).set_index("yjs_id")
    assert "; no figures for first-time entrants or custodial sentences; " in out.loc["svc-05", "reasons"]
    assert not out.drop(index="svc-05")["reasons"].str.contains("no figures for").any()


def test_no_inspection_on_record_says_from_when_the_inspections_read_start(quality):
    rows = [("svc-00", "2022-03-10", "Inadequate", 4)]
    out = ranked(quality, rows, inspections_from=pd.Timestamp("2021-03-04")).set_index("yjs_id")
    assert ("; no inspection on record (the inspections on record begin in March 2021: an earlier inspection "
            "would not show); concern ") in out.loc["svc-01", "reasons"]
    assert "; no inspection on record; concern " in ranked(quality, rows).set_index("yjs_id").loc["svc-01", "reasons"]


@pytest.mark.parametrize("key, rate, text", [("custody", 0.0, "0 per 1,000 aged 10-17"),
                                             ("custody", 0.004, "0.00 per 1,000 aged 10-17"),
                                             ("fte", 212.4, "212 per 100,000 aged 10-17"),
                                             ("reoffending", 41.25, "41.2%")])
def test_rates_as_analysts_write_them(key, rate, text):
    from pipeline.indicators import format_rate

    assert format_rate(key, rate) == text


def test_a_rate_of_quarters_says_it_is_a_quarters(quality):
    """First-time entrants by quarter had been written '67 per 100,000 aged 10-17', a quarter of the
    annual figure the words are read as; a proportion is the same whatever the period."""
    from pipeline.indicators import format_rate

    assert format_rate("fte", 67.2, months=3) == "67 per 100,000 aged 10-17 a quarter"
    assert format_rate("custody", 0.12, months=6) == "0.12 per 1,000 aged 10-17 a half-year"
    assert format_rate("fte", 67.2, months=24) == "67 per 100,000 aged 10-17 per 24 months"
    assert format_rate("reoffending", 41.25, months=3) == "41.2%"
    svc = f.services(30)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    fte = tables["first_time_entrants"]
    tables["first_time_entrants"] = pd.concat([  # each year as four quarters of a quarter of its count
        fte.assign(period_end=fte["period_end"] - pd.offsets.QuarterEnd(q), period_months=3,
                   fte_count=(fte["fte_count"] / 4).round()) for q in range(4)], ignore_index=True)
    values, _ = panel.build_panel(tables, svc, pop, AS_OF, 3)
    ev = scores.indicator_evidence(values)
    assert set(ev.loc[ev["indicator"] == "fte", "period_months"]) == {3}
    history = scores.inspection_history(f.inspections(()), AS_OF)
    rules = RankingRules()
    out = targets.recommend(scores.concern_scores(svc, ev, history, rules.weights), ev, rules, AS_OF)
    phrases = targets.indicator_phrases(ev)
    fte_phrases = [p for p, key in zip(phrases, ev["indicator"]) if key == "fte"]
    assert fte_phrases and all(" per 100,000 aged 10-17 a quarter vs " in p for p in fte_phrases)
    assert not any(" a quarter" in p for p, key in zip(phrases, ev["indicator"]) if key != "fte")
    assert out["reasons"].str.contains("per 100,000 aged 10-17 a quarter vs").any()


def test_the_concern_scores_parts_add_up_to_it_and_the_reasons_give_them(quality):
    # why Lancashire (rank 11, picked) was above Torbay (rank 12): the parts of the score were not shown
    out = ranked(quality, [("svc-00", "2019-05-20", "Requires improvement", 3)])
    parts = out[["concern_indicators", "concern_last_rating", "concern_time", "concern_outcome_model"]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(out["concern_score"].to_numpy(), abs=1e-9)
    assert (out["concern_outcome_model"] == 0).all()
    row = out.set_index("yjs_id").loc["svc-00"]
    tail = row["reasons"].rsplit("; concern ", 1)[1]
    assert tail.startswith(f"{row.concern_score:.2f} = indicators ")
    # the parts shown add up to the total shown (rounding: Reading's 0.84 + 0.75 - 0.12 had shown 1.46)
    for _, r in out.iterrows():
        total, parts = r["reasons"].rsplit("; concern ", 1)[1].split(" = ")
        shown = [float(p.rsplit(" ", 1)[1]) for p in parts.split(", ")]
        assert sum(shown) == pytest.approx(float(total), abs=1e-9) and float(total) == round(r["concern_score"], 2)
    assert row["concern_last_rating"] == pytest.approx(0.75 * (3 - 2.5) / 1.5 * 0.5 ** (72 / 36))


def test_an_outcome_model_term_in_the_score_is_its_own_part(quality):
    svc = f.services(30)
    pop = f.population(svc)
    values, _ = panel.build_panel(f.indicator_tables(svc, pop, np.asarray(quality, float)), svc, pop, AS_OF, 3)
    ev = scores.indicator_evidence(values)
    sc = scores.concern_scores(svc, ev, scores.inspection_history(f.inspections(()), AS_OF), RankingRules().weights)
    sc["concern_score"] += 0.3  # as outcome.blend adds the model's weighted term
    out = targets.recommend(sc, ev, RankingRules(), AS_OF)
    assert out["concern_outcome_model"].to_numpy() == pytest.approx(0.3)
    assert out["reasons"].str.contains(r", outcome model \+0\.(?:29|30|31)$").all()  # rounding may take 0.01


def test_reasons_order_the_indicators_by_evidence_and_the_benchmarks_by_z():
    keys = ["fte", "reoffending", "custody"]
    end = pd.Timestamp("2025-03-31")
    ev = pd.DataFrame({
        "yjs_id": ["a", "a", "a", "b", "b", "c", "c", "c"],
        "indicator": keys + keys[:2] + keys,
        "z": [0.5, 1.0, 1.5, -0.4, -0.2, -2.5, -3.0, -2.2], "e": [0.3, 0.1, 0.3, 0, 0, -1, -1, -1]})
    ev = ev.assign(band=np.where(ev["z"] < -targets.Z95, "low_95", "within"), rate=1.0, national_rate=1.0,
                   window_months=36, window_end=end, periods_used=3, period_months=12, last_period_end=end,
                   trend_z=0.0, rising_periods=0)
    df = pd.DataFrame({"yjs_id": ["a", "b", "c"], "recommendation": ["monitor", "monitor", "benchmark_visit"],
                       "eligible": [True, True, True], "last_inspected": pd.NaT, "last_rating": None})
    text = targets.reasons(df, ev, RankingRules()).tolist()
    fte, reoffending, custody = (targets.BY_KEY[k].label for k in keys)

    def named(t):  # the indicators a text names, in its order
        return sorted((k for k in (fte, reoffending, custody) if k in t), key=t.find)
    # by e, highest first, ties as the evidence has them
    assert text[0].startswith("no indicator above the 95% limit; worse than national: ")
    assert named(text[0]) == [fte, custody, reoffending] and text[0].endswith("; no inspection on record")
    # worse by e, not by z: a z a hair above 0 where the shrunk evidence is not worse (a rate at or just below
    # national: the mid-p z is above 0 there) is no "worse than national"
    ev2 = ev.assign(z=np.where(ev["yjs_id"] == "a", 0.01, ev["z"]), e=np.where(ev["yjs_id"] == "a", -0.001, ev["e"]))
    assert targets.reasons(df, ev2, RankingRules()).iloc[0].startswith(
        "no indicator worse than national; nearest to it: ")
    # the nearest to national: the highest z; the indicator others have is named as missing
    assert text[1].startswith(f"no indicator worse than national; nearest to it: {reoffending} ")
    assert text[1].endswith(f"; no figures for {custody}; no inspection on record")
    # a benchmark's: lowest z first
    assert text[2].startswith("better than national on ") and named(text[2]) == [reoffending, fte, custody]


def test_figures_of_periods_few_services_report_are_not_compared_and_the_reasons_say_so(quality):
    """One service's years ending in June among everyone's ending in December had been scored against
    a "national" rate made of that service alone (z 0, within the limits), and left out of its
    evidence with the reasons saying it had no figures for the indicator at all."""
    svc = f.services(30)
    pop = f.population(svc)
    tables = f.indicator_tables(svc, pop, np.asarray(quality, float))
    fte = tables["first_time_entrants"]
    june = fte["yjs_id"] == "svc-00"
    plain, _ = panel.build_panel({**tables, "first_time_entrants": fte[~june]}, svc, pop, AS_OF, 3)
    tables["first_time_entrants"] = fte.assign(period_end=fte["period_end"].where(
        ~june, fte["period_end"] - pd.offsets.MonthEnd(6)))
    values, dispersion = panel.build_panel(tables, svc, pop, AS_OF, 3)
    own = values[(values["yjs_id"] == "svc-00") & (values["indicator"] == "fte")]
    assert len(own) == 7 and own["rate"].notna().all()
    compared = ["national_rate", "expected", "z_score", "funnel_band", "limit_95_low", "limit_998_high"]
    assert own[compared].isna().all().all()
    key = ["yjs_id", "indicator", "period_end"]
    others = values[(values["yjs_id"] != "svc-00") | (values["indicator"] != "fte")].set_index(key)
    before = plain[(plain["yjs_id"] != "svc-00") | (plain["indicator"] != "fte")].set_index(key)
    pd.testing.assert_frame_equal(others, before.loc[others.index])  # the others' as without svc-00's FTE rows
    june_periods = dispersion[(dispersion["indicator"] == "fte") & (dispersion["period_end"].dt.month == 6)]
    assert len(june_periods) == 7 and june_periods["national_rate"].isna().all()

    ev = scores.indicator_evidence(values)
    assert not ((ev["yjs_id"] == "svc-00") & (ev["indicator"] == "fte")).any()
    history = scores.inspection_history(f.inspections(()), AS_OF)
    rules = RankingRules()

    def reasons_of(rows: pd.DataFrame, service: str) -> str:  # with no evidence of its first-time entrants
        ev = scores.indicator_evidence(rows)
        assert not ((ev["yjs_id"] == service) & (ev["indicator"] == "fte")).any()
        sc = scores.concern_scores(svc, ev, history, rules.weights)
        return targets.recommend(sc, ev, rules, AS_OF, values=rows).set_index("yjs_id").loc[service, "reasons"]

    sc = scores.concern_scores(svc, ev, history, rules.weights)
    out = targets.recommend(sc, ev, rules, AS_OF, values=values).set_index("yjs_id")
    fte_label = "first-time entrants"
    assert (f"; its {fte_label} figures are not compared with national: their periods (latest 12 months to "
            "Jun 2024) are not those most services report; ") in out.loc["svc-00", "reasons"]
    assert "no figures for" not in out.loc["svc-00", "reasons"]
    assert not out.drop(index="svc-00")["reasons"].str.contains("not compared with national").any()
    # a service that stopped reporting before the window: when it stopped, not the old period of its own
    # that one of its rows may have (it had been said to be not compared, of a June 2016 row)
    stopped = values[~((values["yjs_id"] == "svc-01") & (values["indicator"] == "fte")
                       & (values["period_end"] > pd.Timestamp("2020-12-31")))]
    stopped = pd.concat([stopped, own.iloc[:1].assign(yjs_id="svc-01", period_end=pd.Timestamp("2017-06-30"))])
    text = reasons_of(stopped, "svc-01")
    assert f"; no {fte_label} figures since Dec 2020; " in text and "not compared" not in text
    # an off-month row after its last compared one, both before the window: still since when (it had been
    # "not compared" of the old row)
    late = pd.concat([stopped, own.iloc[:1].assign(yjs_id="svc-01", period_end=pd.Timestamp("2021-06-30"))])
    text = reasons_of(late, "svc-01")
    assert f"; no {fte_label} figures since Jun 2021; " in text
    # figures in the window, all suppressed: said so, not "since" (it did not stop reporting)
    hidden = values.copy()
    mine = (hidden["yjs_id"] == "svc-02") & (hidden["indicator"] == "fte") & (hidden["period_end"].dt.year >= 2022)
    hidden.loc[mine, ["numerator", "rate", "national_rate", "z_score"]] = np.nan
    hidden.loc[mine, "suppressed"] = True
    text = reasons_of(hidden, "svc-02")
    assert (f"; its {fte_label} figures in the years pooled (3 years to Dec 2024) are suppressed (too few to "
            "publish); ") in text
    # its only figure since the window began is a newer one, compared, of a period the window does not take:
    # not "since" (it had been said to have stopped reporting)
    newer = values[~((values["yjs_id"] == "svc-03") & (values["indicator"] == "fte")
                     & (values["period_end"].dt.year >= 2022))]
    row = values[(values["yjs_id"] == "svc-03") & (values["indicator"] == "fte")].iloc[-1:]
    newer = pd.concat([newer, row.assign(period_end=pd.Timestamp("2025-03-31"))], ignore_index=True)
    text = reasons_of(newer, "svc-03")
    assert (f"; its latest {fte_label} figure (12 months to Mar 2025) is not of the periods pooled (3 years to "
            "Dec 2024); ") in text
