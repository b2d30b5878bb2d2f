"""One random value of an Optuna distribution (uniform, or log-uniform on a log scale)."""
from __future__ import annotations

import math
import random
from typing import Any


def draw(dist: Any, rng: random.Random) -> Any:
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
