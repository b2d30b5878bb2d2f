"""Where successive halving compares trials: the rung milestones (no Ray, no Optuna)."""

from __future__ import annotations

MAX_RUNGS = 3
MIN_GRACE = 2  # a first epoch's score is mostly its initialisation: never a rung at epoch 1 by default


def default_grace(max_t: int, reduction_factor: float) -> int:
    """Three rungs below max_t, the lowest at 2 max_t / eta^3 (4 for LCBench's 52 epochs at
    eta 3, so rungs 4, 12, 36) and never below MIN_GRACE epochs; fewer rungs where max_t is
    too short for three. Chosen with bench/search_quality.py on LCBench's development tasks
    at budgets of 5 to 40 full trials, against a lowest rung at max_t / eta^3, which ranks
    configs no better than chance on some tasks. The sweep's epoch budget does not change the
    ladder: promotion ASHA's endgame finishes the best paused trials whatever the budget, and
    fewer rungs at small budgets (the lowest at 6, 12 or 17 of 52 epochs) lost to random search
    more often, not less, at 10 and 20 trials' time on the wall clock (`--methods
    sweeplab,sweeplab_g6,sweeplab_g12,sweeplab_g17 --budget-trials 10|20 --clock wall`)."""
    grace = max(MIN_GRACE, int(round(2 * max_t / reduction_factor**MAX_RUNGS)))
    if grace >= max_t:
        return int(max_t)
    while len(rung_milestones(grace, reduction_factor, max_t)) > MAX_RUNGS:
        grace += 1
    return grace


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The epochs at which trials are compared: grace, grace*eta, ... below max_t."""
    out, level = [], max(1, int(grace_period))
    while level < max_t:
        out.append(level)
        level = max(level + 1, int(round(level * reduction_factor)))
    return out
