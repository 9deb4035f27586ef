"""Synthetic demo dataset: ``python -m pipeline.demo`` writes ``data/demo``.

Real service and local authority names, synthetic everything else: see
``generate`` for the entry point and ``latent`` for the model behind it.
"""
