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
    ``window_complete`` and ``scored_inspection``.

    The next inspection is a forward as-of join by service (strictly
    later), done as one search: the inspections sorted by (service, date)
    as integer keys, each month's row looks up the first key after its own
    (tested against ``pd.merge_asof``)."""
    insp = inspections[to_datetime(inspections["published"]) <= pd.Timestamp(as_of)]
    published = to_datetime(insp["published"]).to_numpy("datetime64[ns]")
    month = monthly["as_of"].to_numpy("datetime64[ns]")
    service, _ = pd.factorize(pd.concat([monthly["yjs_id"], insp["yjs_id"]], ignore_index=True))
    dates, date = np.unique(np.r_[month, published], return_inverse=True)  # dates as ranks: exact
    key = service * (dates.size + 1) + date.reshape(-1)
    row_key, insp_key = key[:len(month)], key[len(month):]
    # by service, then date; a service's inspections of one date in the order of the as-of join's
    # sort by date (pandas' sort_values, not stable), whose first it took
    by_date = np.empty(published.size, np.intp)
    by_date[np.argsort(published.view(np.int64), kind="quicksort")] = np.arange(published.size)
    order = np.lexsort((by_date, insp_key))
    at = np.searchsorted(insp_key[order], row_key, side="right")  # the first strictly later
    found = at < order.size
    found[found] = service[len(month):][order[at[found]]] == service[:len(month)][found]
    nxt = np.full(len(month), -1, np.intp)  # none (also where no inspection is on record)
    nxt[found] = order[at[found]]
    # the horizon's end per month, from the distinct dates (a few hundred) rather than every row
    ends = (pd.DatetimeIndex(dates) + pd.DateOffset(months=horizon_months)).to_numpy()[date[:len(month)]]

    def take(values, rows) -> np.ndarray:  # each row's next inspection's value (missing if none)
        return pd.api.extensions.take(np.asarray(values), rows, allow_fill=True)

    within = take(published, nxt) <= ends  # NaT (none) is not
    nxt = np.where(within, nxt, -1)  # none within the horizon: as none at all

    score = take(insp["rating_score"].to_numpy(float), nxt)  # float, as with none
    # missing where there is no next inspection within the horizon, or its rating is unknown (its rows
    # disagree: ingest.inspections): no outcome to score
    rated = within & ~np.isnan(score)
    later = {
        "next_published": take(published, nxt),
        "next_rating": take(insp["overall_rating"].to_numpy(object), nxt),
        "next_rating_score": score,
        "adverse": pd.arrays.BooleanArray(rated & (score >= outcome.ADVERSE_MIN_SCORE), ~rated),
        "window_complete": ends <= np.datetime64(pd.Timestamp(as_of)),
        "scored_inspection": rated & (take(outcome.lead_month(published), nxt) == month)}
    if monthly.columns.isin(list(later)).any():  # replaced where they are, as assigning them would
        return monthly.assign(**later)
    # the new columns as one frame beside monthly's (~0.5 ms, against ~2 ms for a copy and six inserts)
    return pd.concat([monthly, pd.DataFrame(later, index=monthly.index)], axis=1)


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
