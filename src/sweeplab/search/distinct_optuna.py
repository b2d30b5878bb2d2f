"""Ray's OptunaSearch that never runs a config twice (``DistinctOptunaSearch``)."""

from __future__ import annotations

import random
import threading
from typing import Any, Optional, Sequence

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ..ray_internals import optuna_space, optuna_study, optuna_trials
from .pareto import CONSTRAINTS, Constraint, excess
from .sampling import choices_exhausted, draw, params_key


class DistinctOptunaSearch(OptunaSearch):
    """OptunaSearch that never runs a config it has run before. TPE draws each categorical
    parameter on its own, so over a space of choices it proposes repeats (the search-
    efficiency benchmark: 2 to 7 of 7 to 21 trials); every trial of a sweep has the same
    seed, so a repeat retraces the same curve and only spends budget. A repeat is told to
    Optuna as failed (TPE leaves failed trials out) and Optuna is asked again; after
    ``ASKS`` repeats in a row a random config not yet run is enqueued. Once every config of
    a space of choices has run, the searcher is finished."""

    ASKS = 10

    def __init__(
        self,
        seed: int = 0,
        objectives: Sequence[tuple[str, str]] = (),
        constraints: Sequence[Constraint] = (),
        **kwargs: Any,
    ):
        if len(objectives) > 1:  # Optuna's multi-objective study (TPE is MOTPE then)
            kwargs.update(metric=[m for m, _ in objectives], mode=[mode for _, mode in objectives])
        super().__init__(**kwargs)
        self._run_configs: set = set()
        self._rng = random.Random(seed)
        self._objectives, self._constraints = len(objectives) > 1, list(constraints)

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], config: dict, **spec: Any) -> bool:
        if self._objectives:  # its objectives were given; Tune's one metric is the first of them
            metric, mode = None, None
        return super().set_search_properties(metric, mode, config, **spec)

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        trial = optuna_trials(self).get(trial_id)
        if self._constraints and trial is not None and result:  # what the sampler's constraints_func reads
            trial.set_user_attr(CONSTRAINTS, list(excess(self._constraints, result)))
        super().on_trial_complete(trial_id, result=result, error=error)

    def suggest(self, trial_id: str):
        for attempt in range(self.ASKS + 1):
            if attempt == self.ASKS:
                params = self._untried()
                if params is None:
                    return Searcher.FINISHED
                optuna_study(self).enqueue_trial(params)
            config = super().suggest(trial_id)
            if not isinstance(config, dict):
                return config
            key = params_key(optuna_trials(self)[trial_id].params)
            if key not in self._run_configs:
                self._run_configs.add(key)
                return config
            optuna_study(self).tell(optuna_trials(self).pop(trial_id), state=optuna.trial.TrialState.FAIL)
        return None  # Tune asks again later

    def _untried(self) -> Optional[dict[str, Any]]:
        """A random config not yet run; None when a space of choices has none left."""
        dists = optuna_space(self)
        if choices_exhausted(dists, len(self._run_configs)):
            return None
        for _ in range(1000):
            params = {k: draw(d, self._rng) for k, d in dists.items()}
            if params_key(params) not in self._run_configs:
                return params
        return None


class PicklableNSGAII(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II sampler, which holds a thread lock that Tune cannot pickle into its
    experiment state (the searcher is saved with the Tuner): the lock is made again."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_thread_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()
