"""Search methods for the search-quality bench, as one table of named factories
(``METHODS[name](seed) -> method``; Syne Tune's benchmarking keeps its baselines the same
way). A method is what ``_sq_sim.simulate`` drives: ``next()`` and ``report(...)``.

Every peer runs its own library's objects, driven the way its own tuning loop drives them:

* Ray Tune: the scheduler and searcher objects, called in TuneController's order by a small
  stand-in controller (``_RayController``: trial statuses, ``stop_trial`` as Ray's, the
  pending-trial limit Ray derives from the search algorithm). No Ray runtime is started.
* Syne Tune: the scheduler's ``suggest`` / ``on_trial_add`` / ``on_trial_result`` /
  ``on_trial_remove`` / ``on_trial_complete``, in its Tuner's order (syne_tune/tuner.py).
* Optuna: ask / report / should_prune / tell on one study (what ``study.optimize`` does per
  trial), so it shares the event loop's two workers.

Ray Tune's methods and sweeplab's are here, Optuna's and Syne Tune's in ``_sq_peers``.
Adding a method is one line in METHODS.
"""

from __future__ import annotations

import random as _random
from types import SimpleNamespace
from typing import Callable

import numpy as np

from _sq_lcbench import MAX_EPOCHS, METRIC, MODE, SPACE, sample
from _sq_peers import (
    REDUCTION_FACTOR,
    optuna_hyperband,
    synetune_asha_promotion,
    synetune_asha_promotion_nomid,
    synetune_bohb,
    synetune_dehb,
    synetune_dyhpo,
    synetune_hypertune,
    synetune_mobster,
)
from _sq_sim import CONTINUE, PAUSE, STOP

# What _sq_runs.run_all sets before making methods: workers (--workers), the run's
# epoch budget, and whether trials save checkpoints (--no-checkpoint: they do not).
WORKERS = 2
BUDGET = 40 * MAX_EPOCHS
CHECKPOINT = True
TIME_BUDGET = (
    None  # the wall clock: the task's time budget (seconds), which sweeplab's scheduler is given as --time-budget
)


def seed_globals(seed: int) -> None:
    """hpbandster's BOHB and parts of Syne Tune draw from numpy's and Python's global
    generators; seeding them per run makes every method a function of its seed."""
    np.random.seed(seed)
    _random.seed(seed)


# ------------------------------------------------------------------ spaces


def ray_space() -> dict:
    from ray import tune

    out = {}
    for p in SPACE:
        if p.integer:  # Tune's integer upper bounds are exclusive
            out[p.name] = (tune.lograndint if p.log else tune.randint)(int(p.low), int(p.high) + 1)
        else:
            out[p.name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return out


# ------------------------------------------------------------------ random search


class RandomSearch:
    """Full-length trials, each config drawn uniformly (log-uniform on log scales)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def next(self):
        self.count += 1
        return self.count, sample(self.rng)

    def report(self, key, epoch, value):
        return STOP if epoch >= MAX_EPOCHS else CONTINUE


# ------------------------------------------------------------------ Ray Tune


class _RayTrial:
    """What Ray's schedulers and searchers read of a Trial."""

    def __init__(self, trial_id: str, config: dict):
        from ray.tune.experiment import Trial

        self.trial_id, self.config, self.evaluated_params = trial_id, config, config
        self.status = Trial.PENDING
        self.is_saving = False
        self.last_result: dict = {}
        self.epochs = 0

    def __repr__(self) -> str:
        return f"Trial({self.trial_id}, {self.status})"


class _RayController:
    """The part of TuneController that schedulers call back into."""

    def __init__(self, scheduler, searcher):
        self.scheduler, self.searcher = scheduler, searcher
        self.search_alg = SimpleNamespace(searcher=searcher)  # HyperBandForBOHB calls searcher.on_pause
        self.trials: list[_RayTrial] = []
        self.pending: set[str] = set()

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial: _RayTrial) -> None:
        """TuneController.stop_trial: a pending or paused trial is removed from the
        scheduler, a running one completed; the searcher completes either."""
        from ray.tune.experiment import Trial

        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.searcher.on_trial_complete(trial.trial_id)
        elif trial.status == Trial.RUNNING:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
            self.searcher.on_trial_complete(trial.trial_id, result=trial.last_result)
        trial.status = Trial.TERMINATED
        self.pending.discard(trial.trial_id)

    def pause_trial(self, trial: _RayTrial, should_checkpoint: bool = True) -> None:
        from ray.tune.experiment import Trial

        trial.status = Trial.PAUSED


class RayMethod:
    """A Ray Tune scheduler + searcher pair. ``max_pending`` is what TuneController allows
    (``_get_max_pending_trials``): 200 for the BasicVariantGenerator (random search), the
    ConcurrencyLimiter's limit for a wrapped searcher, else 1."""

    def __init__(self, scheduler, searcher, max_pending: int, objectives: tuple[str, ...] = ()):
        from ray.tune.search import Searcher

        self.FINISHED = Searcher.FINISHED
        searcher.set_search_properties(METRIC, MODE, ray_space())
        scheduler.set_search_properties(METRIC, MODE)
        self.scheduler, self.searcher = scheduler, searcher
        self.ctrl = _RayController(scheduler, searcher)
        self.max_pending = max_pending
        self.objectives = objectives  # several objectives: the names of a reported tuple's values
        self.by_id: dict[str, _RayTrial] = {}
        self.finished = False
        self.now, self.epoch_s = 0.0, 1.0  # the wall clock's time and the epoch just trained (``at``)

    def at(self, now: float, epoch_s=None) -> None:
        """The simulated clock (bench/_sq_wall.py): what Tune's results and a scheduler's clock read."""
        self.now = now
        if epoch_s is not None:
            self.epoch_s = epoch_s

    def _top_up(self) -> None:
        while not self.finished and len(self.ctrl.pending) < self.max_pending:
            trial_id = f"{len(self.by_id):05d}"
            config = self.searcher.suggest(trial_id)
            if config is None:
                return
            if config == self.FINISHED:
                self.finished = True
                return
            trial = self.by_id[trial_id] = _RayTrial(trial_id, config)
            self.ctrl.trials.append(trial)
            self.ctrl.pending.add(trial_id)
            self.scheduler.on_trial_add(self.ctrl, trial)

    def next(self):
        from ray.tune.experiment import Trial

        while True:
            self._top_up()
            trial = self.scheduler.choose_trial_to_run(self.ctrl)
            if trial is None:
                return None
            self.ctrl.pending.discard(trial.trial_id)
            trial.status = Trial.RUNNING
            if trial.epochs < MAX_EPOCHS:
                return trial.trial_id, trial.config
            # A trial paused at its last epoch and unpaused: its function has returned, so
            # Tune's done result ends it.
            self.ctrl.stop_trial(trial)

    def report(self, key, epoch, value):
        from ray.tune.schedulers import TrialScheduler

        trial = self.by_id[key]
        trial.epochs = epoch
        # Tune puts checkpoint_dir_name in every result of a function trainable, None where
        # that report carried no checkpoint: how a scheduler can tell a trial it cannot pause.
        result = {
            **(dict(zip(self.objectives, value)) if self.objectives else {METRIC: value}),
            "training_iteration": epoch,
            "time_total_s": float(epoch),
            "trial_id": key,
            "time_this_iter_s": self.epoch_s,
            "done": False,
            "checkpoint_dir_name": "checkpoint_%06d" % epoch if CHECKPOINT else None,
        }
        decision = self.scheduler.on_trial_result(self.ctrl, trial, result)
        if decision != TrialScheduler.STOP:
            self.searcher.on_trial_result(key, result)
        trial.last_result = result
        if decision == TrialScheduler.CONTINUE and epoch >= MAX_EPOCHS:
            decision = TrialScheduler.STOP  # the function returned: Tune's done result stops it
        if decision == TrialScheduler.STOP:
            self.ctrl.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            self.ctrl.pause_trial(trial)
        # TuneController asks the searcher for trials at every step, not only when a worker
        # is free: a trial created between two results can land in another bracket.
        self._top_up()
        return {TrialScheduler.STOP: STOP, TrialScheduler.PAUSE: PAUSE}.get(decision, CONTINUE)


def ray_asha_optuna_parts(seed: int):
    """sweeplab's default today (search.factories.make_scheduler / make_searcher): ASHA
    (grace period 1, reduction factor 3, max_t 52) + OptunaSearch with TPESampler(seed,
    n_startup_trials=4) wrapped by sweeplab to never repeat a config; 2 concurrent trials
    through Ray's ConcurrencyLimiter (what ``max_concurrent_trials=2`` builds)."""
    import optuna
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter

    from sweeplab.search.distinct_optuna import DistinctOptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    searcher = ConcurrencyLimiter(DistinctOptunaSearch(seed=seed, sampler=sampler), max_concurrent=WORKERS)
    scheduler = ASHAScheduler(
        time_attr="training_iteration", max_t=MAX_EPOCHS, grace_period=1, reduction_factor=REDUCTION_FACTOR
    )
    return scheduler, searcher, WORKERS


class _RaySampler:
    """Random search as Ray's BasicVariantGenerator does it: each domain's own sampler."""

    def __new__(cls, seed: int):
        from ray.tune.search import Searcher

        class RandomRaySearcher(Searcher):
            def __init__(self):
                super().__init__()
                self.rng = np.random.RandomState(seed)
                self.space: dict = {}

            def set_search_properties(self, metric, mode, config, **spec):
                self._metric, self._mode, self.space = metric, mode, config
                return True

            def suggest(self, trial_id):
                return {k: d.sample(random_state=self.rng) for k, d in self.space.items()}

            def on_trial_complete(self, trial_id, result=None, error=False):
                pass

        return RandomRaySearcher()


def ray_hyperband_parts(seed: int):
    """Ray's HyperBandScheduler (max_t 52, reduction factor 3) + random search; like Tune
    with its BasicVariantGenerator, up to 200 trials are created (and bracketed) ahead."""
    from ray.tune.schedulers import HyperBandScheduler

    scheduler = HyperBandScheduler(time_attr="training_iteration", max_t=MAX_EPOCHS, reduction_factor=REDUCTION_FACTOR)
    return scheduler, _RaySampler(seed), 200


def ray_bohb_parts(seed: int):
    """Ray's HyperBandForBOHB (max_t 52, reduction factor 3) + TuneBOHB (hpbandster's BOHB
    config generator, ConfigSpace seeded), 2 running trials (TuneBOHB's own limit, which
    Tune sets from ``max_concurrent_trials``)."""
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    scheduler = HyperBandForBOHB(time_attr="training_iteration", max_t=MAX_EPOCHS, reduction_factor=REDUCTION_FACTOR)
    return scheduler, TuneBOHB(seed=seed, max_concurrent=WORKERS), 1


# Each Ray method as (scheduler, searcher, TuneController's pending-trial limit): the
# simulation drives them, bench/_sq_raycheck.py hands the same to a real Tuner.
RAY_PARTS = {"ray_asha_optuna": ray_asha_optuna_parts, "ray_hyperband": ray_hyperband_parts, "ray_bohb": ray_bohb_parts}


def sweeplab_parts(
    seed: int, grace_period: int = 0, random_fraction: float = 1 / 3, prior=None, searcher_cls=None, objectives=()
):
    """sweeplab's default search, as `sweeplab tune` builds it for a sweep of BUDGET epochs
    (search.factories.make_scheduler / make_searcher): promotion ASHA (pause at a rung,
    resume when promoted; ties with the cutoff promoted; three rungs, the lowest at 2 max_t /
    eta^3: 4, 12, 36 here; the endgame that finishes the best paused trials) + RungTPE (a
    TPE study per rung, fed only that rung's scores; a third of configs random; nothing
    proposed past the budget), behind the same PausingLimiter, 2 workers. ``prior``: what
    ``--warm-start`` hands RungTPE (an earlier sweep's (params, {epoch: value}) trials);
    ``searcher_cls``: a RungTPE variant; ``objectives``: (metric, mode) pairs, several
    objectives searched together (MO-ASHA's fronts at each rung, MOTPE per rung)."""
    from sweeplab.search.pausing import PausingLimiter
    from sweeplab.search.promotion import PromotionASHA
    from sweeplab.search.rung_tpe import RungTPE
    from sweeplab.search.rungs import default_grace

    grace_period = grace_period or default_grace(MAX_EPOCHS, REDUCTION_FACTOR)
    scheduler = PromotionASHA(
        time_attr="training_iteration",
        max_t=MAX_EPOCHS,
        grace_period=grace_period,
        reduction_factor=REDUCTION_FACTOR,
        epoch_budget=BUDGET,
        max_concurrent=WORKERS,
        objectives=objectives,
    )
    searcher = (searcher_cls or RungTPE)(
        max_t=MAX_EPOCHS,
        grace_period=grace_period,
        reduction_factor=REDUCTION_FACTOR,
        seed=seed,
        random_fraction=random_fraction,
        epoch_budget=BUDGET,
        prior=prior,
        objectives=objectives,
    )
    return scheduler, PausingLimiter(searcher, max_concurrent=WORKERS), WORKERS


def sweeplab_default(seed: int, **variant) -> RayMethod:
    method = RayMethod(*sweeplab_parts(seed, **variant))
    if TIME_BUDGET:  # as `tune --time-budget` builds it, on the simulated clock
        method.scheduler.time_budget_s, method.scheduler.clock = TIME_BUDGET, lambda: method.now
    return method


# the default's lowest rung moved (4 of 52 by default): the record of how it was chosen
GRACE_VARIANTS = (1, 3, 5, 6, 12, 17)


def _variant(**kw):
    """A sweeplab search variant, for the record of how the default was chosen (built as the
    default is, the time budget included)."""
    return lambda seed: sweeplab_default(seed, **kw)


def ray_asha_optuna(seed: int) -> RayMethod:
    return RayMethod(*ray_asha_optuna_parts(seed))


def ray_hyperband(seed: int) -> RayMethod:
    return RayMethod(*ray_hyperband_parts(seed))


def ray_bohb(seed: int) -> RayMethod:
    return RayMethod(*ray_bohb_parts(seed))


# ------------------------------------------------------------------ the table

METHODS: dict[str, Callable[[int], object]] = {
    "random": RandomSearch,
    "ray_asha_optuna": ray_asha_optuna,
    "ray_hyperband": ray_hyperband,
    "ray_bohb": ray_bohb,
    "optuna_hyperband": optuna_hyperband,
    "synetune_asha_promotion": synetune_asha_promotion,
    "synetune_bohb": synetune_bohb,
    "synetune_dehb": synetune_dehb,
    "sweeplab": sweeplab_default,  # sweeplab's default search: `default` in the output
    # Run only when named in --methods (the Gaussian-process searchers take a minute or more a run):
    "synetune_mobster": synetune_mobster,
    "synetune_hypertune": synetune_hypertune,
    "synetune_dyhpo": synetune_dyhpo,
    "synetune_asha_promotion_nomid": synetune_asha_promotion_nomid,
    **{f"sweeplab_g{g}": _variant(grace_period=g) for g in GRACE_VARIANTS},
}
DEFAULT = "sweeplab"
EXTRA = (
    "synetune_mobster",
    "synetune_hypertune",
    "synetune_dyhpo",  # not in the default set
    "synetune_asha_promotion_nomid",
    *(f"sweeplab_g{g}" for g in GRACE_VARIANTS),
)

# Which installed package each method needs (for the error that names a missing one and
# the versions recorded with a run).
PEERS = {
    "random": (),
    "ray_asha_optuna": ("ray", "optuna"),
    "ray_hyperband": ("ray",),
    "ray_bohb": ("ray", "hpbandster", "ConfigSpace"),
    "optuna_hyperband": ("optuna",),
    "synetune_asha_promotion": ("syne_tune",),
    "synetune_bohb": ("syne_tune", "statsmodels"),
    "synetune_dehb": ("syne_tune",),
    **{m: ("syne_tune", "autograd") for m in ("synetune_mobster", "synetune_hypertune", "synetune_dyhpo")},
    "synetune_asha_promotion_nomid": ("syne_tune",),
    "sweeplab": ("ray", "optuna", "sweeplab"),
    **{f"sweeplab_g{g}": ("ray", "optuna", "sweeplab") for g in GRACE_VARIANTS},
}


def canonical(name: str) -> str:
    """The first name in METHODS with the same factory (an alias runs once)."""
    factory = METHODS[name]
    return next(n for n, f in METHODS.items() if f is factory)


def make(name: str, seed: int) -> object:
    seed_globals(seed)
    return METHODS[name](seed)
