"""Search-space parameters: the W&B distributions, membership tests for presets, and
the Ray Tune domain each one becomes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

# W&B distributions -> (needs, result kind)
DISTRIBUTIONS = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),  # W&B: min / max are natural-log exponents
    "log_uniform_values": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "normal": (),
    "q_normal": (),
}
FLOAT_ONLY = {"uniform", "log_uniform", "log_uniform_values", "normal", "q_normal"}


@dataclass
class Param:
    name: str
    values: Optional[list] = None  # categorical
    distribution: Optional[str] = None
    min: Optional[float] = None
    max: Optional[float] = None
    q: Optional[float] = None
    mu: float = 0.0
    sigma: float = 1.0

    def contains(self, v: Any) -> bool:
        if self.values is not None:
            return any(v == x and type(v) is type(x) or (_num(v) and _num(x) and v == x) for x in self.values)
        if self.distribution in ("normal", "q_normal"):
            return _num(v)
        lo, hi = self.bounds()
        return _num(v) and lo - 1e-12 * abs(lo) <= v <= hi + 1e-12 * abs(hi)

    def bounds(self) -> tuple[float, float]:
        if self.distribution == "log_uniform":
            return math.exp(self.min), math.exp(self.max)
        return self.min, self.max

    def describe(self) -> str:
        if self.values is not None:
            return "one of " + ", ".join(map(repr, self.values))
        if self.distribution in ("normal", "q_normal"):
            return f"{self.distribution}(mu={self.mu}, sigma={self.sigma})"
        lo, hi = self.bounds()
        return f"{self.distribution} in [{lo:g}, {hi:g}]"

    def domain(self, grid: bool = False):
        from ray import tune

        if self.values is not None:
            return tune.grid_search(list(self.values)) if grid else tune.choice(list(self.values))
        d, lo, hi, q = self.distribution, self.min, self.max, self.q
        if d == "int_uniform":
            return tune.randint(int(lo), int(hi) + 1)  # W&B's max is inclusive
        if d == "uniform":
            return tune.uniform(lo, hi)
        if d == "q_uniform":
            return tune.qrandint(int(lo), int(hi), int(q)) if _ints(lo, hi, q) else tune.quniform(lo, hi, q or 1.0)
        if d in ("log_uniform", "log_uniform_values"):
            lo, hi = self.bounds()
            return tune.loguniform(lo, hi)
        if d == "q_log_uniform_values":
            return tune.qlograndint(int(lo), int(hi), int(q)) if _ints(lo, hi, q) else tune.qloguniform(lo, hi, q or 1.0)
        if d == "normal":
            return tune.randn(self.mu, self.sigma)
        return tune.qrandn(self.mu, self.sigma, q or 1.0)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints(*vs: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in vs if v is not None)
