"""What the inspections published after each ranking later found, and the
outcome model's expanding-window scores for every past month.

Counting rule: each later inspection is scored once per method, by the
ranking of the month before it was published (``outcome.lead_month``): that
row of ``backtest_scores`` has ``scored_inspection`` true. The 24-month
outcome columns (the service's next inspection within 24 months of each
month, adverse or not; NULL when none) are for browsing, not for the
metrics, which would otherwise count one inspection up to 24 times.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from pipeline.dates import to_datetime
from pipeline.model import outcome

HORIZON_MONTHS = 24


def later_outcomes(monthly: pd.DataFrame, inspections: pd.DataFrame, as_of,
                   horizon_months: int = HORIZON_MONTHS) -> pd.DataFrame:
    """``monthly`` (as_of, yjs_id, ...) with the service's next inspection
    after each month, published on or before ``as_of``: ``next_published``,
    ``next_rating``, ``adverse`` (within the horizon, else NA),
    ``window_complete`` and ``scored_inspection``."""
    insp = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    insp = insp.assign(next_published=to_datetime(insp["published"]))
    insp = insp[["yjs_id", "next_published", "overall_rating", "rating_score"]].rename(
        columns={"overall_rating": "next_rating"}).sort_values("next_published")
    left = monthly.reset_index(names="_row").astype({"as_of": "datetime64[ns]"}).sort_values("as_of")
    m = pd.merge_asof(left, insp, left_on="as_of", right_on="next_published", by="yjs_id",
                      direction="forward", allow_exact_matches=False)
    m = m.sort_values("_row").set_index("_row").rename_axis(None)
    within = m["next_published"] <= m["as_of"] + pd.DateOffset(months=horizon_months)
    adverse = (m["rating_score"] >= outcome.ADVERSE_MIN_SCORE).astype("boolean")
    m["adverse"] = adverse.where(within, pd.NA)
    m.loc[~within, ["next_published", "next_rating", "rating_score"]] = np.nan
    m["window_complete"] = m["as_of"] + pd.DateOffset(months=horizon_months) <= pd.Timestamp(as_of)
    m["scored_inspection"] = within & (
        outcome.lead_month(m["next_published"]).to_numpy() == m["as_of"].to_numpy())
    return m.rename(columns={"rating_score": "next_rating_score"})


def model_logits(monthly: pd.DataFrame, inspections: pd.DataFrame, as_of, family: str,
                 submit=None) -> np.ndarray:
    """The outcome model's score for every month x service, refitted each
    month on the inspections published by then (expanding window); NaN in
    months with too few inspections to learn from. Refitted only in months
    that brought new outcomes; the logistic regression by ``outcome.refit``'s
    numpy replay of scikit-learn's fit (the same scores to ~1e-14).

    ``submit(fn, *args)``, if given, starts ``fn(*args)`` elsewhere (the
    model worker: ``pipeline.defs.resources.ModelWorker.submit``) and returns
    a function that waits for its result. The boosted trees' refits (~0.1 s
    each at scale; the logistic ones take ~1 ms) are then shared: the worker
    takes them one at a time from the last (the largest), two ahead, while
    this process takes them from the first, until they meet; where the
    waiting function cannot say whether its result is in (no ``ready``),
    the worker gets the last two. The scores are the same either way
    (one thread, fixed seed, the same rows)."""
    train_all = outcome.training_table(monthly, inspections, as_of)
    published = train_all["published"].to_numpy()
    adverse = train_all["adverse"].to_numpy(bool)
    X, X_train = outcome.matrix(monthly), outcome.matrix(train_all)
    # one refit per number of outcomes known, scoring every month that knew that many
    rows: dict[int, list[np.ndarray]] = {}
    for month, idx in sorted(monthly.groupby("as_of").indices.items()):
        n = int(np.searchsorted(published, np.datetime64(month), side="right"))
        if outcome.enough(adverse[:n]):
            rows.setdefault(n, []).append(idx)
    refits = list(rows.items())

    def matrices(part):  # each refit's n and the matrices of its months
        return [(n, [X[i] for i in idx]) for n, idx in part]

    def score(part):
        return refit_and_score(train_all, X_train, family, matrices(part))

    def send(part):
        return submit(refit_and_score, train_all, X_train, family, matrices(part))

    if submit is not None and family != "logistic" and len(refits) > 1:
        done = _shared(refits, score, send)
    else:
        done = [(refits, score(refits))]
    out = np.full(len(monthly), np.nan)
    for part, scored in done:
        for (_, idx), logits in zip(part, scored):
            for i, logit in zip(idx, logits):
                out[i] = logit
    return out


AHEAD = 2  # refits sent to the worker and not yet answered


def _shared(refits: list, score, send) -> list[tuple[list, list]]:
    """``score`` the ``refits`` here and, by ``send``, in the worker: (part,
    its scores) pairs covering every refit once (see ``model_logits``)."""
    first, last = 0, len(refits)  # refits[first:last] are not yet taken
    sent, done = [], []

    def send_next():  # the last refit not yet taken, to the worker
        nonlocal last
        last -= 1
        sent.append(([refits[last]], send([refits[last]])))

    while first < last:
        while len(sent) < AHEAD and first < last:
            send_next()
        if first < last:
            done.append(([refits[first]], score([refits[first]])))
            first += 1
        # a waiting function without ready() is asked only at the end
        while sent and getattr(sent[0][1], "ready", lambda: False)():
            part, wait = sent.pop(0)
            done.append((part, wait()))
    done += [(part, wait()) for part, wait in sent]
    return done


def refit_and_score(train_all: pd.DataFrame, X_train: np.ndarray, family: str,
                    refits: list[tuple[int, list[np.ndarray]]]) -> list[list[np.ndarray]]:
    """For each ``(n, Xs)``: ``family`` refitted on the first ``n`` training
    rows (``outcome.refit``), scored on each month's matrix in ``Xs``."""
    out = []
    # scikit-learn on one thread; the numpy logistic refits need no scikit-learn
    with outcome.one_thread() if family != "logistic" else contextlib.nullcontext():
        for n, Xs in refits:
            est = outcome.refit(train_all.iloc[:n], family, X_train[:n])
            out.append([est.decision_function(X) for X in Xs])
    return out
