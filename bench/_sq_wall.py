"""The search-quality bench's wall clock (``--clock wall``): the same methods as
``_sq_sim.simulate`` drives (``next()`` / ``report(...)``), in continuous time.

Each epoch of a trial takes what the surrogate says that config's epoch took, and a
worker also spends fixed overheads (``Costs``, measured by bench/trial_costs.py): ``start``
before a new trial's first epoch, ``resume`` before a resumed trial's next epoch, and
``pause`` after the report a trial was paused at (its checkpoint saved), before the worker
is free again. A stop costs nothing here: tearing a trial down is inside the next start's
measured figure.

Without checkpoints (``checkpoint=False``) a paused trial has nothing to resume from: it
starts again at epoch 1 (costing ``restart``, then every epoch again; the method sees the
reports of epochs 1, 2, ... again), and its pause saves nothing, so costs nothing.

A method with ``at(now, epoch_s=None)`` is told the clock before it is asked for work and
before each report (with that epoch's seconds), as a real sweep's scheduler reads its own
clock and Tune's ``time_this_iter_s``.

Events run in time order; events at the same instant in worker order (worker 0 first);
then the free workers ask the method for work, in worker order, as in the epoch clock's
ticks. So a run is a pure function of its seed. A worker the method gave nothing to is
asked again after the next event; when every worker is free and the method has nothing,
it has finished on its own and its curve stays flat.

The run ends at ``budget_s``: epochs ending later are not seen. The best-so-far value is
sampled at ``points`` instants ``budget_s * i / points`` (i = 1..points); before the first
report it is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from _sq_sim import CONTINUE, PAUSE, STOP, Method, Run

POINTS = 500  # the best-so-far curve's samples over the time budget


@dataclass(frozen=True)
class Costs:
    """Seconds a worker spends on a trial besides its epochs."""

    start: float  # before a new trial's first epoch (actor start, the function's entry)
    pause: float  # after the report a trial is paused at (what a pause adds over a stop)
    resume: float  # before a resumed trial's next epoch (actor start, checkpoint restore)
    restart: float  # before a paused trial started again at epoch 1 (no checkpoint)

    def __post_init__(self):
        if min(self.start, self.pause, self.resume, self.restart) < 0:
            raise ValueError(f"a trial cost below 0 would run the clock backwards: {self}")


def simulate_wall(
    method: Method,
    curve_of: Callable[[dict], np.ndarray],
    seconds_of: Callable[[dict], np.ndarray],
    budget_s: float,
    workers: int,
    max_epochs: int,
    costs: Costs,
    checkpoint: bool = True,
    points: int = POINTS,
) -> Run:
    """``seconds_of(config)``: the seconds each of its epochs 1..max_epochs takes (> 0)."""
    running: dict[int, object] = {}  # worker -> trial key, while it trains
    until: dict[int, float] = {}  # worker -> when its epoch (or pause) in progress ends
    pausing: set[int] = set()  # workers whose `until` is a pause's end, not an epoch's
    saved: dict[object, float] = {}  # trial key -> when its pause's checkpoint is saved
    progress: dict[object, int] = {}  # trial key -> epochs trained (what its checkpoint holds)
    reached: dict[object, int] = {}  # trial key -> the most epochs it ever had (to count retraining)
    configs, curves, seconds = {}, {}, {}
    times: list[float] = []
    values: list[float] = []
    now, best, chosen = 0.0, -math.inf, None
    resumes = full = retrained = 0
    overhead = 0.0
    notes: list[str] = []

    def charge(t0: float, cost: float) -> float:
        """The overhead's seconds within the budget (it may run past its end)."""
        return max(0.0, min(t0 + cost, budget_s) - t0)

    tell = getattr(method, "at", lambda now, epoch_s=None: None)  # methods that read the clock
    while True:
        tell(now)
        for w in range(workers):
            if w in until:
                continue
            got = method.next()
            if got is None:
                break
            key, config = got
            if key in running.values():
                raise RuntimeError(f"method started trial {key!r} twice at once")
            if key in progress:
                resumes += 1
                if progress[key] >= max_epochs:
                    raise RuntimeError(f"method resumed trial {key!r}, already at {max_epochs} epochs")
                if checkpoint:
                    cost = costs.resume
                else:
                    progress[key], cost = 0, costs.restart
            else:
                progress[key], reached[key], configs[key], cost = 0, 0, config, costs.start
                curves[key], seconds[key] = curve_of(config), seconds_of(config)
            # a trial promoted the instant it was paused restores once its checkpoint is saved
            begin = max(now, saved.pop(key, now))
            overhead += charge(begin, cost)
            running[w], until[w] = key, begin + cost + float(seconds[key][progress[key]])
        if not until:
            notes.append(f"stopped on its own after {now / budget_s:.1%} of the time budget")
            break
        now = min(until.values())
        if now > budget_s:
            now = budget_s
            break
        for w in sorted(w for w, t in until.items() if t == now):
            if w in pausing:
                pausing.discard(w)
                del until[w]
                continue
            key = running[w]
            epoch = progress[key] = progress[key] + 1
            retrained += epoch <= reached[key]
            reached[key] = max(reached[key], epoch)
            value = float(curves[key][epoch - 1])
            times.append(now)
            values.append(value)
            if value > best:
                best, chosen = value, configs[key]
            tell(now, float(seconds[key][epoch - 1]))
            decision = method.report(key, epoch, value)
            if decision not in (CONTINUE, STOP, PAUSE):
                raise RuntimeError(f"unknown decision {decision!r}")
            if epoch >= max_epochs and decision == CONTINUE:
                raise RuntimeError(f"trial {key!r} reached {max_epochs} epochs and the method said CONTINUE")
            if decision == CONTINUE:
                until[w] = now + float(seconds[key][epoch])
                continue
            full += epoch >= max_epochs
            del running[w]
            if decision == PAUSE and checkpoint:
                overhead += charge(now, costs.pause)
                until[w] = saved[key] = now + costs.pause
                pausing.add(w)
            else:
                del until[w]
    return Run(
        curve=sample(np.array(times), np.array(values), budget_s, points),
        epochs_used=len(times),
        trials=len(progress),
        resumes=resumes,
        full_trials=full,
        notes=notes,
        chosen=chosen,
        seconds_used=now,
        overhead_s=overhead,
        retrained=retrained,
    )


def sample(times: np.ndarray, values: np.ndarray, budget_s: float, points: int) -> np.ndarray:
    """The best value reported by each of ``points`` instants over the budget (NaN before any)."""
    grid = budget_s * np.arange(1, points + 1) / points
    grid[-1] = budget_s  # exactly: a report at the budget's last instant counts
    seen = np.searchsorted(times, grid, side="right")
    best = np.maximum.accumulate(values) if len(values) else np.array([np.nan])
    return np.where(seen > 0, best[np.maximum(seen - 1, 0)], np.nan)
