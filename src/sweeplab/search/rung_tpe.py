"""A model-based searcher that learns per fidelity (BOHB's idea, with Optuna's TPE).

Ray's OptunaSearch tells TPE whatever value a trial had when it was stopped: one epoch's
score beside another trial's fifty, as if they measured the same thing. Here each rung
milestone (the epochs the scheduler compares trials at) has its own TPE study, fed only
the scores trials had at exactly that epoch; a new config is drawn from the study of the
highest rung with enough observations (``min_points``), so as soon as full-length results
exist they steer the search, and until then the lower rungs do. A share of configs
(``random_fraction``) is drawn at random, which keeps the model honest where it is wrong.
Presets (``points_to_evaluate``) come first; a config that has run is never proposed again.

``prior`` (``sweeplab tune --warm-start``): trials of earlier sweeps, each its searched
params and its score after each epoch it reported. Their scores at this searcher's rung
epochs go into warm-start studies (one a rung, beside the sweep's own, which they also
follow), and the ``prior_first`` configs that were best there run right after the presets.
The warm studies steer only until a rung has ``min_points`` scores of the sweep's own: they
replace the random start, not the sweep's evidence, so an earlier sweep of another problem
costs little (bench/warm_start.py measures it). A config's best value moves when it is
trained again with another seed (bench/search_replay.py), so the best two are tried again
rather than the one. Prior trials are not "run": this sweep may run them again.

``epoch_budget``: once the trials have reported that many epochs in all the searcher
proposes nothing more (finished), so a sweep's cost is set in epochs, not in trials: the
scheduler's cuts buy more configs, not a shorter sweep.

``objectives`` (two or three metrics searched together): each rung's study is multi-objective
(Optuna's TPE is then MOTPE) and each config's ``constraints`` go in with its scores, so TPE
models which configs keep them. Each rung also keeps a study of the first objective alone
(with the constraints), and ``primary_share`` of the model's proposals come from it: MOTPE
spreads its proposals along the whole front, and where a cost also grows with training (the
seconds trained so far) the cheap end of the front fills with every trial's first epochs, so
proposals spent there are wasted; half from each held up under both kinds of cost on LCBench
(bench/search_quality.py lcbench --objectives val_accuracy,time and val_accuracy,epoch_time).

State (the studies, what has run, the epochs spent) is pickled with Tune's searcher state,
so a resumed sweep goes on learning where it stopped.
"""

from __future__ import annotations

import math
import pickle
import random
from typing import Any, Literal, Optional, Sequence, Union

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from .pareto import CONSTRAINTS, Constraint, excess, stored_constraints
from .rungs import rung_milestones
from .sampling import choices_exhausted, params_key, draw

FINISHED: Any = Searcher.FINISHED  # Ray's sentinel (a str), which the type of its Searcher.suggest leaves out
PRIOR_FIRST = 2  # the earlier sweeps' best configs that run first (after the presets)


class RungTPE(Searcher):
    def __init__(
        self,
        max_t: int,
        grace_period: int = 1,
        reduction_factor: float = 3,
        seed: int = 0,
        points_to_evaluate: Optional[list[dict[str, Any]]] = None,
        min_points: Optional[int] = None,
        random_fraction: float = 1 / 3,
        epoch_budget: Optional[int] = None,
        prior: Optional[list[tuple[dict[str, Any], dict[int, float]]]] = None,
        prior_first: int = PRIOR_FIRST,
        known: Optional[list[tuple[dict[str, Any], dict[int, float]]]] = None,
        metric: Optional[str] = None,
        mode: Optional[str] = None,
        objectives: Sequence[tuple[str, str]] = (),
        constraints: Sequence[Constraint] = (),
        primary_share: float = 0.5,
    ):
        super().__init__(metric=metric, mode=mode)
        # two or three (metric, mode): each rung's study is multi-objective (Optuna's TPE is
        # MOTPE then), and learns a config's constraints (kept where every value is <= 0)
        self.objectives, self.constraints = list(objectives) if len(objectives) > 1 else [], list(constraints)
        self.primary_share, self.primary_credit = primary_share, 0.0
        self.primary: dict[int, optuna.Study] = {}  # several objectives: rung -> a study of the first one
        self.milestones = [*rung_milestones(grace_period, reduction_factor, max_t), int(max_t)]
        self.seed, self.min_points, self.random_fraction = seed, min_points, random_fraction
        self.points = list(points_to_evaluate or [])
        self.epoch_budget = epoch_budget
        self.prior, self.prior_first = list(prior or []), prior_first
        # configs measured before (known.py): this sweep's trials already, never proposed again
        self.known = list(known or [])
        self.space: dict[str, Any] = {}
        self.studies: dict[int, optuna.Study] = {}  # rung -> a study of this sweep's scores there
        self.warm: dict[int, optuna.Study] = {}  # rung -> the prior's and this sweep's scores (with a prior)
        self.params: dict[str, dict[str, Any]] = {}  # trial id -> its searched params
        self.tried: set = set()
        self.epochs: dict[str, int] = {}  # trial id -> epochs trained (repeats after a restart included)
        self.last: dict[str, int] = {}  # trial id -> the epoch of its latest result
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
        word: dict[str, Literal["maximize", "minimize"]] = {"max": "maximize", "min": "minimize"}
        directions = [word[m] for _, m in self.objectives] or [word.get(self._mode or "min", "minimize")]
        need = self.min_points or len(self.space) + 2
        kept = stored_constraints if self.constraints else None
        study = lambda name, m, directions=directions: optuna.create_study(  # noqa: E731
            directions=directions,
            study_name=f"{name}-{m}",
            sampler=optuna.samplers.TPESampler(
                seed=self.seed + m, n_startup_trials=need, multivariate=True, constraints_func=kept
            ),
        )
        self.studies = {m: study("rung", m) for m in self.milestones}
        if self.objectives and self.primary_share > 0:
            self.primary = {m: study("primary", m, directions[:1]) for m in self.milestones}
        self.warm = {m: study("warm", m) for m in self.milestones} if self.prior else {}
        self._learn_prior()
        self._learn_known()
        return True

    def _learn_known(self) -> None:
        """Configs the sweep takes as measured: tried, and their scores in this sweep's own
        studies (the warm ones have them already, as prior trials)."""
        warm, self.warm = self.warm, {}
        try:
            for i, (params, scores) in enumerate(self.known):
                self.tried.add(params_key(params))
                for it, value in sorted(scores.items()):
                    try:
                        self._learn(("known", i), params, int(it), float(value))
                    except ValueError:  # off a quantised step Optuna refuses: tried all the same
                        continue
        finally:
            self.warm = warm

    def _learn_prior(self) -> None:
        """The earlier sweeps' scores into the studies; their best configs after the presets."""
        best = []
        for i, (params, scores) in enumerate(self.prior):
            if set(params) != set(self.space):
                continue  # the caller keeps to this space; a mismatch here is skipped, not guessed
            try:
                for it, value in sorted(scores.items()):
                    self._learn(("prior", i), params, int(it), float(value), own=False)
            except ValueError:  # a value Optuna's distribution refuses (off a quantised step)
                continue
            sign = 1.0 if self._mode == "max" else -1.0
            best.append((max(sign * v for v in scores.values()), i))
        for _, i in sorted(best, reverse=True)[: self.prior_first]:
            self.points.append(dict(self.prior[i][0]))

    # ---- proposing

    def spent(self) -> int:
        return sum(self.epochs.values())

    def suggest(self, trial_id: str) -> Optional[dict[str, Any]]:
        if self.epoch_budget is not None and self.spent() >= self.epoch_budget:
            return FINISHED
        while self.points:
            params = self.points.pop(0)
            if params_key(params) not in self.tried:
                return self._take(trial_id, params)
        for _ in range(20):
            proposal = self._model() if self.rng.random() >= self.random_fraction else None
            params = proposal or self._random()
            if params_key(params) not in self.tried:
                return self._take(trial_id, params)
        if choices_exhausted(self.space, len(self.tried)):
            return FINISHED
        return self._take(trial_id, self._random())

    def _take(self, trial_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self.params[trial_id] = params
        self.tried.add(params_key(params))
        return unflatten_dict(dict(params))

    def _model(self) -> Optional[dict[str, Any]]:
        """TPE's proposal from the highest rung that has enough scores of this sweep's own to
        model; until one has, from the highest warm-start study (the prior's and this
        sweep's scores) that has."""
        need = self.min_points or len(self.space) + 2
        sources = self._sources()
        if self.primary:  # several objectives: primary_share of the proposals from the first alone
            self.primary_credit += self.primary_share
            if self.primary_credit >= 1.0:
                self.primary_credit -= 1.0
                sources = [self.primary[m] for m in reversed(self.milestones)]
        for study in sources:
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if len(done) >= need:
                trial = study.ask(self.space)
                params = dict(trial.params)
                # a proposal is not a result: FAIL keeps it out of TPE's model
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return params
        return None

    def _sources(self) -> list[optuna.Study]:
        """The studies a proposal may come from, in order: the sweep's own, highest rung
        first, then the warm-start ones."""
        top_down = list(reversed(self.milestones))
        return [self.studies[m] for m in top_down] + [self.warm[m] for m in top_down if m in self.warm]

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
        last = self.__dict__.setdefault("last", {})  # a searcher pickled by an older sweeplab has none
        before = last.get(trial_id, 0)
        if it != before:  # Tune hands a trial's last result in twice as it ends: once
            # every epoch trained counts, those trained again after a restart from scratch
            # (a trainable that saves no checkpoint, a killed sweep resumed) included
            self.epochs[trial_id] = self.epochs.get(trial_id, 0) + (it - before if it > before else 1)
            last[trial_id] = it
        if trial_id not in self.params:
            return
        if self.objectives:
            values = [result.get(m) for m, _ in self.objectives]
            numbers = [float(v) for v in values if isinstance(v, (int, float))]
            if len(numbers) == len(values):
                self._learn(trial_id, self.params[trial_id], it, numbers, result)
            return
        value = result.get(self._metric or "")
        if isinstance(value, (int, float)):
            self._learn(trial_id, self.params[trial_id], it, float(value))

    def _learn(
        self,
        who: Any,
        params: dict[str, Any],
        it: int,
        value: Union[float, list[float]],
        result: Optional[dict[str, Any]] = None,
        own: bool = True,
    ) -> None:
        """One score of ``who`` after epoch ``it``, into the studies of that rung, if it is
        one: a trial of this sweep's (``own``) into its own and the warm-start one, a prior
        trial into the warm-start one only."""
        if not all(math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            return
        if it in self.studies:
            rung = it
        elif params.get("epochs") == it:
            rung = self.milestones[-1]
        else:
            return
        if (who, rung) in self.learnt:
            return
        attrs = {CONSTRAINTS: excess(self.constraints, result or {})} if self.constraints else {}
        scored = optuna.trial.create_trial(
            params=params,
            distributions=self.space,
            system_attrs=attrs,  # added, not told: where the sampler reads what constraints_func returns
            **({"values": value} if isinstance(value, list) else {"value": value}),
        )
        for study in ([self.studies[rung]] if own else []) + ([self.warm[rung]] if self.warm else []):
            study.add_trial(scored)
        primary = self.primary.get(rung)
        if own and primary is not None and isinstance(value, list):
            primary.add_trial(
                optuna.trial.create_trial(params=params, distributions=self.space, system_attrs=attrs, value=value[0])
            )
        self.learnt.add((who, rung))

    # ---- resume

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        for key, default in (
            ("learnt", set()),
            ("prior", []),
            ("prior_first", PRIOR_FIRST),
            ("warm", {}),
            ("primary", {}),
            ("primary_share", 0.0),
            ("primary_credit", 0.0),
        ):  # a searcher pickled by an older sweeplab
            self.__dict__.setdefault(key, default)
