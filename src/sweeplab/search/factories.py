"""Tune schedulers and searchers built from their names (``SCHEDULERS``, ``SEARCHERS``); the
names import nothing heavy, the builders import Ray and Optuna when called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..errors import UserError
from ..options import RUNG_SCHEDULERS, SchedulerSpec

if TYPE_CHECKING:
    from .. import spaces


def make_scheduler(
    sched: SchedulerSpec,
    max_t: Optional[int],
    spec: spaces.Spec,
    seed: int,
    store_uri: Optional[str] = None,
    max_concurrent: Optional[int] = None,
    budget: Optional[int] = None,
    time_budget: Optional[float] = None,
):
    """``seed``: what a scheduler that draws random numbers (PBT's explore) draws them from."""
    from ray.tune import schedulers as s

    kw = {k: v for k, v in sched.options.items() if k != "max_t"}
    name = sched.name
    max_t = sched.max_t or max_t or 100
    if name == "promotion":
        from .promotion import PromotionASHA

        grace, eta = sched.rungs(max_t)
        return PromotionASHA(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=grace,
            reduction_factor=eta,
            presets=spec.preset_configs(),
            store_uri=store_uri,
            max_concurrent=max_concurrent,
            epoch_budget=budget,
            time_budget_s=time_budget,
            objectives=spec.objectives,
            constraints=spec.constraints,
        )
    from .preset_keeping import EndingHyperBand, PresetKeepingASHA, PresetKeepingMedian, SeededPBT

    presets = spec.preset_configs()  # the reports' configurations: baselines run their full budget
    if name == "asha":
        grace = min(int(kw.pop("grace_period", 1)), max_t)
        return PresetKeepingASHA(presets, time_attr="training_iteration", max_t=max_t, grace_period=grace, **kw)
    if name == "hyperband":
        if presets:
            print(
                "note: HyperBand halves its brackets together and may cut a preset early; analysis names a "
                "baseline that did not finish (asha and median never cut presets)"
            )
        return EndingHyperBand(time_attr="training_iteration", max_t=max_t, **kw)
    if name == "median":
        return PresetKeepingMedian(presets, time_attr="training_iteration", **kw)
    if name == "pbt":
        # Only fields a checkpoint survives; exploiting trials copy the rest from the donor.
        hot = spec.config_cls.HOT_FIELDS if spec.config_cls else tuple(spec.parameters)
        mutations = {
            k: (list(p.values) if p.values is not None else p.domain()) for k, p in spec.parameters.items() if k in hot
        }
        if not mutations:
            raise UserError(
                f"{spec.source}: scheduler pbt: none of the searched parameters can change "
                f"mid-training; search one of: {', '.join(hot)}"
            )
        kw.setdefault("perturbation_interval", max(1, max_t // 5))
        return SeededPBT(seed=seed, time_attr="training_iteration", hyperparam_mutations=mutations, synch=False, **kw)
    return s.FIFOScheduler()


def make_searcher(
    search: str,
    spec: spaces.Spec,
    seed: int,
    max_concurrent: int,
    num_samples: int,
    scheduler: Optional[SchedulerSpec] = None,
    budget: Optional[int] = None,
    prior: tuple = (),
    known: tuple = (),
):
    """``scheduler``: where rung_tpe's studies sit (its rungs); ``budget``: epochs after
    which rung_tpe proposes nothing more (``epoch_budget``); ``prior``: earlier sweeps'
    trials rung_tpe learns from first (search/warm.py); ``known``: the configs the sweep takes
    as measured (known.py), as (searched params, {epoch: score}), which rung_tpe never proposes."""
    points = spec.points_to_evaluate()[:num_samples]  # presets count toward num_samples
    if search == "rung_tpe":
        from .rung_tpe import RungTPE

        max_t = int((scheduler.max_t if scheduler else None) or spec.max_epochs() or 100)
        cuts = scheduler is not None and scheduler.name in RUNG_SCHEDULERS
        grace, eta = (
            scheduler.rungs(max_t) if scheduler is not None and cuts else (max_t, 3.0)
        )  # no rungs: the final score only
        searcher = RungTPE(
            max_t=max_t,
            grace_period=grace,
            reduction_factor=eta,
            seed=seed,
            points_to_evaluate=points or None,
            epoch_budget=budget,
            prior=list(prior),
            known=list(known),
            objectives=spec.objectives,
            constraints=spec.constraints,
        )
        return limited(searcher, scheduler, max_concurrent)
    if search in ("optuna", "nsga2"):
        import optuna

        from .distinct_optuna import DistinctOptunaSearch, PicklableNSGAII
        from .pareto import stored_constraints

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        kept = stored_constraints if spec.constraints else None
        sampler: optuna.samplers.BaseSampler = (
            # several objectives: TPE is Optuna's MOTPE
            optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, len(points)), constraints_func=kept)
            if search == "optuna"
            else PicklableNSGAII(seed=seed, population_size=max(4, min(50, num_samples // 2)), constraints_func=kept)
        )
        optuna_searcher = DistinctOptunaSearch(
            seed=seed,
            sampler=sampler,
            points_to_evaluate=points or None,
            objectives=spec.objectives,
            constraints=spec.constraints,
        )
        return limited(optuna_searcher, scheduler, max_concurrent)
    from ray.tune.search import BasicVariantGenerator

    if scheduler is not None and scheduler.name == "promotion":  # Ray's own limit would hang on paused trials
        from .pausing import PausingVariantGenerator

        return PausingVariantGenerator(
            points_to_evaluate=points or None, random_state=seed, max_concurrent=max_concurrent
        )
    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed, max_concurrent=max_concurrent)


def limited(searcher, scheduler: Optional[SchedulerSpec], max_concurrent: int):
    """The searcher behind a concurrency limit that suits the scheduler. Ray's limiter counts
    a paused trial as live, so under a pausing scheduler it would refuse every new config once
    the slots were paused: promotion's own limiter counts workers held; hyperband's brackets
    are bounded by resources."""
    from ray.tune.search import ConcurrencyLimiter

    name = scheduler.name if scheduler else None
    if name == "promotion":
        from .pausing import PausingLimiter

        return PausingLimiter(searcher, max_concurrent=max_concurrent)
    return searcher if name == "hyperband" else ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
