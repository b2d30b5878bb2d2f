"""Trial schedulers that never cut a preset: the reports' own configurations are the
sweep's baselines, and a baseline stopped at epoch 2 makes every comparison with it unfair.

A preset trial is still scored at each rung (its result counts towards the rung's cutoff
for the others); only a STOP decision about it becomes CONTINUE, so it trains its full
budget. Module-level classes: Tune pickles its scheduler into the experiment state."""
from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule, TrialScheduler

from ..store import preset_of


class _KeepsPresets:
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
        self._stopped_trials.discard(trial)
