"""The search-quality bench's Optuna and Syne Tune methods (``_sq_methods`` keeps the
table of all methods, Ray Tune's and sweeplab's): each runs its own library's objects, the
way its own tuning loop drives them (Optuna: ask / report / should_prune / tell on one
study; Syne Tune: the scheduler's calls in its Tuner's order)."""

from __future__ import annotations

import datetime as _dt

from _sq_lcbench import MAX_EPOCHS, METRIC, MODE, RESOURCE, SPACE
from _sq_sim import CONTINUE, PAUSE, STOP

REDUCTION_FACTOR = 3  # every method's successive-halving rate (the Ray ones too)


# ------------------------------------------------------------------ spaces


def optuna_space() -> dict:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        p.name: (
            IntDistribution(int(p.low), int(p.high), log=p.log)
            if p.integer
            else FloatDistribution(p.low, p.high, log=p.log)
        )
        for p in SPACE
    }


def syne_space() -> dict:
    from syne_tune.config_space import loguniform, lograndint, randint, uniform

    return {
        p.name: (
            (lograndint if p.log else randint)(int(p.low), int(p.high))
            if p.integer
            else (loguniform if p.log else uniform)(p.low, p.high)
        )
        for p in SPACE
    }


# ------------------------------------------------------------------ Optuna


class OptunaMethod:
    """One Optuna study, trials asked as workers free up: report + should_prune each epoch,
    told COMPLETE (last value) at 52 epochs or PRUNED when the pruner says so."""

    def __init__(self, sampler, pruner, name: str):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        # Named: HyperbandPruner puts a trial in a bracket by a checksum of the study's name
        # and the trial's number, and an unnamed study gets a random name.
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner, study_name=name)
        self.space = optuna_space()
        self.trials: dict[int, object] = {}

    def next(self):
        trial = self.study.ask(self.space)
        self.trials[trial.number] = trial
        return trial.number, dict(trial.params)

    def report(self, key, epoch, value):
        trial = self.trials[key]
        trial.report(value, epoch)
        if epoch >= MAX_EPOCHS:
            self.study.tell(trial, value)
            return STOP
        if trial.should_prune():
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
            return STOP
        return CONTINUE


def optuna_hyperband(seed: int) -> OptunaMethod:
    """Optuna's recipe: TPESampler(seed) with its defaults + HyperbandPruner(min_resource 1,
    max_resource 52, reduction factor 3)."""
    import optuna

    return OptunaMethod(
        optuna.samplers.TPESampler(seed=seed),
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=REDUCTION_FACTOR),
        name=f"search_quality_{seed}",
    )


# ------------------------------------------------------------------ Syne Tune


class SyneMethod:
    """A Syne Tune (0.14, legacy API) scheduler, called as syne_tune/tuner.py calls it."""

    def __init__(self, scheduler, objectives: tuple[str, ...] = ()):
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer.scheduler import SchedulerDecision

        self.Trial, self.D = Trial, SchedulerDecision
        self.scheduler = scheduler
        self.trials: dict[int, object] = {}
        self.now = _dt.datetime(2024, 1, 1)  # only stored on the Trial
        self.objectives = objectives  # several objectives: the names of a reported tuple's values

    def next(self):
        trial_id = len(self.trials)
        suggestion = self.scheduler.suggest(trial_id)
        if suggestion is None:
            return None
        if suggestion.spawn_new_trial_id:
            if suggestion.checkpoint_trial_id is not None:
                raise NotImplementedError("new trial from another's checkpoint (PBT-like) is not simulated")
            trial = self.trials[trial_id] = self.Trial(
                trial_id=trial_id, config=dict(suggestion.config), creation_time=self.now
            )
            self.scheduler.on_trial_add(trial=trial)
            return trial_id, trial.config
        trial = self.trials[suggestion.checkpoint_trial_id]
        if suggestion.config is not None:
            trial.config = dict(suggestion.config)
        return trial.trial_id, trial.config

    def report(self, key, epoch, value):
        trial = self.trials[key]
        result = {**(dict(zip(self.objectives, value)) if self.objectives else {METRIC: value}), RESOURCE: epoch}
        decision = self.scheduler.on_trial_result(trial=trial, result=result)
        if decision == self.D.STOP:
            self.scheduler.on_trial_remove(trial=trial)
            return STOP
        if decision == self.D.PAUSE:
            self.scheduler.on_trial_remove(trial=trial)
            return PAUSE
        if epoch >= MAX_EPOCHS:  # the training script ends: Status.completed
            self.scheduler.on_trial_complete(trial, result)
            return STOP
        return CONTINUE


def synetune_asha_promotion(seed: int) -> SyneMethod:
    """Syne Tune's ASHA, promotion type (pause at each rung, resume when promoted), grace
    period 1, reduction factor 3, max_t 52; its default first config (the space's midpoint)."""
    from syne_tune.optimizer.legacy_baselines import ASHA

    return SyneMethod(
        ASHA(
            syne_space(),
            metric=METRIC,
            mode=MODE,
            resource_attr=RESOURCE,
            max_t=MAX_EPOCHS,
            type="promotion",
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
            random_seed=seed,
        )
    )


def synetune_asha_promotion_nomid(seed: int) -> SyneMethod:
    """synetune_asha_promotion without its first config (the midpoint): how much of its
    result is that one config."""
    from syne_tune.optimizer.legacy_baselines import ASHA

    return SyneMethod(
        ASHA(
            syne_space(),
            metric=METRIC,
            mode=MODE,
            resource_attr=RESOURCE,
            max_t=MAX_EPOCHS,
            type="promotion",
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
            random_seed=seed,
            points_to_evaluate=[],
        )
    )


def synetune_bohb(seed: int) -> SyneMethod:
    """Syne Tune's asynchronous BOHB: promotion-type ASHA as above with its KDE searcher."""
    from syne_tune.optimizer.legacy_baselines import BOHB

    return SyneMethod(
        BOHB(
            syne_space(),
            metric=METRIC,
            mode=MODE,
            resource_attr=RESOURCE,
            max_t=MAX_EPOCHS,
            type="promotion",
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
            random_seed=seed,
        )
    )


def synetune_dehb(seed: int) -> SyneMethod:
    """Syne Tune's DEHB (synchronous Hyperband brackets, differential-evolution proposals),
    grace period 1, reduction factor 3, max level 52."""
    from syne_tune.optimizer.legacy_baselines import DEHB

    return SyneMethod(
        DEHB(
            syne_space(),
            metric=METRIC,
            mode=MODE,
            resource_attr=RESOURCE,
            max_resource_level=MAX_EPOCHS,
            grace_period=1,
            reduction_factor=REDUCTION_FACTOR,
            random_seed=seed,
        )
    )


def _gp_kwargs(seed: int) -> dict:
    return dict(
        metric=METRIC,
        mode=MODE,
        resource_attr=RESOURCE,
        max_t=MAX_EPOCHS,
        grace_period=1,
        reduction_factor=REDUCTION_FACTOR,
        random_seed=seed,
    )


def synetune_mobster(seed: int) -> SyneMethod:
    """Syne Tune's MOBSTER: promotion-type ASHA as above with its Gaussian-process searcher
    over (config, epoch), Syne Tune's defaults otherwise."""
    from syne_tune.optimizer.legacy_baselines import MOBSTER

    return SyneMethod(MOBSTER(syne_space(), type="promotion", **_gp_kwargs(seed)))


def synetune_hypertune(seed: int) -> SyneMethod:
    """Syne Tune's Hyper-Tune: MOBSTER's model, with brackets and the searcher's rung level
    weighted by how well each rung's ranking predicts the last; promotion type."""
    from syne_tune.optimizer.legacy_baselines import HyperTune

    return SyneMethod(HyperTune(syne_space(), type="promotion", **_gp_kwargs(seed)))


def synetune_dyhpo(seed: int) -> SyneMethod:
    """Syne Tune's DyHPO (``legacy_dyhpo``, the freeze-thaw family): every decision picks, by
    the GP's expected improvement one rung on, to resume a paused trial or start a new one;
    linearly spaced rungs (grace period 1, Syne Tune's rung increment 2 and probability_sh)."""
    from syne_tune.optimizer.legacy_baselines import DyHPO

    kwargs = _gp_kwargs(seed)
    kwargs.pop("reduction_factor")
    return SyneMethod(DyHPO(syne_space(), **kwargs))
