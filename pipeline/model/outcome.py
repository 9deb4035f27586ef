"""The outcome model: the probability that a service's next inspection is
adverse (Requires improvement or Inadequate; unsatisfactory or poor before
2018: ``rating_score >= 3``), from what was known before it (features and
training rows: ``pipeline.model.outcome_features``).

Two candidates, both weighting the classes inversely to their frequency
(``class_weight="balanced"``; King and Zeng 2001 on rare-event bias): an
L2-regularised logistic regression on standardised features (interpretable:
one coefficient per feature) and a small gradient-boosted tree ensemble
(``HistGradientBoostingClassifier``; Friedman 2001). Cross-validation is
time-ordered only (``time_splits``: expanding window, rolling origin; Tashman
2000): each block of inspections is predicted by a model trained on
inspections published on or before the earliest feature date in the block.
Probabilities are calibrated by Platt (1999) scaling of the out-of-time
scores; each block's calibration is fitted on earlier blocks only, so the
reported log loss and Brier score are honest. The chosen model has the lower
out-of-time log loss; within 0.01 the logistic regression wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pipeline.backtest.metrics import auc_interval
from pipeline.model import scores
from pipeline.model.outcome_features import (  # noqa: F401  (the model's inputs, re-exported)
    ADVERSE_MIN_SCORE, FEATURES, LEAD_MONTHS, features, lead_month, service_size, training_table)

MIN_TRAIN, MIN_CLASS = 30, 8  # fewer inspections (or of either outcome): no model
N_SPLITS, SEED, PREFER_MARGIN = 5, 0, 0.01


def candidates() -> dict:
    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(
            C=0.5, class_weight="balanced", solver="newton-cholesky")),
        "boosting": HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.05, max_iter=150, min_samples_leaf=10,
            l2_regularization=1.0, class_weight="balanced", early_stopping=False, random_state=SEED),
    }


def enough(y) -> bool:
    y = np.asarray(y, bool)
    return len(y) >= MIN_TRAIN and min(y.sum(), (~y).sum()) >= MIN_CLASS


def time_splits(table: pd.DataFrame, n_splits: int = N_SPLITS):
    """Expanding-window splits of a table sorted by ``published``: the rows
    with MIN_TRAIN outcomes known before them, cut into blocks in time order;
    each block is trained on the rows published on or before its earliest
    feature date (``as_of``)."""
    known = np.searchsorted(table["published"].to_numpy(), table["as_of"].to_numpy(), side="right")
    rest = np.flatnonzero(known >= MIN_TRAIN)  # rows with MIN_TRAIN outcomes known before them
    for block in np.array_split(rest, n_splits):
        if not len(block):
            continue
        train = np.flatnonzero(table["published"] <= table["as_of"].iloc[block].min())
        if enough(table["adverse"].iloc[train]):
            yield train, block


def fit_estimator(table: pd.DataFrame, name: str):
    # one OpenMP thread: on a few hundred rows threads only contend (10x slower on 2 cores)
    with threadpool_limits(limits=1, user_api="openmp"):
        return candidates()[name].fit(matrix(table), table["adverse"].to_numpy(int))


def matrix(df: pd.DataFrame) -> np.ndarray:
    """The feature columns as the float matrix the estimators see."""
    return df[FEATURES].to_numpy(float)


def platt(score, y) -> tuple[float, float]:
    """Platt scaling: p = 1 / (1 + exp(-(a * score + b)))."""
    lr = LogisticRegression(C=1e6).fit(np.asarray(score, float).reshape(-1, 1), np.asarray(y, int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


def cross_validate(table: pd.DataFrame, name: str) -> tuple[dict, pd.DataFrame]:
    """Out-of-time scores, their calibrated probabilities, and the metrics."""
    oof = []
    for b, (train, test) in enumerate(time_splits(table)):
        est = fit_estimator(table.iloc[train], name)
        part = table.iloc[test][["published", "as_of", "adverse"]].assign(
            block=b, score=est.decision_function(matrix(table.iloc[test])))
        earlier = pd.concat(oof) if oof else part.iloc[0:0]
        earlier = earlier[earlier["published"] <= part["as_of"].min()]
        part["probability"] = np.nan  # the first block only starts the calibration
        if len(earlier) >= 10 and earlier["adverse"].nunique() == 2:
            ab = platt(earlier["score"], earlier["adverse"])
            part["probability"] = sigmoid(np.polyval(ab, part["score"]))
        oof.append(part)
    oof = pd.concat(oof, ignore_index=True) if oof else pd.DataFrame(
        columns=["published", "as_of", "adverse", "block", "score", "probability"])
    cal = oof[oof["probability"].notna()]
    y = cal["adverse"].to_numpy(bool)
    a, lo, hi = auc_interval(y, cal["probability"])
    both = len(cal) and y.any() and not y.all()
    p = cal["probability"].clip(1e-6, 1 - 1e-6)
    metrics = {"model": name, "n_scored": len(cal), "n_adverse": int(y.sum()), "auc": a,
               "auc_low": lo, "auc_high": hi,
               "log_loss": log_loss(y, p, labels=[0, 1]) if both else np.nan,
               "brier": brier_score_loss(y, p) if both else np.nan,
               "brier_no_skill": float(y.mean() * (1 - y.mean())) if len(y) else np.nan}
    return metrics, oof


@dataclass
class OutcomeModel:
    """The fitted, calibrated model chosen by time-ordered cross-validation
    (``fitted`` is False, with the ``reason``, when there were too few
    inspections)."""

    name: str = ""
    estimator: object = None
    calibration: tuple[float, float] = (1.0, 0.0)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_train: int = 0
    n_adverse: int = 0
    reason: str = ""

    @property
    def fitted(self) -> bool:
        return self.estimator is not None

    def probability(self, X: pd.DataFrame) -> pd.Series:
        if not self.fitted:
            return pd.Series(np.nan, index=X.index, name="adverse_probability")
        p = sigmoid(np.polyval(self.calibration, self.estimator.decision_function(matrix(X))))
        return pd.Series(p, index=X.index, name="adverse_probability")


def fit(table: pd.DataFrame) -> OutcomeModel:
    """Cross-validate both candidates in time order, choose one, refit it on
    every row and calibrate it on its out-of-time scores."""
    y = table["adverse"].to_numpy(bool)
    if not enough(y):
        return OutcomeModel(n_train=len(y), n_adverse=int(y.sum()), reason=(
            f"too few inspections to learn from: {len(y)} ({int(y.sum())} adverse); "
            f"need {MIN_TRAIN} with {MIN_CLASS} of each outcome"))
    results = {name: cross_validate(table, name) for name in candidates()}
    metrics = pd.DataFrame([m for m, _ in results.values()])
    ll = metrics.set_index("model")["log_loss"]
    name = "logistic"
    if ll.notna().all() and ll["boosting"] < ll["logistic"] - PREFER_MARGIN:
        name = "boosting"
    metrics["chosen"] = metrics["model"] == name
    oof = results[name][1]
    calibration = platt(oof["score"], oof["adverse"]) if enough(oof["adverse"]) else (1.0, 0.0)
    est = fit_estimator(table, name)
    coef = pd.DataFrame()
    if name == "logistic":
        coef = pd.DataFrame({"feature": FEATURES, "coefficient": est[-1].coef_[0]})
        coef = coef.reindex(coef["coefficient"].abs().sort_values(ascending=False).index)
    return OutcomeModel(name, est, calibration, metrics, coef.reset_index(drop=True), len(y), int(y.sum()))


def model_term(logit) -> pd.Series:
    """A model score on the concern score's footing: standardised over the
    month's services (missing = average)."""
    s = pd.Series(logit, dtype=float)
    sd = s.std()
    return ((s - s.mean()) / sd if sd > 0 else s * 0).fillna(0.0)


def blend(scored: pd.DataFrame, probability: pd.Series, weight: float) -> pd.DataFrame:
    """``scores.concern_scores`` output with ``weight`` x the model term added
    to the concern score, re-ranked with new rank intervals (the model term
    is treated as known: only the indicator evidence is uncertain)."""
    if not weight:
        return scored
    p = scored["yjs_id"].map(probability).astype(float).clip(1e-6, 1 - 1e-6)
    df = scored.assign(concern_score=scored["concern_score"]
                       + weight * model_term(np.log(p / (1 - p))).to_numpy())
    return scores.rank_by_concern(df)
