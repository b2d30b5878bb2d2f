"""The sweep plan and its validation: what the user asked for (``SweepOptions``), checked
and resolved once into a frozen ``SweepPlan`` before Ray starts (resources, scheduler,
searcher, budgets); every consumer reads the fields it needs from it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from . import faults, flags, record, registry, secrets, spaces, store
from .storage_checks import check_storage, refuse_failed
from .errors import UserError
from .schema import absolute, is_remote, is_store_column
from .trial_plan import Finished, TrialPlan, absolute_trainable, load_user_trainable, trial_resources
from .options import (
    LEARNING_SEARCHERS,
    MO_SCHEDULERS,
    RUNG_SCHEDULERS,
    SCHEDULERS,
    SEARCHERS,
    SchedulerSpec,
    SweepOptions,
)


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep, ready for Ray: everything resolved once, nothing changed after
    (a change is a new plan: ``dataclasses.replace``)."""

    spec: spaces.Spec
    trial_plan: Optional[TrialPlan]  # how a registry experiment's trials run; None for a user trainable
    user_trainable: Optional[str]
    metric: str
    mode: Literal["min", "max"]
    search: str  # the searcher's name (search/factories.py)
    scheduler: SchedulerSpec
    num_samples: int
    time_budget: Optional[float]
    max_concurrent: Optional[int]
    seed: int
    storage: str
    name: str
    options: SweepOptions  # as given: flags a consumer passes on (verbose, address, ...)
    resources: registry.Resources  # a trial's share: registry < space file < flags
    search_budget: Optional[int] = None  # epochs the searcher hands out configs for (``_budgets``)
    epochs_to_spend: Optional[int] = None  # epochs the sweep ends at, whoever ends it; None: num_samples trials
    gpu_default: bool = False  # the GPU share is the registry's: it applies where there are GPUs
    secrets: Mapping[str, Any] = field(default_factory=dict)  # secret-named fixed values: kept out of Ray (secrets.py)
    finished: Finished = ()  # on resume: trials the store saw complete (runner.skip_finished)
    faults: str = ""  # SWEEPLAB_FAULTS as the sweep started, checked (faults.py); '' when none
    prior: tuple = ()  # --warm-start's prior trials for the searcher (search/warm.py); () on resume
    known: tuple = ()  # configs --warm-start's sweeps measured with the same seed and code (known.py); () on resume
    code: str = ""  # known.code_digest: what computes a trial, recorded in sweep.json

    @property
    def uri(self) -> str:
        return store.join(self.storage, self.name)


# ------------------------------------------------------------------ its record


def record_of(prep: SweepPlan) -> record.SweepRecord:
    """The record of a sweep about to start, its secrets masked (secrets.py)."""
    import optuna
    import ray

    from .config import fields_record

    versions = {"python": platform.python_version(), "ray": ray.__version__, "optuna": optuna.__version__}
    for mod in ("torch", "sweeplab"):
        if mod in sys.modules:
            versions[mod] = getattr(sys.modules[mod], "__version__", "?")
    versions[record.CODE] = prep.code  # what a later sweep checks before it takes this one's figures (known.py)
    rec = record.SweepRecord(
        experiment=prep.spec.experiment,
        trainable=prep.user_trainable or (prep.trial_plan.module if prep.trial_plan else None),
        space_file=prep.spec.source,
        space=prep.spec.text,
        pins=dict(prep.spec.pins),
        config_fields=fields_record(prep.spec.config_cls) if prep.spec.config_cls else None,
        metric=prep.metric,
        mode=prep.mode,
        objectives=dict(prep.spec.objectives),
        constraints=tuple(str(c) for c in prep.spec.constraints),
        choose=prep.spec.choose if prep.spec.objectives else None,
        scheduler=prep.scheduler,
        searcher=prep.search,
        seed=prep.seed,
        num_samples=prep.num_samples,
        trials_expected=prep.spec.trials_expected(prep.num_samples),
        epoch_budget=prep.epochs_to_spend,
        time_budget_s=prep.time_budget,
        resources=dataclasses.asdict(prep.trial_plan) if prep.trial_plan else None,
        presets=prep.spec.preset_configs(),
        options=prep.options,
        started=record.now(),
        versions=versions,
        name=prep.name,
        storage=prep.storage,
        masked=tuple(sorted(prep.secrets)),
        table=registry.table_declaration(prep.spec.experiment),
    )
    # masked through its JSON, as every stored text is (one way to mask, secrets.redact)
    return record.from_json(secrets.redact(record.to_json(rec), prep.secrets), record.SWEEP_JSON)


# ------------------------------------------------------------------ preparation


def prepare(opts: SweepOptions, fresh: bool = True, check_fit: bool = True) -> SweepPlan:
    """Validate everything (space, pins, flags, resources) before Ray starts. ``check_fit``:
    refuse a trial this machine's local Ray could never place (not for a job submitted to
    a cluster)."""
    storage = absolute(opts.storage)
    if not fresh and opts.name:  # resume: a sweep marked failed is refused before anything else
        refuse_failed(store.join(storage, opts.name))
    if opts.trainable:
        trainable = absolute_trainable(opts.trainable)
        opts = dataclasses.replace(opts, trainable=trainable)
        exp, config_cls = None, None
        if not opts.space:
            raise UserError("--trainable needs --space FILE (its parameters and metric)")
        load_user_trainable(trainable)  # fail now, not once Ray is up
        path = spaces.find(opts.space)
    else:
        exp, path = spaces.resolve_target(opts.target, opts.space)
        if exp is None:
            raise UserError(f"{path}: names no 'experiment'; give an experiment id or --trainable")
        config_cls = exp.load().config
    spec = spaces.load(path, config_cls, exp.id if exp else None)

    if opts.smoke and exp:
        for key, value in exp.smoke.items():  # every key is a config field (tests/test_registry.py)
            spec.pin(key, value, origin="smoke")
    spec.pin_sets(opts.sets)
    flags.check(
        max_epochs=opts.max_epochs,
        num_samples=opts.num_samples,
        max_concurrent=opts.max_concurrent,
        num_cpus=opts.num_cpus,
        epoch_budget=opts.epoch_budget,
    )
    if opts.max_epochs is not None:
        spec.set_epochs(opts.max_epochs)
    spec.check_configs()
    spec.fixed, secret_values = secrets.split_secrets(spec.fixed)

    metric, mode = _metric_mode(spec, exp, path)
    search, scheduler = _search_and_scheduler(spec, opts)
    _check_objectives(spec, search, scheduler, opts, path)
    if exp is None:
        _check_horizon(spec, search, scheduler, opts.trainable)
    if search in ("rung_tpe", "optuna"):
        from .domains import optuna_problem

        for name, param in spec.parameters.items():
            problem = optuna_problem(param)
            if problem:
                raise UserError(f"{spec.source}: parameters.{name}: {problem}")
    for note in spec.notes:
        print(f"note: {note}")
    num_samples = opts.num_samples or spec.num_samples or (1 if search == "grid" else 10)
    if opts.smoke and opts.num_samples is None:
        num_samples = min(num_samples, 2)
    res, gpu_default = _resources(exp, spec, opts)

    name = opts.name or f"{Path(path).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    flags.check_name(name)
    flags.check(seed=opts.seed, cpus_per_trial=opts.cpus_per_trial, gpus_per_trial=opts.gpus_per_trial)
    if fresh:
        _refuse_taken(store.join(storage, name), spec.experiment, opts.trainable)
    if opts.max_failures < 0:
        raise UserError(f"--max-failures {opts.max_failures}: must be >= 0 (restarts of a failed trial)")
    if exp and "seed" not in spec.fixed and "seed" not in spec.parameters:
        spec.fixed["seed"] = opts.seed  # one seed for the searcher and every trial
    injected = faults.from_env()  # checked here, for a user trainable too: nothing starts on a bad one
    plan = None
    if exp:
        plan = TrialPlan(
            module=exp.module,
            metric=metric,
            mode=mode,
            cpus=float(res["cpu"]),
            gpus=float(res["gpu"]),
            workers=int(res["workers"]),
            train_storage=store.join(storage, name, "train"),
            faults=injected,
            driver_pgid=os.getpgrp(),
        )
        if plan.workers > 1 and scheduler.name == "pbt":
            raise UserError("--scheduler pbt needs checkpoints in Tune; use it with --workers-per-trial 1")
        if plan.workers > 1 and scheduler.name == "promotion":
            # a paused trial would leave its TorchTrainer's controller and workers behind
            print(
                "note: --workers-per-trial > 1: trials cannot pause, so the promotion scheduler becomes "
                "asha (same rungs; a trial below the cutoff stops)"
            )
            scheduler = dataclasses.replace(scheduler, name="asha")
    if plan and check_fit:
        _check_local_fit(plan, opts, gpu_default)
    time_budget = opts.time_budget
    if time_budget is None and not opts.smoke:  # a smoke run is short anyway; the file's budget is for real runs
        time_budget = spec.time_budget
    flags.check(time_budget=time_budget)
    if check_fit:  # a local run: its storage is this machine's (a cluster job's is checked there)
        check_storage(storage)
    search_budget, to_spend = _budgets(search, scheduler.name, opts.epoch_budget, num_samples, spec.max_epochs())
    if not opts.smoke:  # a smoke run is a check of the code path, not a search
        _say_if_presets_fill(spec, search_budget or to_spend, num_samples)
    from . import known

    code = known.code_digest(opts.trainable)
    prior, measured = _prior(opts, spec, search, metric, mode, code) if fresh and check_fit else ((), ())
    return SweepPlan(
        spec=spec,
        trial_plan=plan,
        user_trainable=opts.trainable,
        metric=metric,
        mode=mode,
        search=search,
        scheduler=scheduler,
        num_samples=num_samples,
        time_budget=time_budget,
        max_concurrent=opts.max_concurrent,
        seed=opts.seed,
        storage=storage,
        name=name,
        options=opts,
        resources=registry.Resources(cpu=float(res["cpu"]), gpu=float(res["gpu"]), workers=int(res["workers"])),
        search_budget=search_budget,
        epochs_to_spend=to_spend,
        gpu_default=gpu_default,
        secrets=secret_values,
        faults=injected,
        prior=prior,
        known=measured,
        code=code,
    )


def _prior(opts: SweepOptions, spec: spaces.Spec, search: str, metric: str, mode: str, code: str) -> tuple:
    """What ``--warm-start`` reads, checked before Ray starts: the prior trials for the
    searcher, and the configs they measured that this sweep takes as they are (known.py).
    Not on resume (the searcher's saved state and the store hold them) nor for a job
    submitted to a cluster (the cluster reads them)."""
    if not opts.warm_start:
        return (), ()
    if search != "rung_tpe":
        raise UserError(
            f"--warm-start: only the rung_tpe search learns from earlier sweeps (this sweep's search: "
            f"{search}; add --search rung_tpe)"
        )
    from . import known
    from .search import warm

    sweeps = warm.load_all(opts.warm_start, spec, metric, mode)
    return warm.read(sweeps, spec, metric, " ".join(opts.warm_start)), known.find(sweeps, spec, code, opts.seed)


def _refuse_taken(uri: str, experiment: str | None, trainable: str | None) -> None:
    """A new sweep never writes into a folder that exists: one of the same experiment may be
    resumed; another sweep, or anything else, is left alone with a reason."""
    if not store.exists(uri):
        return
    if record.exists(uri):
        try:
            theirs = record.read(uri)
        except (OSError, ValueError):
            theirs = record.SweepRecord()
        if (theirs.experiment, theirs.user_trainable) != (experiment, trainable):
            what = (
                f"experiment {theirs.experiment}" if theirs.experiment else f"trainable {theirs.user_trainable or '?'}"
            )
            raise UserError(f"{uri} holds another sweep ({what}, from {theirs.space_file or '?'}); pick another --name")
    elif not is_remote(uri) and os.path.isdir(uri) and os.listdir(uri):
        held = sorted(os.listdir(uri))
        raise UserError(
            f"{uri} already exists and is not a sweeplab sweep (it holds {', '.join(held[:3])}"
            f"{', ...' if len(held) > 3 else ''}); pick another --name or --storage"
        )
    elif not is_remote(uri) and not os.path.isdir(uri):
        raise UserError(f"{uri} already exists and is a file; pick another --name or --storage")
    raise UserError(f"{uri} already exists; resume it with `sweeplab resume` or pick another --name")


def _metric_mode(
    spec: spaces.Spec, exp: Optional[registry.Experiment], path: Path
) -> tuple[str, Literal["min", "max"]]:
    """The space's metric wins; the registry's fills in. Set once, in TuneConfig."""
    metric = spec.metric or (exp.metric if exp else None)
    if metric is None:
        raise UserError(f"{path}: metric: a user trainable's space must name metric {{name, goal}}")
    if is_store_column(metric):
        raise UserError(
            f"{path}: metric: '{metric}' is a name the results store keeps for its own column; "
            "report the metric under another name"
        )
    mode = spec.mode or (exp.mode if exp and metric == exp.metric else None)
    if mode is None:
        raise UserError(f"{path}: metric: give {{name: {metric}, goal: minimize|maximize}}")
    return metric, mode


def _search_and_scheduler(spec: spaces.Spec, opts: SweepOptions) -> tuple[str, SchedulerSpec]:
    search = opts.search or spec.search
    if search not in SEARCHERS:
        raise UserError(f"--search {search}: allowed: {', '.join(SEARCHERS)}")
    scheduler = SchedulerSpec.from_dict(spec.scheduler)
    if opts.scheduler:
        if opts.scheduler not in SCHEDULERS:
            raise UserError(f"--scheduler {opts.scheduler}: allowed: {', '.join(SCHEDULERS)}")
        if opts.scheduler != scheduler.name:
            scheduler = SchedulerSpec(opts.scheduler)
    if search == "grid" and any(p.values is None for p in spec.parameters.values()):
        bad = next(k for k, p in spec.parameters.items() if p.values is None)
        raise UserError(f"--search grid: parameter '{bad}' is a distribution; grid needs values")
    if scheduler.name == "pbt" and search in LEARNING_SEARCHERS:
        print("note: PBT explores by mutating configs; using the random searcher for its start points")
        search = "random"
    spec.search = search
    return search, scheduler


def _say_if_presets_fill(spec: spaces.Spec, budget: Optional[int], num_samples: int) -> None:
    """Before anything starts: an epoch budget the presets (which run first, in full; at
    most num_samples of them, as make_searcher takes them) take all or nearly all of leaves
    no searched config, or hardly one; say so, and what would."""
    if not budget or not spec.presets or not spec.parameters:
        return
    from .search.sampling import params_key

    # what the searcher runs: a preset's searched values (pins can make presets one config)
    pairs = list(zip(spec.points_to_evaluate(), spec.preset_configs().values()))
    trial = int(spec.max_epochs() or 1)

    def epochs(presets: list) -> tuple[int, int]:
        distinct = {params_key(point): full for point, full in presets}
        return len(distinct), sum(int(c.get("epochs") or trial) for c in distinct.values())

    n, need = epochs(pairs[:num_samples])
    if budget - need >= 3 * trial:
        return
    enough = epochs(pairs)[1] + 3 * trial  # every preset, then 3 trials' epochs
    print(
        f"note: the budget of {budget} epochs leaves the search {max(0, budget - need)} after the {n} preset(s), "
        f"which run first and in full ({need} epochs): under 3 trials' worth, so little or nothing searched will "
        f"run; --num-samples {-(-enough // trial)} (or --epoch-budget {enough}) runs every preset and leaves the "
        "search 3 trials' epochs"
    )


def _check_objectives(spec: spaces.Spec, search: str, scheduler: SchedulerSpec, opts: SweepOptions, path: Path) -> None:
    """Several objectives: each a name the store leaves to the trainable, and a scheduler
    and searcher that rank by all of them (or by none: fifo, random, grid)."""
    for name in [n for n, _ in spec.objectives] + [c.metric for c in spec.constraints]:
        if is_store_column(name):
            raise UserError(
                f"{path}: '{name}' is a name the results store keeps for its own column; "
                "report the metric under another name"
            )
    if not spec.objectives:
        return
    if scheduler.name not in MO_SCHEDULERS:
        raise UserError(
            f"--scheduler {scheduler.name}: ranks trials by one metric; a space with several metrics "
            f"runs with {' or '.join(MO_SCHEDULERS)} (promotion ranks each rung by its Pareto front)"
        )
    if opts.warm_start:
        raise UserError(
            "--warm-start: learns from earlier sweeps' scores on one metric; this space searches "
            f"{len(spec.objectives)} ({', '.join(n for n, _ in spec.objectives)})"
        )


def _check_horizon(spec: spaces.Spec, search: str, scheduler: SchedulerSpec, trainable: Optional[str]) -> None:
    """A user's trainable says nowhere how many epochs it reports; the space's ``epochs``
    (or --max-epochs) does. Every scheduler but fifo places its rungs by it and the default
    search budgets by it, so without it a sweep would guess (Tune's max_t of 100, a budget
    of one epoch a trial): refused before anything starts."""
    if spec.max_epochs() is not None or scheduler.max_t:
        return
    if scheduler.name == "fifo" and search != "rung_tpe":
        return
    users = "rung_tpe search" if scheduler.name == "fifo" else f"{scheduler.name} scheduler"
    raise UserError(
        f"{spec.source}: no 'epochs' parameter, so sweeplab cannot tell how many epochs "
        f"{(trainable or 'the trainable').rsplit(':', 1)[-1]} reports, and the {users} counts in them: pass --max-epochs N "
        "(the most epochs a trial reports; config['epochs'] is N), or add `epochs: {value: N}` under "
        "parameters (or run it with --scheduler fifo --search random)"
    )


def _resources(
    exp: Optional[registry.Experiment], spec: spaces.Spec, opts: SweepOptions
) -> tuple[dict[str, Any], bool]:
    """Registry < space file < flags; and whether the GPU share is the registry's default."""
    res = {**dataclasses.asdict(exp.resources if exp else registry.Resources()), **spec.resources}
    origin = {key: f"{spec.source}: resources.{key}" for key in spec.resources}
    for key, flag, name in (
        ("cpu", opts.cpus_per_trial, "--cpus-per-trial"),
        ("gpu", opts.gpus_per_trial, "--gpus-per-trial"),
        ("workers", opts.workers_per_trial, "--workers-per-trial"),
    ):
        if flag is not None:
            res[key], origin[key] = flag, name
    for key, bad, need in (
        ("cpu", res["cpu"] <= 0, "> 0 (CPUs a trial holds)"),
        ("gpu", res["gpu"] < 0, ">= 0"),
        ("workers", int(res["workers"]) < 1, ">= 1"),
    ):
        if bad:
            raise UserError(f"{origin.get(key, f'resources.{key}')} {res[key]:g}: must be {need}")
    return res, opts.gpus_per_trial is None and "gpu" not in spec.resources


def _check_local_fit(plan: TrialPlan, opts: SweepOptions, gpu_default: bool) -> None:
    """On the local Ray this process starts, a trial that can never be placed would wait
    for ever; say so now. (A cluster may autoscale, so there Tune decides.)"""
    if opts.address or os.environ.get("RAY_ADDRESS"):
        return
    import torch

    cpus = opts.num_cpus or os.cpu_count() or 1
    need_cpu = plan.cpus * plan.workers + (trial_resources(plan)["cpu"] if plan.workers > 1 else 0)
    need_gpu = plan.gpus * plan.workers
    if need_cpu > cpus + 1e-9:
        raise UserError(
            f"a trial needs {need_cpu:g} CPUs ({plan.workers} worker(s) x {plan.cpus:g}"
            f"{' + 0.1 for its driver' if plan.workers > 1 else ''}); this machine has {cpus}: "
            f"lower --cpus-per-trial or --workers-per-trial"
        )
    if need_gpu > torch.cuda.device_count() and not gpu_default:  # a default share just falls to CPU
        raise UserError(f"a trial needs {need_gpu:g} GPU(s); this machine has {torch.cuda.device_count()}")


def shared_data(prep: SweepPlan) -> Any:
    """Build the data once, in the driver, when no data field is searched; trials get it
    through the object store. Otherwise each trial process builds (and caches) its own,
    and the driver only checks it here (``Trainable.check``: at the searched fields'
    defaults), so bad data fails before Ray starts either way."""
    if prep.trial_plan is None:
        return None
    from . import trainables

    trainable = trainables.load(prep.trial_plan.module)
    fields = ("data", *trainable.data_fields)
    fixed = {k: v for k, v in prep.spec.fixed.items() if k in fields}
    if any(k in prep.spec.parameters for k in fields):
        searched = prep.spec.parameters.get("data")
        for data in (searched.values or []) if searched else [fixed.get("data")]:
            trainable.check(trainable.config.from_dict({**fixed, "data": data}))
        return None
    cfg = trainable.config.from_dict(fixed)
    return (trainable.data_key(cfg), trainable.load_data(cfg))


# ------------------------------------------------------------------ budget and concurrency


def _budgets(
    search: str, scheduler: str, epoch_budget: Optional[int], num_samples: int, max_epochs: Optional[int]
) -> tuple[Optional[int], Optional[int]]:
    """(the searcher's budget, the epochs the sweep ends at). Where trials are cut part-way
    and a model proposes configs (the default) the searcher's budget is --epoch-budget, else
    num_samples full-length trials: cuts then buy more configs, not a shorter sweep, and the
    searcher ends the sweep. Elsewhere a sweep runs num_samples trials, or --epoch-budget's
    stopper ends it first."""
    if search == "rung_tpe" and scheduler in RUNG_SCHEDULERS:
        budget = epoch_budget or num_samples * int(max_epochs or 1)
        return budget, budget
    return None, epoch_budget


def default_concurrency(prep: SweepPlan) -> int:
    import ray

    total = ray.cluster_resources()
    cpu = prep.trial_plan.cpus if prep.trial_plan else 1.0
    workers = prep.trial_plan.workers if prep.trial_plan else 1
    gpu = prep.trial_plan.gpus if prep.trial_plan else 0.0
    limit = int(total.get("CPU", 1) // (cpu * workers)) if cpu else 1
    if gpu:
        limit = min(limit, int(total.get("GPU", 0) // (gpu * workers)))
    return max(1, limit)
