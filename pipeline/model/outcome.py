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

import contextlib
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# scikit-learn and threadpoolctl are imported inside the functions that fit or
# score: importing them takes about a second, which every load of the Dagster
# definitions would otherwise pay.

from pipeline.backtest.metrics import auc_interval
from pipeline.model import scores
from pipeline.model.outcome_features import (  # noqa: F401  (the model's inputs, re-exported)
    ADVERSE_MIN_SCORE, FEATURES, LEAD_MONTHS, features, lead_month, service_size, training_table)

MIN_TRAIN, MIN_CLASS = 30, 8  # fewer inspections (or of either outcome): no model
N_SPLITS, SEED, PREFER_MARGIN = 5, 0, 0.01
# the logistic candidate's settings (C, and scikit-learn's defaults for tol and max_iter),
# shared by scikit-learn's fit and the numpy replay
LOGISTIC_C, LOGISTIC_TOL, LOGISTIC_MAX_ITER = 0.5, 1e-4, 100


def candidates() -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(
            C=LOGISTIC_C, tol=LOGISTIC_TOL, max_iter=LOGISTIC_MAX_ITER, class_weight="balanced",
            solver="newton-cholesky")),
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


@functools.cache
def _threadpools():
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime, so the controller sees it)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_thread():
    """One thread (OpenMP and BLAS) for fitting and scoring; also a function
    decorator. On a few hundred rows threads only contend: on 2 busy cores
    gradient boosting fits ~10x and predicts up to ~80x slower with them, and
    Platt's L-BFGS ~4x. The results do not depend on it (the same numbers to
    the last bit on the demo data). The libraries are looked up once per
    process (``threadpoolctl.threadpool_limits`` looks them up on every
    call, ~5 ms)."""
    with _threadpools().limit(limits=1):
        yield


@one_thread()
def fit_estimator(table: pd.DataFrame, name: str):
    return candidates()[name].fit(matrix(table), table["adverse"].to_numpy(int))


def decision(estimator, X: np.ndarray) -> np.ndarray:
    """``estimator.decision_function(X)``: the log-odds score (scikit-learn's
    on one thread; ``NumpyLogistic``'s needs no scikit-learn)."""
    if isinstance(estimator, NumpyLogistic):
        return estimator.decision_function(X)
    with one_thread():
        return estimator.decision_function(X)


def warm_up() -> None:
    """Import what ``fit`` uses and fit and score both candidates once on a
    few synthetic rows, so that what scikit-learn loads on first use is
    loaded (``pipeline.model.worker`` calls it before its first real fit)."""
    import sklearn.metrics  # noqa: F401  (cross_validate's scores)

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(40, len(FEATURES)))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    with one_thread():
        for est in candidates().values():
            est.fit(X, y).decision_function(X)
    platt(X[:, 0], y)


def refit(table: pd.DataFrame, name: str, X: np.ndarray | None = None):
    """A candidate fitted on ``table`` (``X``: its ``matrix`` if already
    made) for the back-test's monthly refits (``pipeline.backtest.outcomes.
    model_logits``): the logistic regression by ``NumpyLogistic``
    (scikit-learn's own fit replayed in numpy without its per-call overhead;
    scikit-learn itself where the replay meets anything but plain Newton
    steps), the boosting by ``fit_estimator``."""
    if name == "logistic":
        X = matrix(table) if X is None else X
        est = NumpyLogistic.fit(X, table["adverse"].to_numpy(bool), LOGISTIC_C, LOGISTIC_TOL,
                                LOGISTIC_MAX_ITER)
        if est is not None:
            return est
    return fit_estimator(table, name)


@dataclass(eq=False)
class NumpyLogistic:
    """The logistic candidate (``StandardScaler`` then ``LogisticRegression(C,
    class_weight="balanced", solver="newton-cholesky")``) fitted by the same
    algorithm in plain numpy: under 1 ms a fit against ~4 ms for
    scikit-learn, whose time on a few hundred rows goes on input checking.

    The replay follows scikit-learn 1.9 step by step: standardisation with
    the corrected two-pass variance (near-constant features get scale 1); the
    objective sum(w_i loss_i) / sum(w) + ||coef||^2 / (2 C sum(w)) with
    balanced weights w_i = n / (2 n_class(i)) and an unpenalised intercept;
    Newton steps from zero with the same backtracking (Armijo) line search
    and the same stopping rule (max |gradient| <= tol and half the Newton
    decrement <= tol). So it takes the same steps and stops at the same
    iterate: coefficients agree to rounding (~1e-15 on the demo data;
    tests/test_outcome_model.py holds it to 1e-10 against scikit-learn). The exact optimum would
    not do: scikit-learn's iterate at tol=1e-4 is up to ~1e-3 from it.
    ``fit`` returns None where scikit-learn would leave plain Newton steps
    (a singular Hessian, a failed line search, no convergence), and the
    caller then fits scikit-learn itself."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn's arithmetic: (X - mean_) / scale_, then X @ coef_.T + intercept_
        z = (np.asarray(X, float) - self.mean) / self.scale
        return (z @ self.coef.reshape(-1, 1) + self.intercept).reshape(-1)

    @classmethod
    def from_pipeline(cls, pipeline) -> NumpyLogistic:
        """The logistic candidate fitted by scikit-learn, as numbers: its
        ``decision_function`` gives scikit-learn's scores to the last bit."""
        scaler, lr = pipeline[0], pipeline[-1]
        return cls(scaler.mean_.copy(), scaler.scale_.copy(), lr.coef_[0].copy(), float(lr.intercept_[0]))

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, C: float, tol: float = 1e-4,
            max_iter: int = 100) -> NumpyLogistic | None:
        X, y = np.asarray(X, float), np.asarray(y, bool)
        n, p = X.shape
        n1 = int(y.sum())
        if not 0 < n1 < n or np.isnan(X).any():
            return None
        eps = np.finfo(float).eps
        mean = X.sum(axis=0) / n
        dev = X - mean
        var = ((dev**2).sum(axis=0) - dev.sum(axis=0) ** 2 / n) / n
        scale = np.sqrt(var)
        scale[(var <= n * eps * var + (n * mean * eps) ** 2)] = 1.0
        Z = np.empty((n, p + 1))
        Z[:, :p] = dev / scale
        Z[:, p] = 1.0
        sw = np.where(y, n / (2.0 * n1), n / (2.0 * (n - n1)))
        sw_sum = sw.sum()
        l2 = 1.0 / (C * sw_sum)
        yf = y.astype(float)
        pen = np.ones(p + 1)
        pen[p] = 0.0  # the intercept is not penalised

        def loss_grad(w, raw):
            # half binomial deviance log(1 + e^raw) - y raw, stably
            loss_i = np.logaddexp(0.0, raw) - yf * raw
            prob = np.exp(-np.logaddexp(0.0, -raw))
            g = Z.T @ (sw * (prob - yf) / sw_sum) + l2 * pen * w
            return (sw * loss_i).sum() / sw_sum + 0.5 * l2 * (w[:p] @ w[:p]), g, prob

        w, raw = np.zeros(p + 1), np.zeros(n)
        loss, g, prob = loss_grad(w, raw)
        ridge = np.diag(l2 * pen)  # the penalty's Hessian
        for _ in range(max_iter):
            h = sw * prob * (1 - prob) / sw_sum
            # np.average(h <= 0, weights=sw), without its argument handling (a fifth of a refit)
            if np.multiply(h <= 0, sw).sum() / sw_sum > 0.25:  # scikit-learn would switch to L-BFGS
                return None
            H = (Z.T * h) @ Z + ridge
            try:
                step = np.linalg.solve(H, -g)
            except np.linalg.LinAlgError:
                return None
            if not np.isfinite(step).all() or _condition_number(H) > 1 / eps:
                return None
            g_step = g @ step
            if g_step > 0:
                return None
            raw_step = Z @ step
            t = 1.0
            for _ in range(21):
                w_new, raw_new = w + t * step, raw + t * raw_step
                loss_new, g_new, prob_new = loss_grad(w_new, raw_new)
                change = loss_new - loss
                if change <= t * 0.00048828125 * g_step:  # Armijo, sigma = 2^-11
                    break
                if abs(change) <= abs(loss * 16 * eps) and np.abs(g_new).sum() < np.abs(g).sum():
                    break
                t *= 0.5
            else:
                return None
            decrement = step @ H @ step
            w, raw, loss, g, prob = w_new, raw_new, loss_new, g_new, prob_new
            if np.abs(g).max() <= tol and 0.5 * decrement <= tol:
                return cls(mean, scale, w[:p], float(w[p]))
        return None


def _condition_number(H: np.ndarray) -> float:
    """``np.linalg.cond(H)`` (2-norm: the largest singular value over the
    smallest), without its wrapper's checks: a tenth of a refit."""
    sv = np.linalg.svd(H, compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sv[0] / sv[-1]


def matrix(df: pd.DataFrame) -> np.ndarray:
    """The feature columns as the float matrix the estimators see."""
    return df[FEATURES].to_numpy(float)


@one_thread()
def platt(score, y) -> tuple[float, float]:
    """Platt scaling: p = 1 / (1 + exp(-(a * score + b)))."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(np.asarray(score, float).reshape(-1, 1), np.asarray(y, int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


@one_thread()
def cross_validate(table: pd.DataFrame, name: str) -> tuple[dict, pd.DataFrame]:
    """Out-of-time scores, their calibrated probabilities, and the metrics."""
    from sklearn.metrics import brier_score_loss, log_loss

    oof = []
    for b, (train, test) in enumerate(time_splits(table)):
        est = fit_estimator(table.iloc[train], name)
        part = table.iloc[test][["published", "as_of", "adverse"]].assign(
            block=b, score=decision(est, matrix(table.iloc[test])))
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
        p = sigmoid(np.polyval(self.calibration, decision(self.estimator, matrix(X))))
        return pd.Series(p, index=X.index, name="adverse_probability")


@one_thread()
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
    # the out-of-time rows with a calibrated probability, which the choice and the metrics rest on
    # (the metrics' n_scored; the same rows for both candidates: the same splits)
    held_out = oof.loc[oof["probability"].notna(), "adverse"].to_numpy(bool)
    if not enough(held_out):
        # nothing to choose, validate or calibrate it by: its probabilities would be the class-balanced
        # fit's own (about 50/50), presented as calibrated
        return OutcomeModel(metrics=metrics.assign(chosen=False), n_train=len(y), n_adverse=int(y.sum()), reason=(
            f"too few inspections scored out of time to validate and calibrate it: {len(held_out)} "
            f"({int(held_out.sum())} adverse) of {len(y)}, each by a calibrated model of the inspections "
            f"published before it; need {MIN_TRAIN} with {MIN_CLASS} of each outcome"))
    calibration = platt(oof["score"], oof["adverse"])
    est = fit_estimator(table, name)
    coef = pd.DataFrame()
    if name == "logistic":
        coef = pd.DataFrame({"feature": FEATURES, "coefficient": est[-1].coef_[0]})
        coef = coef.reindex(coef["coefficient"].abs().sort_values(ascending=False).index)
        est = NumpyLogistic.from_pipeline(est)  # scored without importing scikit-learn
    return OutcomeModel(name, est, calibration, metrics, coef.reset_index(drop=True), len(y), int(y.sum()))


def model_term(logit) -> pd.Series:
    """A model score on the concern score's footing: standardised over the
    month's services (missing = average)."""
    return pd.Series(standardised(logit), index=getattr(logit, "index", None))


def standardised(x) -> np.ndarray:
    """(x - mean) / sd over the non-missing values, sample sd; 0 where x is
    missing, everywhere if sd is 0 or undefined. pandas' ``(s - s.mean()) /
    s.std()`` to the last bit (its ``nanops.nanmean`` and two-pass
    ``nanvar``), in numpy: the back-test standardises each of ~100 months."""
    x = np.asarray(x, float)
    missing = np.isnan(x)
    count = x.size - int(missing.sum())
    filled = np.where(missing, 0.0, x)
    mean = filled.sum() / count if count > 0 else np.nan
    sd = np.nan
    if count > 1:
        squares = (filled.sum(dtype=np.float64) / count - filled) ** 2
        squares[missing] = 0.0
        sd = np.sqrt(squares.sum(dtype=np.float64) / (count - 1))
    with np.errstate(invalid="ignore"):
        out = (x - mean) / sd if sd > 0 else x * 0
    return np.where(np.isnan(out), 0.0, out)


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
