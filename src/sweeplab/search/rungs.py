"""Where successive halving compares trials: the rung milestones (no Ray, no Optuna)."""
from __future__ import annotations

from typing import Optional


MAX_RUNGS = 3


def affordable_rungs(full_trials: float, reduction_factor: float) -> int:
    """How many rungs below the top a budget of ``full_trials`` full-length trials' epochs
    pays for (at most MAX_RUNGS) while about ``reduction_factor`` trials still reach the top,
    so the last rung is a comparison and the model learns from full-length scores:
    successive halving with k rungs costs about 1 + k (1 - 1/eta) full-length trials for
    each trial that reaches the top (each rung trains eta times the trials it passes on,
    to 1/eta of the next rung's epochs)."""
    eta, k = reduction_factor, 0
    while k < MAX_RUNGS and full_trials >= eta * (1 + (k + 1) * (1 - 1 / eta)):
        k += 1
    return k


def default_grace(max_t: int, reduction_factor: float, full_trials: Optional[float] = None) -> int:
    """Three rungs below the budget, grace = max_t / eta^3 (2 for LCBench's 52 epochs at eta
    3, chosen with bench/search_quality.py: grace 1 trusts one epoch too much and lost to
    random search on 6 of 16 task-seeds, grace 2 on 1 of 40); fewer where the sweep's epoch
    budget (``full_trials`` full-length trials' epochs) cannot pay for three
    (``affordable_rungs``); none (grace = max_t: every trial runs its full length) where it
    cannot pay for one."""
    k = MAX_RUNGS if full_trials is None else affordable_rungs(full_trials, reduction_factor)
    if k == 0:
        return int(max_t)
    grace = max(1, int(round(max_t / reduction_factor ** k)))
    while len(rung_milestones(grace, reduction_factor, max_t)) > k:
        grace += 1
    return grace


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The epochs at which trials are compared: grace, grace*eta, ... below max_t."""
    out, level = [], max(1, int(grace_period))
    while level < max_t:
        out.append(level)
        level = max(level + 1, int(round(level * reduction_factor)))
    return out
