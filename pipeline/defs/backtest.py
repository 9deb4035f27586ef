"""Back-test: every past month's ranking, the outcome model learnt from past
inspections, and how well each method found the services later judged
adverse (``pipeline.backtest``, ``pipeline.model.outcome``)."""

from __future__ import annotations

import functools
import time

import dagster as dg
import pandas as pd

from pipeline import ingest
from pipeline.backtest import plot, rankings, run
from pipeline.defs.metadata import md_table
from pipeline.defs.rank import synthetic_banner
from pipeline.defs.resources import ModelWorker, RefreshSettings
from pipeline.model import outcome, panel
from pipeline.report import svg
from pipeline.report.plots import stamp_of
from pipeline.settings import synthetic_note

GROUP = "backtest"
MODEL_FIT = "outcome_model fit"  # started by backtest_rankings, collected by backtest


@dg.asset(group_name=GROUP, kinds={"pandas"}, description=(
    "Every month's ranking from the first with two periods of every indicator to the as-of date, "
    "made with only what was published by then; with the outcome model's features."))
def backtest_rankings(context, settings: RefreshSettings, model_worker: ModelWorker,
                      services: ingest.Ingested, inspections: ingest.Ingested,
                      indicator_values: pd.DataFrame) -> dg.Output:
    as_of, rules = settings.as_of_date(), settings.rules()
    start = time.perf_counter()
    months = rankings.backtest_months(indicator_values, rules.lag_months, as_of)
    # The outcome model learns from some of these months' rows; its fit runs
    # in the worker and the backtest step collects it. On a small panel, if
    # the worker has done its imports, it ranks those months itself and fits
    # while this step ranks them all; otherwise (still importing: it would
    # rank them after its imports, later than this step has them) and on a
    # large panel (where it ranks half the months for this step), the fit
    # starts once this step has ranked them.
    early = model_worker.warm and len(indicator_values) < panel.SHARE_FROM_ROWS
    if early:
        model_worker.start(context.log, MODEL_FIT, rankings.fit_outcome_model,
                           indicator_values[rankings.PANEL_COLUMNS_READ], services.table[["yjs_id"]],
                           inspections.table, rules, months, as_of)
    monthly = rankings.monthly_rankings(indicator_values, services.table, inspections.table, rules, months,
                                        submit=functools.partial(model_worker.submit, context.log))
    if not early:
        model_worker.start(context.log, MODEL_FIT, outcome.fit,
                           outcome.training_table(monthly, inspections.table, as_of))
    return dg.Output(monthly, metadata={
        "rows": len(monthly), "months": len(months),
        "first_month": str(months[0].date()) if months else "none",
        "seconds": round(time.perf_counter() - start, 1)})


def _model_output(model: outcome.OutcomeModel) -> dg.Output:
    metadata = {
        "model": model.name or "none", "reason": model.reason or "fitted",
        "inspections": model.n_train, "adverse": model.n_adverse,
        "cv_metrics": md_table(model.metrics), "coefficients": md_table(model.coefficients),
        "calibration": (f"Platt a={model.calibration[0]:.3f}, b={model.calibration[1]:.3f}" if model.fitted
                        else "none")}
    chosen = model.metrics[model.metrics["chosen"]] if len(model.metrics) else model.metrics
    if len(chosen) and chosen["auc"].notna().all():
        metadata["cv_auc"] = round(float(chosen["auc"].iloc[0]), 3)
    return dg.Output(model, output_name="outcome_model", metadata=metadata)


# One step for the outcome model and the back-test, so that the model is
# fitted in the worker process (started by backtest_rankings) while the
# back-test does what does not depend on it (``run.run_backtest``): as two
# steps, the run would wait for the fit.
@dg.multi_asset(group_name=GROUP, outs={
    "outcome_model": dg.AssetOut(kinds={"sklearn"}, description=(
        "Probability of an adverse inspection outcome, learnt from the inspections published by the "
        "as-of date with the features of the month before each; chosen by time-ordered "
        "cross-validation. Fitted in a worker process that imports scikit-learn while the run does "
        "other work.")),
    "backtest_scores": dg.AssetOut(kinds={"pandas"}, description=(
        "One row per month x service: the month's concern score, rank and pick, the outcome model's "
        "score, and what the next inspection within 24 months found (NULL if none).")),
    "backtest_metrics": dg.AssetOut(kinds={"pandas"}, description=(
        "Per method: AUC for an adverse outcome with a bootstrap interval, share of adverse outcomes "
        "caught in the riskiest 10% and 20%, precision of the full-joint picks, inspections scored.")),
})
def backtest(context, settings: RefreshSettings, model_worker: ModelWorker, inspections: ingest.Ingested,
             backtest_rankings: pd.DataFrame):
    as_of, rules = settings.as_of_date(), settings.rules()
    start = time.perf_counter()
    fitted = model_worker.collect(MODEL_FIT)
    if fitted is None:  # backtest_rankings was not made in this run
        table = outcome.training_table(backtest_rankings, inspections.table, as_of)
        fitted = model_worker.submit(context.log, outcome.fit, table)
    model = functools.cache(fitted)

    def family() -> str:
        return model().name or "logistic"

    family.ready = fitted.ready  # whether asking will not wait for the worker
    bt = run.run_backtest(backtest_rankings, inspections.table, rules, as_of, family=family,
                          submit=functools.partial(model_worker.submit, context.log))
    seconds = round(time.perf_counter() - start, 1)
    yield _model_output(model())
    scored = bt.scores[bt.scores["scored_inspection"]]
    yield dg.Output(bt.scores, output_name="backtest_scores", metadata={
        "rows": len(bt.scores), "scored_inspections": len(scored),
        "preview": md_table(scored.tail(10))})
    # as the list's views: the synthetic-data banner and the plot's stamp; and the date (a backfilled
    # month's metrics are the asset's latest, not those of the published list)
    note = synthetic_note(settings.data_path())
    banner = synthetic_banner(note) + f"*Back-test to {as_of}: the months ranked up to then.*\n\n"
    image = svg.stamped(plot.catch_curve_svg(bt.curves, f"Back-test to {as_of}: inspections every method scored"),
                        stamp_of(note))
    yield dg.Output(bt.metrics, output_name="backtest_metrics", metadata={
        "rows": len(bt.metrics), "seconds": seconds,
        "metrics": dg.MetadataValue.md(banner + plot.metrics_markdown(bt.metrics)),
        "catch_curve": dg.MetadataValue.md(banner + svg.markdown_image(image, "share of adverse outcomes caught")),
    })
