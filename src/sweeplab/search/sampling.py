"""Drawing configs from Optuna distributions, and telling configs apart: what both of
sweeplab's TPE searchers (rung_tpe, and Ray's OptunaSearch made distinct) share."""

from __future__ import annotations

import math
import random
from typing import Any


def params_key(params: dict[str, Any]) -> tuple:
    """A config as a hashable key: the same values give the same key."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def choices_exhausted(dists: dict[str, Any], tried: int) -> bool:
    """Whether a space of choices only (finite) has had all its configs tried."""
    import optuna.distributions as d

    finite = all(isinstance(x, d.CategoricalDistribution) for x in dists.values())
    return finite and tried >= math.prod(len(x.choices) for x in dists.values())


def draw(dist: Any, rng: random.Random) -> Any:
    """One random value of an Optuna distribution (uniform, or log-uniform on a log scale)."""
    import optuna.distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return rng.choice(dist.choices)
    if dist.log:
        value = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    else:
        value = rng.uniform(dist.low, dist.high)
    step = getattr(dist, "step", None)
    if step:
        value = dist.low + round((value - dist.low) / step) * step
    return int(round(value)) if isinstance(dist, d.IntDistribution) else min(max(value, dist.low), dist.high)
