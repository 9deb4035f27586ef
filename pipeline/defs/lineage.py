"""Whether a step's inputs come from this refresh, not another's.

Between steps, each asset's output sits in the Dagster instance's storage
(``$DAGSTER_HOME/storage``), which holds the latest output of every asset,
whichever run made it. A run of the whole job makes every input of its
publishing steps itself; a run of some assets only (the UI's Materialize on
one asset page, a re-execution) takes the others' from that storage, and
those may be another refresh's: another data dir, another as-of date, other
rules. Published so, the warehouse would hold one refresh's figures under
another's name and date.

So each run is tagged, as it starts, with what its outputs depend on
(``RefreshSettings.stamp``: the data dir, the as-of date, the ranking
rules), and the steps that publish (``warehouse``) or show a list
(``inspection_targets``) call :func:`require_this_refresh`: where an input
may not be this run's own, the run that made its latest materialisation
must carry the same stamp, else the step stops, saying which input is
whose and what to run instead. A run of the whole job skips the lookup (its
inputs are its own), so the monthly refresh pays nothing for it.
"""

from __future__ import annotations

import json

import dagster as dg

DATA_DIR_TAG, AS_OF_TAG, RULES_TAG = "yjt/data_dir", "yjt/as_of", "yjt/rules"
STAMP_TAGS = (DATA_DIR_TAG, AS_OF_TAG, RULES_TAG)


class InputsOfAnotherRefresh(dg.Failure):
    """A step's input was made by a refresh of other settings."""


def _own_inputs(run: dg.DagsterRun, keys: list[dg.AssetKey]) -> bool:
    """Whether this run makes every one of ``keys`` itself: not a
    re-execution, and every key among the assets it materialises. A run
    of the whole job has no selection: None, or empty as
    ``execute_in_process`` (the CLI's refresh) records it; Dagster reads an
    empty one as none (``JobDefinition`` runs every step)."""
    if run.parent_run_id is not None:
        return False
    return not run.asset_selection or set(keys) <= set(run.asset_selection)


def _described(tags: dict[str, str], other: dict[str, str]) -> str:
    """A run's settings as the message gives them: its data dir and as-of
    date, and its ranking rules where they differ from ``other``'s."""
    if not any(t in tags for t in STAMP_TAGS):
        return "settings not recorded"
    text = f"data dir {tags.get(DATA_DIR_TAG, '?')}, as of {tags.get(AS_OF_TAG, '?')}"
    if tags.get(RULES_TAG) != other.get(RULES_TAG):
        try:
            mine, theirs = json.loads(tags.get(RULES_TAG, "{}")), json.loads(other.get(RULES_TAG, "{}"))
        except ValueError:
            mine, theirs = {}, {}
        differ = [f"{k} {mine[k]}" for k in sorted(mine) if mine.get(k) != theirs.get(k)]
        text += ", ranking rules " + (", ".join(differ) if differ else "not recorded")
    return text


def require_this_refresh(context) -> None:
    """Stop the step (:class:`InputsOfAnotherRefresh`) if one of the assets
    it reads (its asset's inputs) was last made by a run whose stamp differs
    from this run's; see the module's docstring."""
    run, instance = context.run, context.instance
    keys = list(context.assets_def.keys_by_input_name.values())
    if _own_inputs(run, keys):
        return
    ours = _stamp_of(instance, run.run_id)  # tagged as the run started (RefreshSettings)
    stamps = {run.run_id: ours}
    latest = instance.get_latest_materialization_events(keys)
    for key in keys:
        event = latest.get(key)
        if event is None:
            continue  # never made: Dagster itself refuses to load it
        if event.run_id not in stamps:
            stamps[event.run_id] = _stamp_of(instance, event.run_id)
        theirs = stamps[event.run_id]
        if theirs != ours or not ours:
            raise InputsOfAnotherRefresh(
                f"its input {key.to_user_string()} was made by run {event.run_id[:8]} "
                f"({_described(theirs, ours)}), not by a refresh like this one ({_described(ours, theirs)}): "
                "materialise the whole monthly_refresh job with these settings (Materialize all)")


def _stamp_of(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    run = instance.get_run_by_id(run_id)
    return {t: v for t, v in (run.tags if run else {}).items() if t in STAMP_TAGS}
