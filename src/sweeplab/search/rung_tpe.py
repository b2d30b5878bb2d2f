"""A model-based searcher that learns per fidelity (BOHB's idea, with Optuna's TPE).

Ray's OptunaSearch tells TPE whatever value a trial had when it was stopped: one epoch's
score beside another trial's fifty, as if they measured the same thing. Here each rung
milestone (the epochs the scheduler compares trials at) has its own TPE study, fed only
the scores trials had at exactly that epoch; a new config is drawn from the study of the
highest rung with enough observations (``min_points``), so as soon as full-length results
exist they steer the search, and until then the lower rungs do. A share of configs
(``random_fraction``) is drawn at random, which keeps the model honest where it is wrong.
Presets (``points_to_evaluate``) come first; a config that has run is never proposed again.

``epoch_budget``: once the trials have reported that many epochs in all the searcher
proposes nothing more (finished), so a sweep's cost is set in epochs, not in trials: the
scheduler's cuts buy more configs, not a shorter sweep.

State (the studies, what has run, the epochs spent) is pickled with Tune's searcher state,
so a resumed sweep goes on learning where it stopped.
"""
from __future__ import annotations

import math
import pickle
import random
from typing import Any, Optional

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from .rungs import rung_milestones
from .sampling import choices_exhausted, config_key, draw


class RungTPE(Searcher):
    def __init__(self, max_t: int, grace_period: int = 1, reduction_factor: float = 3, seed: int = 0,
                 points_to_evaluate: Optional[list[dict[str, Any]]] = None, min_points: Optional[int] = None,
                 random_fraction: float = 1 / 3, epoch_budget: Optional[int] = None,
                 metric: Optional[str] = None, mode: Optional[str] = None):
        super().__init__(metric=metric, mode=mode)
        self.milestones = [*rung_milestones(grace_period, reduction_factor, max_t), int(max_t)]
        self.seed, self.min_points, self.random_fraction = seed, min_points, random_fraction
        self.points = list(points_to_evaluate or [])
        self.epoch_budget = epoch_budget
        self.space: dict[str, Any] = {}
        self.studies: dict[int, optuna.Study] = {}
        self.params: dict[str, dict[str, Any]] = {}  # trial id -> its searched params
        self.tried: set = set()
        self.epochs: dict[str, int] = {}  # trial id -> epochs reported
        self.learnt: set[tuple[str, int]] = set()  # (trial id, rung) scores the studies hold
        self.rng = random.Random(seed)

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], config: dict, **spec) -> bool:
        if self.space:
            return False
        self.space = OptunaSearch.convert_search_space(config)
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = "maximize" if self._mode == "max" else "minimize"
        need = self.min_points or len(self.space) + 2
        self.studies = {m: optuna.create_study(
            direction=direction, study_name=f"rung-{m}",
            sampler=optuna.samplers.TPESampler(seed=self.seed + m, n_startup_trials=need, multivariate=True))
            for m in self.milestones}
        return True

    # ---- proposing

    def spent(self) -> int:
        return sum(self.epochs.values())

    def suggest(self, trial_id: str) -> Optional[dict[str, Any]]:
        if self.epoch_budget is not None and self.spent() >= self.epoch_budget:
            return Searcher.FINISHED
        while self.points:
            params = self.points.pop(0)
            if config_key(params) not in self.tried:
                return self._take(trial_id, params)
        for _ in range(20):
            params = self._model() if self.rng.random() >= self.random_fraction else None
            params = params or self._random()
            if config_key(params) not in self.tried:
                return self._take(trial_id, params)
        if choices_exhausted(self.space, len(self.tried)):
            return Searcher.FINISHED
        return self._take(trial_id, self._random())

    def _take(self, trial_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self.params[trial_id] = params
        self.tried.add(config_key(params))
        return unflatten_dict(dict(params))

    def _model(self) -> Optional[dict[str, Any]]:
        """TPE's proposal from the highest rung that has enough scores to model."""
        need = self.min_points or len(self.space) + 2
        for m in reversed(self.milestones):
            study = self.studies[m]
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if len(done) >= need:
                trial = study.ask(self.space)
                params = dict(trial.params)
                # a proposal is not a result: FAIL keeps it out of TPE's model
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return params
        return None

    def _random(self) -> dict[str, Any]:
        return {k: draw(d, self.rng) for k, d in self.space.items()}

    # ---- learning

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._observe(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: Optional[dict[str, Any]] = None, error: bool = False) -> None:
        """Tune gives a trial's last result here, not to ``on_trial_result``, whenever the
        trial stops on it: at max_t, cut at a rung, or at the end of its own ``epochs``."""
        if result:
            self._observe(trial_id, result)

    def _observe(self, trial_id: str, result: dict[str, Any]) -> None:
        """Count the trial's epochs; a score at a rung milestone teaches that rung's study,
        and a trial that ended its own shorter budget (a searched ``epochs`` below max_t)
        teaches the top study with its final score. Each (trial, epoch) is learnt once."""
        it = int(result.get("training_iteration", 0) or 0)
        self.epochs[trial_id] = max(self.epochs.get(trial_id, 0), it)
        value = result.get(self._metric)
        if trial_id not in self.params or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if it in self.studies:
            rung = it
        elif self.params[trial_id].get("epochs") == it:
            rung = self.milestones[-1]
        else:
            return
        if (trial_id, rung) in self.learnt:
            return
        self.learnt.add((trial_id, rung))
        self.studies[rung].add_trial(optuna.trial.create_trial(
            params=self.params[trial_id], distributions=self.space, value=float(value)))

    # ---- resume

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        self.__dict__.setdefault("learnt", set())
