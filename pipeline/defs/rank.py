"""Rank: the concern score, rank intervals and recommendations
(``pipeline.model.scores``, ``pipeline.rank``)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline import ingest
from pipeline.defs.lineage import require_this_refresh
from pipeline.defs.resources import RefreshSettings
from pipeline.model import outcome, scores
from pipeline.publish.warehouse import is_backfill, published_as_of
from pipeline.rank import targets
from pipeline.report.markdown import markdown_table
from pipeline.report.plots import stamp_of
from pipeline.report.ui import plot_markdown
from pipeline.settings import DEMO_NOTE, synthetic_note

GROUP = "rank"
SYNTHETIC_BANNER = f"**{DEMO_NOTE}**\n\n"  # the demo's; a data dir partly the demo's says which part


def synthetic_banner(note: str) -> str:
    """The views' first line where some figures are the demo's (``settings.synthetic_note``)."""
    return f"**{note}**\n\n" if note else ""
NONE_RECOMMENDED = ("No service is recommended for a full joint inspection or a benchmark visit: "
                    "every service is monitored.")


def recommended_markdown(ranked: pd.DataFrame, synthetic: str, notes: list[str] = (), source: str = "") -> str:
    """The UI's list of the services picked for a full joint inspection or a
    benchmark visit, under the synthetic-data banner (``synthetic``: the
    ``settings.synthetic_note``, "" for none); a sentence saying so when every
    service is monitored, ``notes`` (``targets.shortfall_notes``) where fewer
    were picked than asked, and last ``source``: what was ranked, for where
    (the UI shows the latest run's list, whichever warehouse it was for)."""
    picked = ranked[ranked["recommendation"] != "monitor"]
    # as an inspector reads it: words, not the table's codes and column names
    table = pd.DataFrame({
        "rank": picked["rank"], "service": picked["yjs_name"],
        "recommendation": picked["recommendation"].str.replace("_", " ", regex=False),
        "rank interval (90%)": picked["rank_low"].astype(str) + "-" + picked["rank_high"].astype(str),
        "among the full joint picks in simulations": [
            f"{p:.0%}" if rec == "full_joint_inspection" and p == p else "-"
            for p, rec in zip(picked["p_full_joint"], picked["recommendation"])],
        "reasons": picked["reasons"]})
    said = "".join(f"*{note}*\n\n" for note in notes)
    body = said + markdown_table(table) if len(table) else NONE_RECOMMENDED + ("\n\n" + said if said else "")
    return synthetic_banner(synthetic) + body + (f"\n\n*{source}*" if source else "")


def backfill_banner(as_of, published) -> str:
    """Above every view of a list for an earlier month than the one published
    (a backfill, :func:`~pipeline.publish.warehouse.is_backfill`): it goes to
    ``ranking_history`` only, so the asset's latest materialisation is not
    the published list."""
    if not is_backfill(as_of, published):
        return ""
    return (f"**Backfill: this list ranks as of {as_of} and was added to `ranking_history` only; the "
            f"published list (`inspection_targets`) is as of {published}.**\n\n")


@dg.asset(group_name=GROUP, kinds={"pandas"}, description=(
    "The ranked list: one row per service with concern score, 90% rank interval, "
    "recommendation (full_joint_inspection / benchmark_visit / monitor) and plain-English reasons."))
def inspection_targets(context, settings: RefreshSettings, services: ingest.Ingested,
                       inspections: ingest.Ingested, indicator_evidence: pd.DataFrame,
                       indicator_values: pd.DataFrame, indicator_dispersion: pd.DataFrame,
                       outcome_model: outcome.OutcomeModel) -> dg.Output:
    require_this_refresh(context)
    as_of, rules = settings.as_of_date(), settings.rules()
    history = scores.inspection_history(inspections.table, as_of)
    scored = scores.concern_scores(services.table, indicator_evidence, history, rules.weights)
    # the outcome model's probability, in the concern score only at its weight (default 0)
    features = outcome.features(services.table[["yjs_id"]].drop_duplicates(), indicator_evidence,
                                history, outcome.service_size(indicator_values)).set_index("yjs_id")
    probability = outcome_model.probability(features)
    scored = outcome.blend(scored, probability, rules.weights.get("outcome_model", 0.0))
    published = inspections.table["published"]
    ranked = targets.recommend(scored, indicator_evidence, rules, as_of,
                               inspections_from=published[published <= pd.Timestamp(as_of)].min(),
                               values=indicator_values)
    ranked["adverse_probability"] = ranked["yjs_id"].map(probability).astype(float)
    note = synthetic_note(settings.data_path())
    # every view says what it is: synthetic figures, or a backfill that is not the published list
    banner = backfill_banner(as_of, published_as_of(settings.warehouse_path()))
    source = (f"Ranked as of {as_of} from the data dir {settings.data_path()}, for the warehouse "
              f"{settings.warehouse_path()}.")
    stamp = stamp_of(note)
    views = {"recommended": recommended_markdown(ranked, note, targets.shortfall_notes(ranked, rules), source),
             # top of the list, funnel plots and rank intervals (pipeline.report)
             **{k: synthetic_banner(note) + v
                for k, v in plot_markdown(ranked, indicator_values, indicator_dispersion, stamp=stamp).items()}}
    return dg.Output(ranked, metadata={
        "as_of": str(as_of), "rows": len(ranked), "backfill": bool(banner),
        "data_dir": str(settings.data_path()), "warehouse": str(settings.warehouse_path()),
        "full_joint_inspection": int((ranked["recommendation"] == "full_joint_inspection").sum()),
        "benchmark_visit": int((ranked["recommendation"] == "benchmark_visit").sum()),
        **{k: dg.MetadataValue.md(banner + v) for k, v in views.items()},
    })
