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
whose and what to run instead.

A stamp names the settings, not what the files held, nor whether the
figures are one refresh's: an ingest asset run alone after a file changed,
or a refresh stopped by a blocking check after it made ``indicator_values``,
leaves the storage's latest outputs of one stamp but of two refreshes. So
the step also requires (:func:`_require_one_refresh`) that every asset it
reads, and every asset those were made from, was made after the latest
materialisation of each of its own inputs (from them, not from an earlier
version), and that none of them failed a blocking check in the run that
made it. A run of the whole job skips these lookups (its inputs are its
own), so the monthly refresh pays nothing for them.
"""

from __future__ import annotations

import functools
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
    parents = _parents()
    closure = _made_from(keys, parents)
    latest = instance.get_latest_materialization_events(list(closure))  # one lookup for both checks
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
                f"{MATERIALISE_ALL}")
    _require_one_refresh(context, closure, latest, parents)


MATERIALISE_ALL = "materialise the whole monthly_refresh job with these settings (Materialize all)"


def _made_from(keys: list[dg.AssetKey], parents: dict[dg.AssetKey, list[dg.AssetKey]]) -> set[dg.AssetKey]:
    """``keys`` and every asset they are made from, however far up."""
    closure, stack = set(), list(keys)
    while stack:
        key = stack.pop()
        if key not in closure:
            closure.add(key)
            stack.extend(parents.get(key, ()))
    return closure


def _require_one_refresh(context, closure: set[dg.AssetKey], latest: dict,
                         parents: dict[dg.AssetKey, list[dg.AssetKey]]) -> None:
    """Stop the step if, among the assets it reads and those they were made
    from (``closure``, their ``latest`` materialisations), one was made
    before the latest materialisation of one of its own inputs (so not from
    it: two refreshes' figures), or failed a blocking check in the run that
    made it; see the module's docstring."""
    for key in sorted(closure, key=lambda k: k.to_user_string()):
        made = latest.get(key)
        if made is None:
            continue
        for parent in parents.get(key, ()):
            newer = latest.get(parent)
            if newer is not None and newer.run_id != made.run_id and newer.timestamp > made.timestamp:
                raise InputsOfAnotherRefresh(
                    f"{key.to_user_string()} (run {made.run_id[:8]}) was made before the latest "
                    f"{parent.to_user_string()} (run {newer.run_id[:8]}), not from it: the inputs are of two "
                    f"refreshes; {MATERIALISE_ALL}")
    made_by = {key: event.run_id for key, event in latest.items() if event is not None}
    for run_id in sorted(set(made_by.values()) - {context.run.run_id}):
        for record in context.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            check = record.dagster_event.event_specific_data
            if (made_by.get(check.asset_key) == run_id and not check.passed and check.blocking
                    and check.severity == dg.AssetCheckSeverity.ERROR):
                raise InputsOfAnotherRefresh(
                    f"{check.asset_key.to_user_string()} was made by run {run_id[:8]}, in which its blocking check "
                    f"{check.check_name} failed: it was not to be published; {MATERIALISE_ALL}")


@functools.cache
def _parents() -> dict[dg.AssetKey, list[dg.AssetKey]]:
    """Each asset of the project's definitions and the assets it is made from."""
    from pipeline.definitions import defs  # (which imports this module)

    return {spec.key: [dep.asset_key for dep in spec.deps] for spec in defs.resolve_all_asset_specs()}


def _stamp_of(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    run = instance.get_run_by_id(run_id)
    return {t: v for t, v in (run.tags if run else {}).items() if t in STAMP_TAGS}
