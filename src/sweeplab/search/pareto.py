"""Several objectives at once: Pareto fronts by non-dominated sorting, NSGA-II's crowding
distance, constraints, and the hypervolume of a front. Pure functions on plain numbers
(no Ray, no Optuna): the promotion scheduler ranks a rung with them (MO-ASHA), analysis
draws and chooses from the front, the benchmarks score a search by its hypervolume.

Every objective is turned so that larger is better (``signed``) before it gets here."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

Vector = Sequence[float]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_/.-]*)\s*(<=|>=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``epoch_seconds <= 2.0``: a limit on any reported metric."""

    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def kept(self, value: float) -> bool:
        return not math.isnan(value) and _OPS[self.op](value, self.bound)

    def excess(self, value: float) -> float:
        """How far ``value`` is past the bound (0 where it keeps it; inf where it is missing),
        relative to the bound's size so that constraints on different scales add up."""
        if math.isnan(value):
            return math.inf
        if self.kept(value):
            return 0.0
        # at least a sliver: a strict bound broken exactly at the bound is still broken
        return max(abs(value - self.bound) / max(abs(self.bound), 1e-12), 1e-12)


def parse_constraint(text: str) -> Constraint:
    """``"epoch_seconds <= 2.0"`` -> Constraint; ValueError (with what is allowed) otherwise."""
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r}: expected 'METRIC <= NUMBER' (or >=, <, >)")
    return Constraint(m.group(1), m.group(2), float(m.group(3)))


def violation(values: Mapping[str, float], constraints: Sequence[Constraint]) -> float:
    """The summed excess over every constraint (0: all kept)."""
    return sum(c.excess(float(values.get(c.metric, math.nan))) for c in constraints)


def excess(constraints: Sequence[Constraint], result: Mapping[str, object]) -> tuple[float, ...]:
    """Each constraint as Optuna's samplers take it: <= 0 where kept (a value missing breaks it)."""
    out = []
    for c in constraints:
        value = result.get(c.metric)
        if not isinstance(value, (int, float)) or math.isnan(value):
            out.append(1e9)
        else:
            out.append(float(value) - c.bound if c.op in ("<=", "<") else c.bound - float(value))
    return tuple(out)


# Optuna's key for a trial's constraint values: its samplers read them from the trial's
# system attributes, where a told trial's constraints_func result goes (a user attribute here)
CONSTRAINTS = "constraints"


def stored_constraints(trial) -> list[float]:
    """An Optuna sampler's ``constraints_func``: the values ``excess`` gave the trial (<= 0: kept)."""
    return list(trial.user_attrs.get(CONSTRAINTS) or [0.0])


def dominates(a: Vector, b: Vector) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one (larger is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def fronts(points: Sequence[Vector]) -> list[list[int]]:
    """Non-dominated sorting (Deb et al. 2002): indices of ``points`` by front, the Pareto
    front first. A point with a NaN is in the last front."""
    n = len(points)
    bad = [i for i, p in enumerate(points) if any(math.isnan(x) for x in p)]
    good = [i for i in range(n) if i not in set(bad)]
    beaten_by: dict[int, list[int]] = {i: [] for i in good}
    count = {i: 0 for i in good}
    for a in good:
        for b in good:
            if a != b and dominates(points[a], points[b]):
                beaten_by[a].append(b)
                count[b] += 1
    out, current = [], [i for i in good if count[i] == 0]
    while current:
        out.append(sorted(current))
        nxt = []
        for a in current:
            for b in beaten_by[a]:
                count[b] -= 1
                if count[b] == 0:
                    nxt.append(b)
        current = nxt
    return out + ([sorted(bad)] if bad else [])


def crowding(points: Sequence[Vector], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each point of one front: the extremes infinite, the
    others the sum over objectives of their neighbours' normalised gap."""
    dist = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for k in range(len(points[front[0]])):
        order = sorted(front, key=lambda i: points[i][k])
        lo, hi = points[order[0]][k], points[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for left, mid, right in zip(order, order[1:], order[2:]):
            dist[mid] += (points[right][k] - points[left][k]) / (hi - lo)
    return dist


def rank(points: Sequence[Vector], violations: Sequence[float] = ()) -> list[int]:
    """Indices of ``points`` best first, as NSGA-II (and MO-ASHA, Schmucker et al. 2021)
    rank them: a point that keeps every constraint before any that breaks one (those by how
    far), then by front, then the less crowded first."""
    violations = list(violations) or [0.0] * len(points)
    kept = [i for i in range(len(points)) if violations[i] == 0]
    broken = sorted((i for i in range(len(points)) if violations[i] != 0), key=lambda i: (violations[i], i))
    order = []
    sub = [points[i] for i in kept]
    for front in fronts(sub):
        spread = crowding(sub, front)
        order += [kept[j] for j in sorted(front, key=lambda j: (-spread[j], j))]
    return order + broken


def scores(points: Sequence[Vector], violations: Sequence[float] = ()) -> list[float]:
    """One number per point that orders them as ``rank`` does (larger is better), for
    code that compares scalars (a rung's cutoff): n - position."""
    out = [0.0] * len(points)
    for position, i in enumerate(rank(points, violations)):
        out[i] = float(len(points) - position)
    return out


def hypervolume(points: Sequence[Vector], reference: Vector) -> float:
    """The volume the points dominate above ``reference`` (larger is better on every axis;
    points not above it on every axis add nothing). Exact, in 1 to 3 dimensions."""
    pts = [tuple(p) for p in points if all(x > r for x, r in zip(p, reference)) and not any(map(math.isnan, p))]
    if not pts:
        return 0.0
    dims = len(reference)
    if dims == 1:
        return max(p[0] for p in pts) - reference[0]
    if dims == 2:
        volume, best_y = 0.0, reference[1]
        for x, y in sorted(pts, key=lambda p: -p[0]):
            if y > best_y:
                volume += (x - reference[0]) * (y - best_y)
                best_y = y
        return volume
    if dims == 3:  # slices along the third axis, each a 2-D front
        volume = 0.0
        levels = sorted({p[2] for p in pts}, reverse=True)
        for top, below in zip(levels, levels[1:] + [reference[2]]):
            slab = [(p[0], p[1]) for p in pts if p[2] >= top]
            volume += hypervolume(slab, reference[:2]) * (top - below)
        return volume
    raise ValueError(f"hypervolume: {dims} objectives; sweeplab searches 2 or 3")


class RungFront:
    """One rung of MO-ASHA: each trial's objective values there (turned so that larger is
    better) and how far it breaks the constraints; ``scores`` orders the trials as ``rank``
    does, as numbers a rung's cutoff can compare (they change as trials arrive)."""

    def __init__(self, objectives: Sequence[tuple[str, str]], constraints: Sequence[Constraint] = ()):
        self.objectives, self.constraints = list(objectives), list(constraints)
        self.points: dict[str, tuple[float, ...]] = {}
        self.broken: dict[str, float] = {}

    def add(self, trial_id: str, values: Mapping[str, object]) -> dict[str, float]:
        """The trial's values at this rung (a result row); the rung's scores after it."""
        self.points[trial_id] = tuple(_signed(values.get(m), mode) for m, mode in self.objectives)
        self.broken[trial_id] = violation(
            {k: v for k, v in values.items() if isinstance(v, (int, float))}, self.constraints
        )
        return self.scores()

    def forget(self, trial_id: str) -> None:
        self.points.pop(trial_id, None)
        self.broken.pop(trial_id, None)

    def scores(self) -> dict[str, float]:
        ids = list(self.points)
        return dict(zip(ids, scores([self.points[t] for t in ids], [self.broken[t] for t in ids])))

    def value(self, trial_id: str, k: int = 0) -> float:
        """The trial's ``k``-th objective as reported."""
        sign = 1.0 if self.objectives[k][1] == "max" else -1.0
        return sign * self.points[trial_id][k]


def _signed(value: object, mode: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return math.nan
    return float(value) if mode == "max" else -float(value)
