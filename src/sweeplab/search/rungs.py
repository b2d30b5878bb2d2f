"""Where successive halving compares trials: the rung milestones (no Ray, no Optuna)."""
from __future__ import annotations


def default_grace(max_t: int, reduction_factor: float) -> int:
    """Three rungs below the budget: grace = max_t / eta^3 (2 for LCBench's 52 epochs at eta
    3, chosen with bench/search_quality.py: grace 1 trusts one epoch too much and lost to
    random search on 6 of 16 task-seeds, grace 2 on 1 of 40)."""
    return max(1, int(round(max_t / reduction_factor ** 3)))


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The epochs at which trials are compared: grace, grace*eta, ... below max_t."""
    out, level = [], max(1, int(grace_period))
    while level < max_t:
        out.append(level)
        level = max(level + 1, int(round(level * reduction_factor)))
    return out
