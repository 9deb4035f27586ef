"""The framework floor: the pipeline's asset graph with bodies that do nothing.

Same asset keys, inputs, outputs, checks and partitions, same IO manager and
in-process executor, run the same way; each body only returns None. The time
it takes is what Dagster itself costs, so the refresh's own cost shows as a
ratio to it.
"""

from __future__ import annotations

import dagster as dg


def _noop_node(node: dg.AssetsDefinition):
    outs = {name: dg.AssetOut(key=key) for name, key in node.keys_by_output_name.items()}
    ins = {name: dg.AssetIn(key=key) for name, key in node.keys_by_input_name.items()}
    out_names = list(outs)

    @dg.multi_asset(name=f"{node.node_def.name}_noop", outs=outs, ins=ins,
                    partitions_def=node.partitions_def, can_subset=False)
    def _noop(**_inputs):
        for name in out_names:
            yield dg.Output(None, output_name=name)

    checks = []
    for spec in node.check_specs:
        @dg.asset_check(asset=spec.asset_key, name=spec.name, blocking=spec.blocking)
        def _check() -> dg.AssetCheckResult:
            return dg.AssetCheckResult(passed=True)
        checks.append(_check)
    return _noop, checks


def floor_definitions(defs: dg.Definitions) -> dg.Definitions:
    """No-op copies of every materialisable asset (and its checks) in ``defs``."""
    graph = defs.resolve_asset_graph()
    seen, assets, checks = set(), [], []
    for key in graph.materializable_asset_keys:
        node = graph.assets_def_for_key(key)
        if id(node) not in seen:
            seen.add(id(node))
            asset, node_checks = _noop_node(node)
            assets.append(asset)
            checks += node_checks
    job = dg.define_asset_job("monthly_refresh", selection=dg.AssetSelection.all())
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job],
                          executor=dg.in_process_executor)
