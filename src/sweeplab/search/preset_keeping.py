"""Trial schedulers that never cut a preset (and HyperBand without a hang, PBT seeded): the reports' own
configurations are the sweep's baselines, and a baseline stopped at epoch 2 makes every comparison with it unfair.

A preset trial is still scored at each rung (its result counts towards the rung's cutoff
for the others); only a STOP decision about it becomes CONTINUE, so it trains its full
budget. Module-level classes: Tune pickles its scheduler into the experiment state."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from ray.tune.schedulers import (
    ASHAScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    TrialScheduler,
)

from ..ray_internals import forget_stopped
from ..store import preset_of


class _KeepsPresets(TrialScheduler):
    """Mixin: ``presets`` (name -> full config values) are never stopped early."""

    presets: dict[str, dict[str, Any]]

    def on_trial_result(self, tune_controller, trial, result):
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and preset_of(self.presets, trial.config) is not None:
            self._kept(trial)
            return TrialScheduler.CONTINUE  # its own epochs end it
        return decision

    def _kept(self, trial) -> None:
        """Undo what the scheduler noted of a stop it decided (ASHA notes nothing)."""


class PresetKeepingASHA(_KeepsPresets, ASHAScheduler):
    def __init__(self, presets: dict[str, dict[str, Any]], **kwargs: Any):
        super().__init__(**kwargs)
        self.presets = presets


class PresetKeepingMedian(_KeepsPresets, MedianStoppingRule):
    def __init__(self, presets: dict[str, dict[str, Any]], **kwargs: Any):
        super().__init__(**kwargs)
        self.presets = presets

    def _kept(self, trial) -> None:
        # the rule remembers a trial it stopped and asserts it never reports again; Ray
        # offers no public way to take a decision back
        forget_stopped(self, trial)


class EndingHyperBand(HyperBandScheduler):
    """Ray's HyperBand, but a bracket that finishes because its last running trial ended
    (completed, stopped, failed) stops the trials it left paused at its last rung. Ray's
    ``on_trial_remove`` processes only an unfinished bracket, so such a trial stayed paused
    for good and the sweep hung (a smoke grid under hyperband: 1 run in 4 or 5)."""

    def on_trial_remove(self, tune_controller, trial) -> None:
        bracket, _ = self._trial_info[trial]
        super().on_trial_remove(tune_controller, trial)
        if bracket.finished():
            bracket.cleanup_full(tune_controller)  # stops its paused trials: they have run their budget


class SeededPBT(PopulationBasedTraining):
    """Ray's PBT, its random draws (which trial to clone, how to perturb or resample a
    config) from the sweep's seed: Ray's own draws from the process's global ``random`` and
    NumPy generators, unseeded. Each decision runs on this scheduler's own saved states of
    both, and leaves the process's as they were."""

    def __init__(self, seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self._random = random.Random(seed).getstate()
        self._numpy = np.random.RandomState(seed).get_state()

    def _seeded(self, decide, *args):
        outer = random.getstate(), np.random.get_state()
        random.setstate(self._random)
        np.random.set_state(self._numpy)
        try:
            return decide(*args)
        finally:
            self._random, self._numpy = random.getstate(), np.random.get_state()
            random.setstate(outer[0])
            np.random.set_state(outer[1])

    def on_trial_result(self, tune_controller, trial, result):
        return self._seeded(super().on_trial_result, tune_controller, trial, result)

    def on_trial_add(self, tune_controller, trial):
        return self._seeded(super().on_trial_add, tune_controller, trial)
