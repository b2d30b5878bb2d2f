"""The simulated event loop of the search-quality bench: W workers, one epoch of any trial
takes one tick on its worker, and the budget is epochs trained (summed over workers).

A method is anything with

* ``next() -> (key, config) | None``: the trial a free worker should run now: a new one or
  a paused one to resume (it continues from the epoch it stopped at: the surrogate's curve
  is the checkpoint; with ``checkpoint=False`` it starts again at epoch 1 and trains, and
  reports, every epoch again). ``None`` means nothing to run *now* (a synchronous bracket
  waiting for its other trials); it is asked again at the next tick. When every worker is free and the
  method still has nothing, it has finished on its own and its curve stays flat.
* ``report(key, epoch, value) -> CONTINUE | STOP | PAUSE``: one epoch's validation value
  (a tuple of values where ``curve_of`` gives several columns: several objectives).
  STOP and PAUSE free the worker; the method must also end a trial at ``max_epochs`` itself
  (whatever its library does at the end of a trial) and answer STOP or PAUSE there.

Each tick every busy worker trains one epoch; results are handled in worker order (worker 0
first), then free workers are filled in worker order. So two workers stay in lockstep and a
run is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

import numpy as np

CONTINUE, STOP, PAUSE = "CONTINUE", "STOP", "PAUSE"


class Method(Protocol):
    def next(self) -> Optional[tuple[object, dict]]: ...

    def report(self, key: object, epoch: int, value: float) -> str: ...


@dataclass
class Run:
    curve: np.ndarray  # best value seen after each epoch spent (length: the budget)
    epochs_used: int  # < budget when the method stopped on its own
    trials: int  # distinct trials started
    resumes: int  # times a paused trial was resumed
    full_trials: int  # trials trained to max_epochs
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    chosen: Optional[dict] = None  # the config of the best value seen: what the search would hand its user
    retrained: int = 0  # epochs trained again by trials restarted without a checkpoint
    seconds_used: float = 0.0  # the wall clock (_sq_wall): seconds until the end or the method stopped
    overhead_s: float = 0.0  # the wall clock: worker seconds spent starting, pausing, resuming trials
    points: Optional[np.ndarray] = None  # several objectives: each epoch's values, in the order spent (budget, k)


def simulate(
    method: Method,
    curve_of: Callable[[dict], np.ndarray],
    budget: int,
    workers: int,
    max_epochs: int,
    checkpoint: bool = True,
) -> Run:
    running: dict[int, object] = {}  # worker -> trial key
    progress: dict[object, int] = {}  # trial key -> epochs trained (what its checkpoint holds)
    reached: dict[object, int] = {}  # trial key -> the most epochs it ever had (to count retraining)
    configs: dict[object, dict] = {}
    curves: dict[object, np.ndarray] = {}
    best_curve = np.full(budget, np.nan)
    points: Optional[np.ndarray] = None  # several objectives (curves of shape (max_epochs, k)): no best, every point
    spent, best, resumes, full, retrained, chosen = 0, -math.inf, 0, 0, 0, None
    notes: list[str] = []
    while spent < budget:
        for w in range(workers):
            if w in running:
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
                if not checkpoint:
                    progress[key] = 0
            else:
                progress[key], reached[key], configs[key] = 0, 0, config
                curves[key] = curve_of(config)
            running[w] = key
        if not running:
            notes.append(f"stopped on its own after {spent} epochs")
            break
        for w in sorted(running):
            key = running[w]
            epoch = progress[key] = progress[key] + 1
            retrained += epoch <= reached[key]
            reached[key] = max(reached[key], epoch)
            row = curves[key][epoch - 1]
            if np.ndim(row):
                if points is None:
                    points = np.full((budget, len(row)), np.nan)
                points[spent], value = row, tuple(float(v) for v in row)
            else:
                value = float(row)
                if value > best:
                    best, chosen = value, configs[key]
                best_curve[spent] = best
            spent += 1
            if spent == budget:
                break
            decision = method.report(key, epoch, value)
            if decision not in (CONTINUE, STOP, PAUSE):
                raise RuntimeError(f"unknown decision {decision!r}")
            if epoch >= max_epochs and decision == CONTINUE:
                raise RuntimeError(f"trial {key!r} reached {max_epochs} epochs and the method said CONTINUE")
            if decision != CONTINUE:
                del running[w]
                full += epoch >= max_epochs
    if spent < budget:
        best_curve[spent:] = best  # flat after it stopped
    return Run(
        curve=best_curve,
        epochs_used=spent,
        trials=len(progress),
        resumes=resumes,
        full_trials=full,
        notes=notes,
        chosen=chosen,
        retrained=retrained,
        points=points if points is None else points[:spent],
    )


class Recorded:
    """A method whose trials are written down as a results store would keep them: each
    config and its value after every epoch it trained (what ``--warm-start`` reads)."""

    def __init__(self, method):
        self.method, self.configs, self.values = method, {}, {}

    def next(self):
        got = self.method.next()
        if got is not None:
            self.configs.setdefault(got[0], got[1])
        return got

    def report(self, key, epoch, value):
        self.values.setdefault(key, {})[epoch] = value
        return self.method.report(key, epoch, value)

    def prior(self) -> list[tuple[dict, dict[int, float]]]:
        return [(self.configs[k], scores) for k, scores in self.values.items()]
