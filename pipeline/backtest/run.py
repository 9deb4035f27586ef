"""The back-test: each past month's ranking under each method, compared with
what the inspections published afterwards found.

Methods, side by side (higher score = riskier):

* ``concern_score``: the pipeline's score with the configured weights;
* ``outcome_model``: the outcome model, refitted each month on the
  inspections published by then;
* ``concern_plus_model``: the concern score plus the model's standardised
  score at weight 1, the evidence for (or against) a model weight;
* ``league_table``: mean percentile of the latest raw rates;
* ``time_since_inspection``: longest since the last inspection (never first).

Two samples: ``common``, the inspections every method scored (the model needs
MIN_TRAIN earlier outcomes to exist; a model never fitted drops out), and
``all``, every inspection the method could score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.backtest import metrics as mt
from pipeline.backtest.outcomes import later_outcomes, model_logits
from pipeline.dates import to_datetime
from pipeline.model import outcome
from pipeline.settings import RankingRules

METHODS = ("concern_score", "outcome_model", "concern_plus_model", "league_table",
           "time_since_inspection")
CANDIDATE_WEIGHT = 1.0
REFERENCE = "concern_score"  # the method every other's AUC and catch rate are compared with
SCORE_COLUMNS = ["as_of", "yjs_id", "concern_score", "rank", "full_joint_pick", "outcome_model_score",
                 "league_table", "months_since_inspection", "eligible", "next_published", "next_rating",
                 "next_rating_score", "adverse", "window_complete", "scored_inspection"]


@dataclass
class Backtest:
    scores: pd.DataFrame  # backtest_scores
    metrics: pd.DataFrame  # backtest_metrics
    curves: pd.DataFrame  # share caught vs share inspected, per method (common sample)


def plain_method_scores(monthly: pd.DataFrame) -> pd.DataFrame:
    """The score per month x service (higher = riskier) of each method that
    does not use the outcome model."""
    return pd.DataFrame({"league_table": monthly["league_table"],
                         # never inspected: longest since
                         "time_since_inspection": monthly["months_since"].fillna(np.inf)})


def model_method_scores(monthly: pd.DataFrame, logit: np.ndarray, weight: float) -> pd.DataFrame:
    """The score per month x service (higher = riskier) of each method that
    uses the outcome model's scores ``logit`` (NaN in months without a model)."""
    logit = np.asarray(logit, float)
    term = np.zeros(len(monthly))  # no model that month: 0
    for idx in monthly.groupby("as_of").indices.values():
        if np.isfinite(logit[idx]).any():
            term[idx] = outcome.standardised(logit[idx])
    term = pd.Series(term, index=monthly.index)
    has_model = pd.Series(np.isfinite(logit), index=monthly.index)
    return pd.DataFrame({
        # as in the refresh: without a model its term is 0
        "concern_score": monthly["concern_score"] + weight * term,
        "outcome_model": pd.Series(logit, index=monthly.index),
        "concern_plus_model": (monthly["concern_score"] + CANDIDATE_WEIGHT * term).where(has_model),
    })


def positions(monthly: pd.DataFrame, methods: pd.DataFrame, rules: RankingRules,
              rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per method: the month's size, services strictly riskier and tied,
    risk percentile, chance of being in the riskiest 10% / 20%, and of being
    a full-joint-inspection pick (eligible services with indicator figures
    only, as the refresh recommends); for the ``rows``
    of ``monthly`` (a boolean mask; every row by default), each placed among
    every service of its month."""
    cols = {}
    elig = monthly["eligible"].to_numpy(bool) & monthly["evidenced"].to_numpy(bool)
    keep = np.ones(len(monthly), bool) if rows is None else np.asarray(rows, bool)
    month = pd.factorize(monthly["as_of"])[0]  # once for every method
    for m in methods:
        score = methods[m].fillna(-np.inf).to_numpy(float)  # missing ranks last
        pos = {k: v[keep] for k, v in mt.month_positions(score, month).items()}
        cols.update({f"{m}_n": pos["n"], f"{m}_above": pos["above"], f"{m}_tied": pos["tied"],
                     f"{m}_pct": mt.risk_percentile(pos),
                     f"{m}_top10": mt.share_in_top(pos, 0.1 * pos["n"]),
                     f"{m}_top20": mt.share_in_top(pos, 0.2 * pos["n"])})
        pick = np.zeros(len(monthly))
        pick[elig] = mt.share_in_top(mt.month_positions(score[elig], month[elig]), rules.n_full_joint)
        cols[f"{m}_pick"] = pick[keep]
    return pd.DataFrame(cols, index=monthly.index[keep])


def metrics_table(scored: pd.DataFrame, available: pd.DataFrame, common: pd.Series) -> pd.DataFrame:
    """``backtest_metrics``: one row per sample x method."""
    rows, boots, resamples = [], {}, {}  # each computed once
    # the columns as arrays, each sample's rows taken from them (not a DataFrame per sample and method)
    kinds = ("pct", "top10", "top20", "pick")
    columns = {"adverse": scored["adverse"].to_numpy(bool),
               **{f"{m}_{k}": scored[f"{m}_{k}"].to_numpy(float) for m in METHODS for k in kinds}}
    for sample in ("common", "all"):
        for m in METHODS:
            keep = (available[m] & (common if sample == "common" else True)).to_numpy()
            used = {"adverse", *(f"{x}_{k}" for x in (m, REFERENCE) for k in kinds)}
            s = {c: columns[c][keep] for c in used}
            n = int(keep.sum())
            if n not in resamples:
                resamples[n] = mt.bootstrap_indices(n)
            idx = resamples[n]
            rows.append({"sample": sample, **mt.method_metrics(s, m, idx, reference=REFERENCE,
                                                               cache=boots)})
    return pd.DataFrame(rows)


def run_backtest(monthly: pd.DataFrame, inspections: pd.DataFrame, rules: RankingRules, as_of,
                 family="logistic", submit=None) -> Backtest:
    """Score every month's ranking against the later inspections (published
    on or before ``as_of``); ``submit``: see ``outcomes.model_logits``.

    ``family`` is the outcome model's (``outcome.OutcomeModel.name``), or a
    function that returns it once the model is fitted: the refresh fits the
    model in its worker process while the back-test does what does not
    depend on it, then goes on as if the logistic regression (the usual
    choice) had been chosen: its monthly refits, scores and metrics, kept
    if it was, redone for the boosted trees if they were. If the function
    has ``ready()`` (whether the model is in: see
    ``pipeline.defs.resources.ModelWorker.submit``), that guess is not made,
    or is dropped between its stages, once the boosted trees are known to
    have won."""
    seen = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    monthly = monthly.reset_index(drop=True)
    # what the published scores keep of each month's row, and its later outcome
    out = later_outcomes(monthly[["as_of", "yjs_id", "league_table", "eligible"]], seen, as_of)
    # the metrics need each method's positions of the scored inspections alone
    scored_rows = out["scored_inspection"].to_numpy(bool)
    plain = plain_method_scores(monthly)
    plain_pos = positions(monthly, plain, rules, scored_rows)

    def results(logit, stop=lambda: False) -> Backtest | None:
        return _results(monthly, out, plain, plain_pos, logit, rules, scored_rows, stop)

    if callable(family):  # being fitted elsewhere
        ready = getattr(family, "ready", lambda: False)

        def known_not_logistic() -> bool:
            return ready() and family() != "logistic"

        guess = logistic = None
        if not known_not_logistic():  # no guess once the trees are known to have won
            logistic = model_logits(monthly, seen, as_of, "logistic", submit)
            guess = None if known_not_logistic() else results(logistic, stop=known_not_logistic)
        family = family()
        if family == "logistic" and logistic is not None:
            return guess if guess is not None else results(logistic)
    return results(model_logits(monthly, seen, as_of, family, submit))


def _results(monthly: pd.DataFrame, out: pd.DataFrame, plain: pd.DataFrame, plain_pos: pd.DataFrame,
             logit: np.ndarray, rules: RankingRules, scored_rows: np.ndarray, stop) -> Backtest | None:
    """``run_backtest``'s tables from the outcome model's scores ``logit``;
    None if ``stop()`` turns true between its stages."""
    model = model_method_scores(monthly, logit, float(rules.weights.get("outcome_model", 0.0)))
    methods = pd.concat([model, plain], axis=1)[list(METHODS)]
    every = positions(monthly, model[["concern_score"]], rules)  # the published rank and pick
    table = out.assign(
        concern_score=methods["concern_score"], rank=(every["concern_score_above"] + 1).astype(int),
        full_joint_pick=every["concern_score_pick"] >= 0.5, outcome_model_score=logit,
        months_since_inspection=_nullable_int(monthly["months_since"]))[SCORE_COLUMNS]
    if stop():
        return None
    pos = pd.concat([every[scored_rows], positions(monthly, model.drop(columns="concern_score"), rules,
                                                   scored_rows), plain_pos], axis=1)
    scored = pd.concat([out.loc[scored_rows, ["as_of", "yjs_id", "adverse"]], pos], axis=1)
    available = methods.notna()[scored_rows]
    scoring = [m for m in METHODS if available[m].any()]  # a model never fitted drops out
    common = available[scoring].all(axis=1)
    if stop():
        return None
    metrics = metrics_table(scored, available, common)
    in_common = common.to_numpy()  # the curves' inspections, their columns taken once
    curve_columns = {c: scored[c].to_numpy()[in_common]
                     for c in ["adverse", *(f"{m}_{k}" for m in scoring for k in ("n", "above", "tied"))]}
    curves = [mt.catch_curve(curve_columns, m) for m in scoring]
    curves = (pd.concat(curves, ignore_index=True) if curves
              else pd.DataFrame(columns=["method", "share_inspected", "share_caught"]))
    return Backtest(table, metrics, curves)


def _nullable_int(values: pd.Series) -> pd.Series:
    """``values.astype("Int64")``: from floats that are whole numbers or NaN,
    as an integer array and its mask (~0.02 ms on the demo's 21,000 months
    since inspection, against ~1.7 ms for pandas' checked cast); anything
    else by the cast itself, its error included."""
    v = values.to_numpy()
    if v.dtype == np.float64:
        missing = np.isnan(v)
        whole = np.where(missing, 0.0, v)
        with np.errstate(invalid="ignore"):  # inf, or beyond int64: not whole below, so cast by pandas
            data = whole.astype(np.int64)
        if (data == whole).all():
            return pd.Series(pd.arrays.IntegerArray(data, missing), index=values.index, name=values.name)
    return values.astype("Int64")
