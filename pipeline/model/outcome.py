"""The outcome model: the probability that a service's next inspection is
adverse (Requires improvement or Inadequate; unsatisfactory or poor before
2018: ``rating_score >= 3``), from what was known before it.

Features, all as of the ranking month (``features``): per indicator the
shrunk evidence ``e``, the adjusted pooled ``z`` and the trend z
(``scores.indicator_evidence``; missing = national, no trend); the log of
the population aged 10-17 (service size); the last rating score (2.5 if
never inspected) and the months since it (capped at 72; never = 72) with a
never-inspected flag.

Training rows (``training_table``): each past inspection with the features
of the month before it was published, so no row ever sees its own outcome.

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
from pipeline.indicators import BY_KEY
from pipeline.model import stats
from pipeline.model.scores import TIME_CAP_MONTHS

ADVERSE_MIN_SCORE = 3
LEAD_MONTHS = 1  # an inspection is scored by the ranking of the month before it was published
INDICATOR_FEATURES = [f"{k}_{f}" for k in BY_KEY for f in ("e", "z", "trend_z")]
FEATURES = INDICATOR_FEATURES + [
    "log_population", "last_rating_score", "months_since_inspection", "never_inspected"]
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


def service_size(panel: pd.DataFrame) -> pd.DataFrame:
    """Population aged 10-17 per service (yjs_id, population) in the latest
    first-time-entrant period of ``panel``."""
    fte = panel[(panel["indicator"] == "fte") & (panel["denominator"] > 0)]
    latest = fte[fte["period_end"] == fte["period_end"].max()]
    return latest.groupby("yjs_id", as_index=False)["denominator"].sum().rename(
        columns={"denominator": "population"})


def features(keys: pd.DataFrame, evidence: pd.DataFrame, history: pd.DataFrame,
             size: pd.DataFrame) -> pd.DataFrame:
    """The model's features for each row of ``keys`` (``yjs_id``, and
    ``as_of`` when several months are described at once; ``evidence``,
    ``history`` and ``size`` carry the same key columns). Same row order."""
    on = list(keys.columns)
    ev = evidence.pivot_table(index=on, columns="indicator", values=["e", "z", "trend_z"],
                              aggfunc="first", dropna=False)
    ev.columns = [f"{ind}_{f}" for f, ind in ev.columns]
    hist = history[on + ["last_published", "last_rating_score", "months_since_inspection"]]
    out = (keys.merge(ev.reset_index(), on=on, how="left").merge(hist, on=on, how="left")
           .merge(size[on + ["population"]], on=on, how="left"))
    for col in INDICATOR_FEATURES:  # no evidence: national, no trend
        out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0.0) if col in out else 0.0
    pop = out["population"].astype(float)  # unknown size: the month's median
    median = pop.groupby(out["as_of"]).transform("median") if "as_of" in on else pop.median()
    out["log_population"] = np.log(pop.fillna(median).fillna(1.0))
    out["never_inspected"] = out["last_published"].isna().astype(float)
    out["last_rating_score"] = out["last_rating_score"].astype(float).fillna(2.5)
    out["months_since_inspection"] = (out["months_since_inspection"].astype(float)
                                      .clip(0, TIME_CAP_MONTHS).fillna(TIME_CAP_MONTHS))
    return out[on + FEATURES]


def lead_month(published) -> pd.Series:
    """The ranking month that scores an inspection: the month before it was published."""
    return (pd.to_datetime(pd.Series(published)).dt.to_period("M") - LEAD_MONTHS).dt.start_time


def training_table(monthly: pd.DataFrame, inspections: pd.DataFrame, as_of) -> pd.DataFrame:
    """Inspections published on or before ``as_of`` with the features of their
    lead month (rows of ``monthly``: as_of, yjs_id, FEATURES) and ``adverse``."""
    seen = inspections[pd.to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    t = seen[["yjs_id", "published", "rating_score"]].assign(
        published=pd.to_datetime(seen["published"]), as_of=lead_month(seen["published"]).to_numpy())
    t = t.merge(monthly[["as_of", "yjs_id", *FEATURES]], on=["as_of", "yjs_id"])
    t["adverse"] = t["rating_score"] >= ADVERSE_MIN_SCORE
    return t.sort_values(["published", "yjs_id"], ignore_index=True)


def enough(y) -> bool:
    y = np.asarray(y, bool)
    return len(y) >= MIN_TRAIN and min(y.sum(), (~y).sum()) >= MIN_CLASS


def time_splits(table: pd.DataFrame, n_splits: int = N_SPLITS):
    """Expanding-window splits of a table sorted by ``published``: the rows
    after the first MIN_TRAIN cut into blocks; each block is trained on the
    rows published on or before its earliest feature date (``as_of``)."""
    rest = np.arange(MIN_TRAIN, len(table))
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
    metrics = {"model": name, "n_scored": len(cal), "n_adverse": int(y.sum()), "auc": a,
               "auc_low": lo, "auc_high": hi,
               "log_loss": log_loss(y, cal["probability"].clip(1e-6, 1 - 1e-6), labels=[0, 1]) if both else np.nan,
               "brier": brier_score_loss(y, cal["probability"]) if both else np.nan,
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
    df = df.sort_values(["concern_score", "yjs_id"], ascending=[False, True], ignore_index=True)
    df["rank"] = np.arange(1, len(df) + 1)
    low, high = stats.rank_intervals(df["concern_score"], df["concern_sd"])
    df["rank_low"], df["rank_high"] = np.minimum(low, df["rank"]), np.maximum(high, df["rank"])
    return df
