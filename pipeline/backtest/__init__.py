"""The back-test: rank as of every past month with the pipeline's own
functions, then ask how well each ranking found the services that the
inspections published afterwards judged adverse (Requires improvement or
Inadequate; unsatisfactory or poor before 2018).

Modules: ``rankings`` (every month's ranking and model features),
``outcomes`` (what later inspections found; the outcome model refitted
month by month), ``metrics`` (AUC, catch rates, pick precision, intervals),
``run`` (the methods side by side: ``backtest_scores``, ``backtest_metrics``)
and ``plot`` (share of adverse outcomes caught against share inspected).
Plain functions on DataFrames; nothing here knows Dagster.
"""
