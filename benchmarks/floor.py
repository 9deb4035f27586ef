"""The framework floor: the pipeline's asset graph with bodies that do nothing.

Same asset keys, inputs, outputs, checks (grouped into the same check steps,
with the same inputs) and partitions, same IO manager and in-process
executor, run the same way; each body only returns None or a passing check.
The time it takes is what Dagster itself costs, so the refresh's own cost
shows as a ratio to it.
"""

from __future__ import annotations

import dagster as dg


def _noop_asset(node: dg.AssetsDefinition):
    outs = {name: dg.AssetOut(key=key) for name, key in node.keys_by_output_name.items()}
    ins = {name: dg.AssetIn(key=key) for name, key in node.keys_by_input_name.items()}
    out_names = list(outs)

    @dg.multi_asset(name=f"{node.node_def.name}_noop", outs=outs, ins=ins,
                    partitions_def=node.partitions_def, can_subset=False,
                    check_specs=list(node.check_specs) or None)
    def _noop(**_inputs):
        for name in out_names:
            yield dg.Output(None, output_name=name)
        for spec in node.check_specs:
            yield dg.AssetCheckResult(passed=True, asset_key=spec.asset_key, check_name=spec.name)
    return _noop


def _noop_checks(node: dg.AssetChecksDefinition):
    ins = {name: dg.AssetIn(key=key) for name, key in node.keys_by_input_name.items()}
    specs = list(node.check_specs)

    @dg.multi_asset_check(name=f"{node.node_def.name}_noop", specs=specs, ins=ins,
                          can_subset=node.can_subset)
    def _noop(**_inputs):
        for spec in specs:
            yield dg.AssetCheckResult(passed=True, asset_key=spec.asset_key, check_name=spec.name)
    return _noop


def floor_definitions(defs: dg.Definitions) -> dg.Definitions:
    """No-op copies of every materialisable asset and every check step in ``defs``."""
    assets, checks = [], []
    for node in defs.resolve_asset_graph().assets_defs:
        if isinstance(node, dg.AssetChecksDefinition):
            checks.append(_noop_checks(node))
        elif node.is_materializable:
            assets.append(_noop_asset(node))
    job = dg.define_asset_job("monthly_refresh", selection=dg.AssetSelection.all())
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job],
                          executor=dg.in_process_executor)
