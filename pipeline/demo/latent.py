"""The hidden truth behind the demo: one latent quality per service.

``quality`` is standard normal, higher = better service. ``context`` (also
standard normal, independent of quality) is deprivation-like: it moves the
rates but says nothing about the service. Each indicator also has its own
persistent service effect and a fresh effect per period, so the rates are
over-dispersed relative to Poisson/binomial noise, as real areas are.

On the log scale (logit for reoffending) a service's rate in one period is

    national + effect_quality * quality + effect_context * context
             + persistent (sd_persistent) + per-period noise (sd_period)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Effect:
    quality: float  # per sd of quality; negative: better services, lower rates
    context: float  # per sd of context
    sd_persistent: float
    sd_period: float


EFFECTS = {
    "fte": Effect(quality=-0.20, context=0.30, sd_persistent=0.15, sd_period=0.08),
    "reoffending": Effect(quality=-0.15, context=0.12, sd_persistent=0.10, sd_period=0.06),
    "custody": Effect(quality=-0.30, context=0.40, sd_persistent=0.25, sd_period=0.12),
}


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per component, so changing one part of
    the generator does not reshuffle the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def draw_latent(yjs_names: list[str], seed: int) -> pd.DataFrame:
    """quality, context and one persistent effect per indicator, per service."""
    rng = stream(seed, "latent")
    n = len(yjs_names)
    latent = pd.DataFrame(
        {"quality": rng.standard_normal(n), "context": rng.standard_normal(n)},
        index=pd.Index(yjs_names, name="yjs_name"),
    )
    for indicator, effect in EFFECTS.items():
        latent[f"u_{indicator}"] = rng.normal(0.0, effect.sd_persistent, n)
    return latent


def persistent_shift(latent: pd.DataFrame, indicator: str) -> np.ndarray:
    """The service's lasting log (or logit) shift for ``indicator``."""
    e = EFFECTS[indicator]
    return (
        e.quality * latent["quality"] + e.context * latent["context"]
        + latent[f"u_{indicator}"]
    ).to_numpy()


def shifts(latent: pd.DataFrame, indicator: str, periods: int,
           rng: np.random.Generator) -> np.ndarray:
    """services x periods: persistent shift plus fresh per-period noise."""
    noise = rng.normal(0.0, EFFECTS[indicator].sd_period, (len(latent), periods))
    return persistent_shift(latent, indicator)[:, None] + noise
