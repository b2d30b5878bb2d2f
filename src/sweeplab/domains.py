"""Search-space parameters: the W&B distributions, membership tests for presets, and
the Ray Tune domain each one becomes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from .config import describe_type, type_problem

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
QUANTISED = {"q_uniform", "q_log_uniform_values"}
RANGED = {d for d, needs in DISTRIBUTIONS.items() if needs == ("min", "max")}
FLOAT32_MAX = 3.4028234663852886e38  # trials compute in float32: a larger number becomes inf there


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

    def limits(self) -> tuple[float, float]:
        """``min`` and ``max`` as given, which every ranged distribution has (``parse_param`` checks)."""
        if self.min is None or self.max is None:
            raise ValueError(f"{self.name}: {self.distribution} has no min and max")
        return self.min, self.max

    def bounds(self) -> tuple[float, float]:
        lo, hi = self.limits()
        if self.distribution == "log_uniform":
            return math.exp(lo), math.exp(hi)
        return lo, hi

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
        d, q = self.distribution, self.q
        if d == "normal":
            return tune.randn(self.mu, self.sigma)
        if d not in RANGED:
            return tune.qrandn(self.mu, self.sigma, q or 1.0)
        lo, hi = self.limits()
        if d == "int_uniform":
            return tune.randint(int(lo), int(hi) + 1)  # W&B's max is inclusive
        if d == "uniform":
            return tune.uniform(lo, hi)
        if d == "q_uniform":
            return tune.qrandint(int(lo), int(hi), int(q or 1)) if _ints(lo, hi, q) else tune.quniform(lo, hi, q or 1.0)
        if d in ("log_uniform", "log_uniform_values"):
            lo, hi = self.bounds()
            return tune.loguniform(lo, hi)
        # q_log_uniform_values
        if (q or 1) == 1 and _whole(lo, hi):  # integers on a log scale: a domain every searcher takes
            return tune.lograndint(int(lo), int(hi) + 1)  # W&B's max is inclusive
        return (
            tune.qlograndint(int(lo), int(hi), int(q or 1)) if _ints(lo, hi, q) else tune.qloguniform(lo, hi, q or 1.0)
        )


def optuna_problem(p: Param) -> Optional[str]:
    """Why Optuna's samplers (searches rung_tpe and optuna) cannot take this parameter, if
    they cannot: Optuna has no quantised log scale other than integers in steps of 1."""
    if p.distribution in ("normal", "q_normal"):
        return (
            f"{p.distribution}: Optuna's samplers (search rung_tpe, optuna) draw from bounded ranges only; "
            f"use uniform or log_uniform_values with min and max, or --search random"
        )
    if p.distribution == "q_log_uniform_values" and not ((p.q or 1) == 1 and _whole(p.min, p.max)):
        return (
            f"q_log_uniform_values with q={p.q if p.q is not None else 1} and min/max {p.min}/{p.max}: Optuna's "
            f"samplers (search rung_tpe, optuna) quantise a log scale only to integers in steps of 1; "
            f"use log_uniform_values, values: [...], or --search random"
        )
    return None


def number_problem(v: Any) -> Optional[str]:
    """Why a number (or a list of them) cannot reach a trial intact, if it cannot: NaN or
    infinite, beyond float32, or an integer beyond 64 bits (numpy, torch)."""
    if isinstance(v, (list, tuple)):
        return next(filter(None, map(number_problem, v)), None)
    if not _num(v):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return f"must be a finite number, got {v!r}"
    if isinstance(v, int) and not -(2**63) <= v < 2**63:
        return f"must fit a 64-bit integer, got {v}"
    if abs(v) > FLOAT32_MAX:
        return f"must be within float32's range (+-3.4e38), got {v!r}"
    return None


def _whole(*vs: Any) -> bool:
    return all(_num(v) and float(v).is_integer() for v in vs)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints(*vs: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in vs if v is not None)


def parse_param(name: str, body: Any, err, key: str) -> tuple[Any, Optional[Param]]:
    if not isinstance(body, dict):
        err(key, "expected {values: [...]}, {value: x} or {distribution: ..., min: ..., max: ...}")
    allowed = {"value", "values", "distribution", "min", "max", "q", "mu", "sigma", "probabilities"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        err(f"{key}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    dist = body.get("distribution")
    if dist is not None and dist not in DISTRIBUTIONS:
        err(f"{key}.distribution", f"unknown distribution {dist!r}; allowed: {', '.join(DISTRIBUTIONS)}")
    for k in ("min", "max", "q", "mu", "sigma"):
        problem = number_problem(body.get(k))
        if problem:
            err(f"{key}.{k}", problem)
    if "value" in body or dist == "constant":
        if "value" not in body:
            err(key, "distribution constant needs 'value'")
        v = body["value"]
        return (tuple(v) if isinstance(v, list) else v), None
    if "values" in body or dist == "categorical":
        values = body.get("values")
        if not isinstance(values, list) or not values:
            err(f"{key}.values", "expected a non-empty list")
        return None, Param(name, values=list(values))
    if "min" not in body or "max" not in body:
        if dist in ("normal", "q_normal"):
            if not body.get("sigma", 1.0) > 0:
                err(f"{key}.sigma", f"must be > 0, got {body['sigma']}")
            if body.get("q") is not None and not body["q"] > 0:
                err(f"{key}.q", f"must be > 0, got {body['q']}")
            return None, Param(
                name, distribution=dist, mu=body.get("mu", 0.0), sigma=body.get("sigma", 1.0), q=body.get("q")
            )
        err(key, "needs 'values', 'value', or 'min' and 'max'")
    lo, hi = body["min"], body["max"]
    if not _num(lo) or not _num(hi):
        err(key, f"min and max must be numbers, got {lo!r} and {hi!r}")
    if lo > hi:
        err(f"{key}.min", f"min {lo} > max {hi}")
    if dist is None:  # W&B's inference: two ints -> int_uniform, otherwise uniform
        dist = "int_uniform" if _ints(lo, hi) else "uniform"
    if dist in ("log_uniform_values", "q_log_uniform_values") and lo <= 0:
        err(f"{key}.min", f"{dist} needs min > 0, got {lo}")
    if dist == "log_uniform" and hi > math.log(FLOAT32_MAX):
        err(f"{key}.max", f"log_uniform's min and max are natural-log exponents; exp({hi}) is beyond float32")
    q = body.get("q")
    if q is not None and (not _num(q) or q <= 0):
        err(f"{key}.q", f"must be a positive number, got {q!r}")
    if dist in QUANTISED and not _ints(lo, hi, q):  # q defaults to 1 (W&B); Ray's quantised float
        # domains need min and max on the q grid
        for k, v in (("min", lo), ("max", hi)):
            if not math.isclose(v / (q or 1), round(v / (q or 1))):
                err(f"{key}.{k}", f"{dist} needs min and max that are multiples of q ({q or 1}), got {v}")
    return None, Param(name, distribution=dist, min=lo, max=hi, q=q)


def check_value(v: Any, tp: Any, err, key: str) -> None:
    problem = number_problem(v) or (tp is not None and type_problem(tuple(v) if isinstance(v, list) else v, tp))
    if problem:
        err(key, problem)


def check_param(p: Param, tp: Any, err, key: str) -> None:
    if p.values is not None:
        for i, v in enumerate(p.values):
            check_value(v, tp, err, f"{key}.values[{i}]")
        return
    if tp is None:
        return
    if tp is int and p.distribution not in FLOAT_ONLY:
        for name in ("min", "max", "q"):
            value = getattr(p, name)
            if value is not None and not _ints(value):
                err(f"{key}.{name}", f"is an integer field's bound; expected an integer, got {value!r}")
    if tp is int and (p.distribution in FLOAT_ONLY or not _ints(p.min, p.max, p.q)):
        err(
            key,
            f"is an integer field; use int_uniform, q_uniform with integer min/max/q, or values (got {p.distribution})",
        )
    if type_problem(1.0, tp) and type_problem(1, tp):
        err(key, f"a {p.distribution} distribution cannot give {describe_type(tp)}; use values")
