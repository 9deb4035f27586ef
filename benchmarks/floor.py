"""The framework floor: the pipeline's asset graph with bodies that do nothing.

Same asset keys, inputs, outputs and checks (grouped into the same check
steps, with the same inputs), same IO manager and in-process
executor, run the same way; each body only returns None or a passing check.
The time it takes is what Dagster itself costs, so the refresh's own cost
shows as a ratio to it.

The graph's shape is taken from the refresh's definitions (``floor_spec``)
as plain data (names, key paths, check specs' fields), which pickle: the
benchmark's floor process builds the floor from it (``floor_from_spec``)
importing Dagster alone, so that its start-up does not pay for the
pipeline's own imports (pandas, DuckDB, the pipeline's modules), which are
the refresh's cost, not Dagster's.
"""

from __future__ import annotations

import dagster as dg


def floor_spec(defs: dg.Definitions) -> list[dict]:
    """Every materialisable asset step and every check step of ``defs``:
    its name, output and input keys, check specs and whether it can be
    subset, as plain data (keys as their paths: Dagster's check specs do
    not survive a pickle). Partitioned assets are not copied (the refresh's
    partitions are its job's config, not its assets')."""
    spec = []
    for node in defs.resolve_asset_graph().assets_defs:
        checks = isinstance(node, dg.AssetChecksDefinition)
        if not checks and not node.is_materializable:
            continue
        if node.partitions_def is not None:
            raise ValueError(f"{node.node_def.name}: the floor does not copy partitioned assets")
        spec.append({
            "checks": checks, "name": node.node_def.name, "can_subset": node.can_subset,
            "outs": {name: key.path for name, key in node.keys_by_output_name.items()},
            "ins": {name: key.path for name, key in node.keys_by_input_name.items()},
            "specs": [{"name": c.name, "asset": c.asset_key.path, "blocking": c.blocking,
                       "description": c.description, "additional_deps": [d.asset_key.path for d in c.additional_deps]}
                      for c in node.check_specs]})
    return spec


def _check_specs(step: dict) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name=c["name"], asset=dg.AssetKey(c["asset"]), blocking=c["blocking"],
                              description=c["description"],
                              additional_deps=[dg.AssetKey(d) for d in c["additional_deps"]])
            for c in step["specs"]]


def _ins(step: dict) -> dict[str, dg.AssetIn]:
    return {name: dg.AssetIn(key=dg.AssetKey(path)) for name, path in step["ins"].items()}


def _noop_asset(step: dict):
    outs = {name: dg.AssetOut(key=dg.AssetKey(path)) for name, path in step["outs"].items()}
    ins, out_names, specs = _ins(step), list(outs), _check_specs(step)

    @dg.multi_asset(name=f"{step['name']}_noop", outs=outs, ins=ins, can_subset=False, check_specs=specs or None)
    def _noop(**_inputs):
        for name in out_names:
            yield dg.Output(None, output_name=name)
        for spec in specs:
            yield dg.AssetCheckResult(passed=True, asset_key=spec.asset_key, check_name=spec.name)
    return _noop


def _noop_checks(step: dict):
    ins, specs = _ins(step), _check_specs(step)

    @dg.multi_asset_check(name=f"{step['name']}_noop", specs=specs, ins=ins, can_subset=step["can_subset"])
    def _noop(**_inputs):
        for spec in specs:
            yield dg.AssetCheckResult(passed=True, asset_key=spec.asset_key, check_name=spec.name)
    return _noop


def floor_from_spec(spec: list[dict]) -> dg.Definitions:
    """No-op copies of the steps of ``spec`` (:func:`floor_spec`), in a job
    of every asset named as the refresh's, on the in-process executor."""
    assets = [_noop_asset(step) for step in spec if not step["checks"]]
    checks = [_noop_checks(step) for step in spec if step["checks"]]
    job = dg.define_asset_job("monthly_refresh", selection=dg.AssetSelection.all())
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job], executor=dg.in_process_executor)


def floor_definitions(defs: dg.Definitions) -> dg.Definitions:
    """No-op copies of every materialisable asset and every check step in ``defs``."""
    return floor_from_spec(floor_spec(defs))
