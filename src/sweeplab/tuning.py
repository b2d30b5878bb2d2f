"""Schedulers, searchers, the Tuner, and resume: everything between a validated space
and Ray Tune. ``prepare`` validates all input before Ray starts; ``run`` tunes."""
from __future__ import annotations

import dataclasses
import gc
import logging
import math
import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import faults, flags, registry, secrets, spaces, stopping, store
from .storage_checks import check_storage, refuse_failed, storage_failure
from .errors import UserError
from .lock import SweepLock
from .analysis.summary import summarize
from .recording import checkpoint_pruner, store_callback, sweep_meta, tensorboard_callback
from .runner import TrialPlan, load_user_trainable
from .search.factories import LEARNING_SEARCHERS, RUNG_SCHEDULERS, SCHEDULERS, SEARCHERS, make_scheduler, make_searcher

DEFAULT_STORAGE = "./sweeps"


@dataclass
class SweepOptions:
    """What the user asked for (CLI flags); None means "from the space file or registry"."""

    target: Optional[str] = None  # experiment id or shipped space name
    space: Optional[str] = None
    trainable: Optional[str] = None  # user code: path/file.py:function or module:function
    scheduler: Optional[str] = None
    search: Optional[str] = None
    num_samples: Optional[int] = None
    max_epochs: Optional[int] = None
    cpus_per_trial: Optional[float] = None
    gpus_per_trial: Optional[float] = None
    workers_per_trial: Optional[int] = None
    max_concurrent: Optional[int] = None
    time_budget: Optional[float] = None
    seed: int = 0
    storage: str = DEFAULT_STORAGE
    name: Optional[str] = None
    smoke: bool = False
    sets: list[str] = field(default_factory=list)
    address: Optional[str] = None
    num_cpus: Optional[int] = None  # local Ray only
    verbose: int = 1  # 0 quiet, 1 sweeplab's progress display, 2 Ray's tables and the trials' own output
    dashboard: bool = False  # local Ray with its dashboard, and sweeplab's, on 127.0.0.1
    wandb: bool = False  # log every trial to W&B (offline unless WANDB_API_KEY is set)
    max_failures: int = 0  # restarts of a failed trial from its last checkpoint
    epoch_budget: Optional[int] = None  # the sweep stops once its trials have reported this many epochs in all


@dataclass
class Prepared:
    """A validated sweep, ready for Ray."""

    spec: spaces.Spec
    plan: Optional[TrialPlan]  # None for a user trainable
    user_trainable: Optional[str]
    metric: str
    mode: str
    search: str
    scheduler: dict[str, Any]
    num_samples: int
    time_budget: Optional[float]
    max_concurrent: Optional[int]
    seed: int
    storage: str
    name: str
    options: dict[str, Any]
    gpu_default: bool = False  # the GPU share is the registry's: it applies where there are GPUs
    secrets: dict[str, Any] = field(default_factory=dict)  # secret-named fixed values: kept out of Ray (secrets.py)

    @property
    def uri(self) -> str:
        return store.join(self.storage, self.name)


# ------------------------------------------------------------------ preparation


def prepare(opts: SweepOptions, fresh: bool = True, check_fit: bool = True) -> Prepared:
    """Validate everything (space, pins, flags, resources) before Ray starts. ``check_fit``:
    refuse a trial this machine's local Ray could never place (not for a job submitted to
    a cluster)."""
    if not fresh and opts.name:  # resume: a sweep marked failed is refused before anything else
        refuse_failed(store.join(opts.storage if "://" in opts.storage else os.path.abspath(opts.storage), opts.name))
    if opts.trainable:
        exp, config_cls = None, None
        if not opts.space:
            raise UserError("--trainable needs --space FILE (its parameters and metric)")
        load_user_trainable(opts.trainable)  # fail now, not once Ray is up
        path = spaces.find(opts.space)
    else:
        exp, path = spaces.resolve_target(opts.target, opts.space)
        if exp is None:
            raise UserError(f"{path}: names no 'experiment'; give an experiment id or --trainable")
        config_cls = exp.load().Config
    spec = spaces.load(path, config_cls, exp.id if exp else None)

    if opts.smoke and exp:
        for key, value in exp.smoke.items():
            if key in spaces.field_types(config_cls):
                spec.pin(key, value, origin="smoke")
    spec.pin_sets(opts.sets)
    if opts.max_epochs is not None:
        if opts.max_epochs < 1:
            raise UserError(f"--max-epochs {opts.max_epochs}: must be >= 1")
        spec.set_epochs(opts.max_epochs)
    spec.check_configs()
    spec.fixed, secret_values = secrets.split(spec.fixed)

    metric, mode = _metric_mode(spec, exp, path)
    search, scheduler = _search_and_scheduler(spec, opts)
    if search in ("rung_tpe", "optuna"):
        from .domains import optuna_problem

        for name, param in spec.parameters.items():
            problem = optuna_problem(param)
            if problem:
                raise UserError(f"{spec.source}: parameters.{name}: {problem}")
    for note in spec.notes:
        print(f"note: {note}")
    for flag, value in (("--num-samples", opts.num_samples), ("--max-concurrent", opts.max_concurrent),
                        ("--num-cpus", opts.num_cpus)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be >= 1")
    num_samples = opts.num_samples or spec.num_samples or (1 if search == "grid" else 10)
    if opts.smoke and opts.num_samples is None:
        num_samples = min(num_samples, 2)
    res, gpu_default = _resources(exp, spec, opts)

    storage = opts.storage if "://" in opts.storage else os.path.abspath(opts.storage)
    name = opts.name or f"{Path(path).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    flags.check_name(name)
    flags.check(seed=opts.seed, cpus_per_trial=opts.cpus_per_trial, gpus_per_trial=opts.gpus_per_trial)
    if fresh:
        _refuse_taken(store.join(storage, name), spec.experiment, opts.trainable)
    if opts.max_failures < 0:
        raise UserError(f"--max-failures {opts.max_failures}: must be >= 0 (restarts of a failed trial)")
    if opts.epoch_budget is not None and opts.epoch_budget < 1:
        raise UserError(f"--epoch-budget {opts.epoch_budget}: must be >= 1 (epochs all trials report together)")
    if exp and "seed" not in spec.fixed and "seed" not in spec.parameters:
        spec.fixed["seed"] = opts.seed  # one seed for the searcher and every trial
    plan = None
    if exp:
        plan = TrialPlan(
            module=exp.module, metric=metric, mode=mode, cpus=float(res["cpu"]), gpus=float(res["gpu"]),
            workers=int(res["workers"]), train_storage=store.join(storage, name, "train"),
            faults=faults.from_env(), driver_pgid=os.getpgrp(),
        )
        if plan.workers > 1 and scheduler["name"] == "pbt":
            raise UserError("--scheduler pbt needs checkpoints in Tune; use it with --workers-per-trial 1")
        if plan.workers > 1 and scheduler["name"] == "promotion":
            # a paused trial would leave its TorchTrainer's controller and workers behind
            print("note: --workers-per-trial > 1: trials cannot pause, so the promotion scheduler becomes "
                  "asha (same rungs; a trial below the cutoff stops)")
            scheduler = {**scheduler, "name": "asha"}
    if plan and check_fit:
        _check_local_fit(plan, opts, gpu_default)
    time_budget = opts.time_budget
    if time_budget is None and not opts.smoke:  # a smoke run is short anyway; the file's budget is for real runs
        time_budget = spec.time_budget
    flags.check(time_budget=time_budget)
    if check_fit:  # a local run: its storage is this machine's (a cluster job's is checked there)
        check_storage(storage)
    options = {k: v for k, v in dataclasses.asdict(opts).items()}
    return Prepared(
        spec=spec, plan=plan, user_trainable=opts.trainable, metric=metric, mode=mode, search=search,
        scheduler=scheduler, num_samples=num_samples, time_budget=time_budget,
        max_concurrent=opts.max_concurrent, seed=opts.seed, storage=storage, name=name,
        options=options, gpu_default=gpu_default, secrets=secret_values,
    )


def _refuse_taken(uri: str, experiment: str | None, trainable: str | None) -> None:
    """A new sweep never writes into a folder that exists: one of the same experiment may be
    resumed; another sweep, or anything else, is left alone with a reason."""
    if not store.exists(uri):
        return
    if store.exists(store.join(uri, store.SWEEP_JSON)):
        try:
            meta = store.read_json(store.join(uri, store.SWEEP_JSON))
        except (OSError, ValueError):
            meta = {}
        theirs = (meta.get("experiment"), (meta.get("options") or {}).get("trainable"))
        if theirs != (experiment, trainable):
            what = f"experiment {theirs[0]}" if theirs[0] else f"trainable {theirs[1] or '?'}"
            raise UserError(f"{uri} holds another sweep ({what}, from {meta.get('space_file', '?')}); "
                            "pick another --name")
    elif "://" not in uri and os.path.isdir(uri) and os.listdir(uri):
        held = sorted(os.listdir(uri))
        raise UserError(f"{uri} already exists and is not a sweeplab sweep (it holds {', '.join(held[:3])}"
                        f"{', ...' if len(held) > 3 else ''}); pick another --name or --storage")
    elif "://" not in uri and not os.path.isdir(uri):
        raise UserError(f"{uri} already exists and is a file; pick another --name or --storage")
    raise UserError(f"{uri} already exists; resume it with `sweeplab resume` or pick another --name")


def _metric_mode(spec: spaces.Spec, exp: Optional[registry.Experiment], path: Path) -> tuple[str, str]:
    """The space's metric wins; the registry's fills in. Set once, in TuneConfig."""
    metric = spec.metric or (exp.metric if exp else None)
    if metric is None:
        raise UserError(f"{path}: metric: a user trainable's space must name metric {{name, goal}}")
    mode = spec.mode or (exp.mode if exp and metric == exp.metric else None)
    if mode is None:
        raise UserError(f"{path}: metric: give {{name: {metric}, goal: minimize|maximize}}")
    return metric, mode


def _search_and_scheduler(spec: spaces.Spec, opts: SweepOptions) -> tuple[str, dict[str, Any]]:
    search = opts.search or spec.search
    if search not in SEARCHERS:
        raise UserError(f"--search {search}: allowed: {', '.join(SEARCHERS)}")
    scheduler = dict(spec.scheduler)
    if opts.scheduler:
        if opts.scheduler not in SCHEDULERS:
            raise UserError(f"--scheduler {opts.scheduler}: allowed: {', '.join(SCHEDULERS)}")
        if opts.scheduler != scheduler["name"]:
            scheduler = {"name": opts.scheduler}
    if search == "grid" and any(p.values is None for p in spec.parameters.values()):
        bad = next(k for k, p in spec.parameters.items() if p.values is None)
        raise UserError(f"--search grid: parameter '{bad}' is a distribution; grid needs values")
    if scheduler["name"] == "pbt" and search in LEARNING_SEARCHERS:
        print("note: PBT explores by mutating configs; using the random searcher for its start points")
        search = "random"
    spec.search = search
    return search, scheduler


def _resources(exp: Optional[registry.Experiment], spec: spaces.Spec, opts: SweepOptions) -> dict[str, Any]:
    """Registry < space file < flags."""
    res = {**dataclasses.asdict(exp.resources if exp else registry.Resources()), **spec.resources}
    origin = {key: f"{spec.source}: resources.{key}" for key in spec.resources}
    for key, flag, name in (("cpu", opts.cpus_per_trial, "--cpus-per-trial"), ("gpu", opts.gpus_per_trial, "--gpus-per-trial"),
                            ("workers", opts.workers_per_trial, "--workers-per-trial")):
        if flag is not None:
            res[key], origin[key] = flag, name
    for key, bad, need in (("cpu", res["cpu"] <= 0, "> 0 (CPUs a trial holds)"), ("gpu", res["gpu"] < 0, ">= 0"),
                           ("workers", int(res["workers"]) < 1, ">= 1")):
        if bad:
            raise UserError(f"{origin.get(key, f'resources.{key}')} {res[key]:g}: must be {need}")
    return res, opts.gpus_per_trial is None and "gpu" not in spec.resources


def _check_local_fit(plan: TrialPlan, opts: SweepOptions, gpu_default: bool) -> None:
    """On the local Ray this process starts, a trial that can never be placed would wait
    for ever; say so now. (A cluster may autoscale, so there Tune decides.)"""
    if opts.address or os.environ.get("RAY_ADDRESS"):
        return
    import torch

    from .runner import trial_resources

    cpus = opts.num_cpus or os.cpu_count() or 1
    need_cpu = plan.cpus * plan.workers + (trial_resources(plan)["cpu"] if plan.workers > 1 else 0)
    need_gpu = plan.gpus * plan.workers
    if need_cpu > cpus + 1e-9:
        raise UserError(f"a trial needs {need_cpu:g} CPUs ({plan.workers} worker(s) x {plan.cpus:g}"
                        f"{' + 0.1 for its driver' if plan.workers > 1 else ''}); this machine has {cpus}: "
                        f"lower --cpus-per-trial or --workers-per-trial")
    if need_gpu > torch.cuda.device_count() and not gpu_default:  # a default share just falls to CPU
        raise UserError(f"a trial needs {need_gpu:g} GPU(s); this machine has {torch.cuda.device_count()}")


def shared_data(prep: Prepared) -> Any:
    """Build the data once, in the driver, when no data field is searched; trials get it
    through the object store. Otherwise each trial process builds (and caches) its own,
    and the driver only checks it here (``check_data`` where a trainable has one, else a
    load at the searched fields' defaults, which fills the on-disk caches trials share),
    so bad data fails before Ray starts either way."""
    if prep.plan is None:
        return None
    import importlib

    from .runner import data_key

    module = importlib.import_module(prep.plan.module)
    fields = ("data", *module.DATA_FIELDS)
    fixed = {k: v for k, v in prep.spec.fixed.items() if k in fields}
    if any(k in prep.spec.parameters for k in fields):
        check = getattr(module, "check_data", None) or module.load_data
        searched = prep.spec.parameters.get("data")
        for data in (searched.values or []) if searched else [fixed.get("data")]:
            check(module.Config.from_dict({**fixed, "data": data}))
        return None
    cfg = module.Config.from_dict(fixed)
    return (data_key(module, cfg), module.load_data(cfg))


# ------------------------------------------------------------------ budget and concurrency


def epoch_budget(prep: "Prepared") -> Optional[int]:
    """The sweep's budget in epochs where trials are cut part-way and a model proposes
    configs (the default): --epoch-budget, else num_samples full-length trials. Cuts then
    buy more configs, not a shorter sweep; elsewhere a sweep runs num_samples trials."""
    if prep.search != "rung_tpe" or prep.scheduler["name"] not in RUNG_SCHEDULERS:
        return None
    return prep.options.get("epoch_budget") or prep.num_samples * int(prep.spec.max_epochs() or 1)


def epochs_to_spend(prep: "Prepared") -> Optional[int]:
    """The epochs the sweep ends at, whoever ends it: the searcher (``epoch_budget``) or the
    --epoch-budget stopper; None where num_samples trials end it."""
    return epoch_budget(prep) or prep.options.get("epoch_budget")


def default_concurrency(prep: Prepared) -> int:
    import ray

    total = ray.cluster_resources()
    cpu = prep.plan.cpus if prep.plan else 1.0
    workers = prep.plan.workers if prep.plan else 1
    gpu = prep.plan.gpus if prep.plan else 0.0
    limit = int(total.get("CPU", 1) // (cpu * workers)) if cpu else 1
    if gpu:
        limit = min(limit, int(total.get("GPU", 0) // (gpu * workers)))
    return max(1, limit)


# ------------------------------------------------------------------ running


DASHBOARD_HOST, RAY_DASHBOARD_PORT = "127.0.0.1", 8265
SWEEPLAB_DASHBOARD_PORT = int(os.environ.get("SWEEPLAB_DASHBOARD_PORT", 8266))  # 0: any free port


def init_ray(address: Optional[str], num_cpus: Optional[int] = None, log_to_driver: bool = True,
             dashboard: bool = False) -> Optional[str]:
    """Connect to ``address`` ($RAY_ADDRESS), else start a local Ray in this process.
    ``dashboard``: the local Ray runs its dashboard on 127.0.0.1; returns its URL."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # checkpoints every epoch keep Tune snapshotting often; that is the point, not a problem
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's saved experiment state is what a resume knows: a trial created after the last
    # save is unknown to it (the store drops it and the searcher suggests it again). Tune's
    # "auto" saves at most every 10 s; every second keeps that window small, for a few ms a save.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    # Tune's CSV / JSON / TensorBoard loggers cost the driver ~15 ms a trial (a writer thread
    # and an fsync a result, and files in the staging folder Tune copies whole to storage at
    # every state save). The results store holds every row; recording.tensorboard_callback
    # writes the event files. TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=0 brings Tune's back.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if not _tune_loggers_on():
        # Tune's ResultGrid looks for the loggers' result.json at the end, and warns; nothing
        # of sweeplab reads it (the store is the record)
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    secrets.keep_out_of_ray()
    if ray.is_initialized():
        return None
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"address": address, "logging_level": "WARNING", "log_to_driver": log_to_driver}
    if address == "local":
        kwargs.update(num_cpus=num_cpus, include_dashboard=dashboard)
        logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_no_token_note)
        if dashboard:
            kwargs.update(dashboard_host=DASHBOARD_HOST, dashboard_port=RAY_DASHBOARD_PORT)
    context = ray.init(**kwargs)
    url = getattr(context, "dashboard_url", None)
    return f"http://{url}" if url and "://" not in url else url


def _no_token_note(record: logging.LogRecord) -> bool:
    """Ray's note, at every local start, that token authentication is on by default. One
    function object, so that adding it at each start keeps one filter."""
    return "Token authentication is enabled" not in record.getMessage()


def _tune_loggers_on() -> bool:
    """Whether Tune writes its own CSV / JSON / TensorBoard files (see init_ray)."""
    return os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") != "1"


def fit_to_cluster(prep: Prepared) -> None:
    """What only the running cluster can tell: whether the registry's GPU share applies (a
    cluster without GPUs runs the trials on CPU), and whether the storage reaches every node."""
    import ray

    if prep.plan and prep.plan.gpus > 0 and prep.gpu_default and not ray.cluster_resources().get("GPU"):
        print(f"note: this Ray cluster has no GPU; trials run on CPU (the registry's {prep.plan.gpus:g} GPU a "
              "trial applies where there are GPUs; --gpus-per-trial sets it)")
        prep.plan = dataclasses.replace(prep.plan, gpus=0.0)
    store.check_shared(prep.storage, sum(1 for n in ray.nodes() if n.get("Alive")))


def start_ray(prep: Prepared) -> None:
    """Ray for this sweep, fitted to it; with --dashboard, both dashboards and their URLs."""
    opts = prep.options
    secrets.export(prep.secrets)  # before a local Ray starts: its workers inherit them
    url = init_ray(opts.get("address"), opts.get("num_cpus"), log_to_driver=opts.get("verbose", 1) >= 2,
                   dashboard=opts.get("dashboard", False))
    fit_to_cluster(prep)
    if opts.get("dashboard"):
        from .dashboard.server import start_in_thread

        storage = prep.storage if "://" not in prep.storage else None
        if url:
            print(f"Ray dashboard: {url}")
        if storage:
            os.makedirs(storage, exist_ok=True)
            served = start_in_thread([storage], DASHBOARD_HOST, SWEEPLAB_DASHBOARD_PORT)
            print(f"sweeplab dashboard: {served}sweep/{prep.name}")
        else:
            print(f"sweeplab dashboard: run `sweeplab dashboard` on a machine that mounts {prep.storage}")


def _wandb_callback(prep: Prepared):
    try:
        from ray.air.integrations.wandb import WandbLoggerCallback
        import wandb  # noqa: F401
    except ImportError:
        raise UserError("--wandb needs the wandb package: pip install 'sweeplab[wandb]'") from None
    # offline unless the user gave a key (or WANDB_MODE): nothing leaves the machine by accident
    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    # W&B's files go straight into the sweep folder where it is local (a trial folder is
    # synced before W&B has finished writing); elsewhere they stay beside each trial
    folder = os.environ.get("WANDB_DIR") or (prep.uri if "://" not in prep.uri else None)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return WandbLoggerCallback(project=f"sweeplab-{prep.spec.experiment or 'custom'}", group=prep.name, mode=mode,
                               **({"dir": folder} if folder else {}))


def build_trainable(prep: Prepared, shared: Any) -> Any:
    from ray import tune

    from .runner import make_trainable

    if prep.plan:
        return make_trainable(prep.plan, shared)  # registry configs hold no secret-named fields
    opts = prep.options
    res = {"cpu": opts.get("cpus_per_trial") or prep.spec.resources.get("cpu", 1),
           "gpu": opts.get("gpus_per_trial") or prep.spec.resources.get("gpu", 0)}
    return tune.with_resources(secrets.guarded(load_user_trainable(prep.user_trainable), prep.secrets), res)


def recorder_for(prep: Prepared) -> store.SweepRecorder:
    return store.SweepRecorder(prep.uri, sweep_meta(prep), prep.metric, prep.mode, prep.spec.preset_configs())


def _callbacks(prep: Prepared, recorder: Optional[store.SweepRecorder] = None) -> list:
    recorder = recorder or recorder_for(prep)
    kill = faults.driver_callback(faults.from_env(), prep.num_samples)
    # PBT exploits other trials' checkpoints at any time: it keeps them all
    prune = prep.scheduler["name"] != "pbt"
    tensorboard = [] if _tune_loggers_on() else [tensorboard_callback(list(prep.spec.parameters))]
    return [store_callback(recorder), *_progress(prep, recorder), *tensorboard,
            *([checkpoint_pruner()] if prune else []),
            *([_wandb_callback(prep)] if prep.options.get("wandb") else []), *([kill] if kill else [])]


def _progress(prep: Prepared, recorder: store.SweepRecorder) -> list:
    """sweeplab's progress display (verbose 1, the default); Ray's tables are verbose 2."""
    if prep.options.get("verbose", 1) != 1:
        return []
    from .progress import Display, Progress, progress_callback

    return [progress_callback(recorder, Display(Progress(prep.metric, prep.mode, total=prep.num_samples,
                                                         epoch_budget=epochs_to_spend(prep),
                                                         time_budget=prep.time_budget)))]


def epoch_budget_stopper(budget: int, sweep_uri: str, metric: str, mode: str):
    """--epoch-budget: a Tune stopper that ends the sweep once its trials have reported
    ``budget`` epochs (training iterations) in total. A trial counts its highest iteration,
    so one restored from a checkpoint does not count the epochs it reports again. Trials
    running when the budget is reached may each report the one epoch they were training.

    Tune saves this stopper in its experiment state and a resumed sweep gets that copy back
    (not the one passed in), counting as of Tune's last state save; so an unpickled stopper
    first takes each trial's epochs from the results store, which records every report."""
    from ray.tune.stopper import Stopper

    class EpochBudget(Stopper):
        def __init__(self):
            self.budget, self.reported, self.announced, self.from_store = budget, {}, False, False

        def __setstate__(self, state):
            self.__dict__.update(state)
            self.from_store = True

        def total(self) -> int:
            if self.from_store:
                self.from_store = False
                recorded = store.SweepRecorder(sweep_uri, {}, metric, mode)
                recorded.load()  # reads only: the Parquet files and the journal
                for trial_id, it in recorded.history:
                    self.reported[trial_id] = max(self.reported.get(trial_id, 0), int(it))
            return sum(self.reported.values())

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            it = int(result.get("training_iteration", 0) or 0)
            self.reported[trial_id] = max(self.reported.get(trial_id, 0), it)
            return self.stop_all()

        def stop_all(self) -> bool:
            reached = self.total() >= self.budget
            if reached and not self.announced:
                self.announced = True
                print(f"note: --epoch-budget {self.budget}: the trials have reported {self.total()} epochs; "
                      "stopping the sweep")
            return reached

    return EpochBudget()


def _budget_stopper(prep: Prepared):
    budget = prep.options.get("epoch_budget")
    return epoch_budget_stopper(int(budget), prep.uri, prep.metric, prep.mode) if budget else None


def tuner_for(prep: Prepared, shared: Any, restore: bool = False, resume_errored: bool = False,
              recorder: Optional[store.SweepRecorder] = None):
    """``recorder``: the results store as already read (on resume), else one made here."""
    from ray import tune

    trainable = build_trainable(prep, shared)
    if prep.options.get("verbose", 1) < 2:  # Ray's new output engine prints its header even when silent
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    failures = tune.FailureConfig(max_failures=prep.options.get("max_failures", 0))
    if restore:
        tuner = tune.Tuner.restore(prep.uri, trainable=trainable, resume_errored=resume_errored,
                                   restart_errored=False)
        # Tune restores the callbacks pickled at the start, which point at the folder's old
        # location; record into the folder being resumed instead.
        run_config = tuner._local_tuner.get_run_config()
        run_config.callbacks, run_config.failure_config = _callbacks(prep, recorder), failures
        return tuner
    max_concurrent = prep.max_concurrent or default_concurrency(prep)
    max_t = prep.spec.max_epochs()
    budget = epoch_budget(prep)
    return tune.Tuner(
        trainable,
        param_space=prep.spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=prep.metric,
            mode=prep.mode,
            scheduler=make_scheduler(prep.scheduler, max_t, prep.spec, prep.seed, store_uri=prep.uri,
                                     max_concurrent=max_concurrent, budget=epochs_to_spend(prep)),
            search_alg=make_searcher(prep.search, prep.spec, prep.seed, max_concurrent, prep.num_samples,
                                     scheduler=prep.scheduler, budget=budget),
            # with an epoch budget the searcher decides when no config is left to try
            num_samples=-1 if budget else prep.num_samples,
            # make_searcher sets the limit (the random/grid generator takes it itself)
            max_concurrent_trials=None,
            reuse_actors=True,
            time_budget_s=prep.time_budget,
            trial_dirname_creator=lambda t: f"trial_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=prep.name,
            storage_path=prep.storage,
            callbacks=_callbacks(prep, recorder),
            # Tune keeps every checkpoint; recording.checkpoint_pruner deletes old ones when safe
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            failure_config=failures,
            stop=_budget_stopper(prep),
            sync_config=tune.SyncConfig(sync_artifacts=True),  # files trials keep (GAN grids)
            verbose=1 if prep.options.get("verbose", 1) >= 2 else 0,  # Ray's tables with -v only
        ),
    )


def run(prep: Prepared) -> int:
    """Tune; print where the results are and the best config. 0 ok, 1 every trial failed."""
    shared = shared_data(prep)  # before Ray starts, so a bad data path fails fast
    lock = SweepLock(prep.uri, f"sweeplab tune {prep.name}")
    lock.create_folder()  # atomic: a twin `tune --name same` started at the same time is refused
    try:
        with lock.acquire():
            return _run(prep, shared)
    finally:
        lock.remove_if_empty()  # nothing started (Ray refused, Ctrl-C at once): no empty sweep left


def _run(prep: Prepared, shared) -> int:
    start_ray(prep)
    try:
        tuner = tuner_for(prep, shared)
        # resume reads it; a secret in it comes back from the environment (secrets.restored)
        store.write_bytes(store.join(prep.uri, "space.yaml"), secrets.redact(prep.spec.text, prep.secrets).encode())
        started = time.monotonic()
        results, stopped_by = stopping.fit(tuner.fit)
        if stopped_by is None and prep.time_budget and time.monotonic() - started >= prep.time_budget:
            stopped_by = TIME_BUDGET
    except OSError as e:
        storage_failure(prep, error=e)  # a full or read-only disk: one line, the sweep marked failed
        raise
    storage_failure(prep, results=results)  # trials that died of it
    # drop the Tuner (and its callbacks) while the interpreter is whole: W&B's callback
    # cleans up in __del__ and fails noisily at exit otherwise
    del tuner
    gc.collect()
    return _ended(prep, stopped_by)


TIME_BUDGET = -1  # _ended's "stopped by": the sweep's time budget ran out


def _ended(prep: Prepared, stopped_by: Optional[int]) -> int:
    """The summary; after Ctrl-C or SIGTERM, how to go on, and exit 130 / 143."""
    code = summarize(prep.uri, prep.metric, prep.mode)
    if stopped_by is None:  # Tune ran out of trials to run: a resume has nothing to do
        meta = store.read_meta(prep.uri)
        store.write_json(store.join(prep.uri, store.SWEEP_JSON), {**meta, "ended": dt.datetime.now().isoformat(timespec="seconds")})
        return code
    if stopped_by == TIME_BUDGET:
        print(f"the sweep's time budget ({prep.time_budget:g} s, --time-budget or the space's time_budget) ended it: "
              "trials still paused at a rung or running were left as they were")
        return code
    print(f"stopped ({stopping.NAMES[stopped_by]}); resume with: sweeplab resume {prep.uri}")
    return stopping.EXIT[stopped_by]


def resume(sweep_dir: str, retry_errored: bool = False) -> int:
    """Continue a sweep stopped by Ctrl-C or a kill: finished trials stay finished, the
    searcher's state is Tune's own (saved in the experiment folder)."""
    uri = sweep_dir if store.is_remote(sweep_dir) else os.path.abspath(sweep_dir)
    if not store.exists(store.join(uri, store.SWEEP_JSON)):
        raise UserError(f"{sweep_dir}: no {store.SWEEP_JSON} here; not a sweeplab sweep folder")
    lock = SweepLock(uri, f"sweeplab resume {sweep_dir}")
    lock.refuse_if_held()  # a live sweep is not resumed twice
    return _resume(uri, sweep_dir, retry_errored, lock)


def _nothing_to_resume(meta: dict[str, Any], recorder: store.SweepRecorder, retry_errored: bool,
                       sweep_dir: str) -> bool:
    """A sweep that ran to its end, every trial finished (or errored, without
    --retry-errored): said in one line, and Ray is not started."""
    statuses = [row.get("status") for row in recorder.trials.values()]
    errored = statuses.count("ERROR")
    if not meta.get("ended") or any(s not in ("TERMINATED", "ERROR") for s in statuses) or (retry_errored and errored):
        return False
    more = f", {errored} errored (--retry-errored reruns them)" if errored else ""
    print(f"{sweep_dir}: the sweep ran to its end ({statuses.count('TERMINATED')} trials finished{more}); nothing to resume")
    return True


def _stored_space(uri: str) -> str:
    """The space file the sweep stored (from any working directory): the file itself on a
    local path; a local copy of it on URI storage (the space loader reads local files)."""
    if not store.is_remote(uri):
        return store.join(uri, "space.yaml")
    import tempfile

    try:
        text = store.read_bytes(store.join(uri, "space.yaml"))
    except OSError as e:
        raise UserError(f"{store.join(uri, 'space.yaml')}: cannot read the sweep's space file ({e})") from None
    folder = tempfile.mkdtemp(prefix="sweeplab-space-")
    path = os.path.join(folder, "space.yaml")
    with open(path, "wb") as f:
        f.write(text)
    return path


def _resume(uri: str, sweep_dir: str, retry_errored: bool, lock: SweepLock) -> int:
    if not store.exists(store.join(uri, "tuner.pkl")):
        raise UserError(f"{sweep_dir}: Ray's experiment state (tuner.pkl) is missing; cannot resume")
    meta = store.read_meta(uri)
    for key in ("options", "experiment"):
        if key not in meta:
            raise store.CorruptStore(store.join(uri, store.SWEEP_JSON), f"no '{key}': not what sweeplab tune writes")
    options = dict(meta["options"])
    options.update(
        target=meta["experiment"] if not meta["options"].get("trainable") else None,
        space=_stored_space(uri),
        name=uri.rstrip("/").rsplit("/", 1)[-1],
        storage=uri.rstrip("/").rsplit("/", 1)[0],
    )
    prep = prepare(SweepOptions(**options), fresh=False)  # its storage checks come before the lock is written
    store.check_ray_state(uri)  # after prepare, which says first when the sweep was marked FAILED
    prep.secrets = secrets.restored(prep.secrets)
    with lock.acquire():
        recorder = recorder_for(prep)
        recorder.load()  # read once: here, and by the store callback it is handed to
        if _nothing_to_resume(meta, recorder, retry_errored, sweep_dir):
            return 0
        if "ended" in meta:  # it runs again: ended only once this run ends
            store.write_json(store.join(uri, store.SWEEP_JSON), {k: v for k, v in meta.items() if k != "ended"})
        if prep.plan:  # what the store saw finish (its journal included), which Tune's saved state may predate
            final = {t: recorder.trials[t].get(prep.metric) for t in recorder.finished()}
            prep.plan = dataclasses.replace(prep.plan, finished=tuple(
                (t, float(v)) for t, v in final.items() if isinstance(v, (int, float)) and not math.isnan(v)))
        shared = shared_data(prep)
        start_ray(prep)
        tuner = tuner_for(prep, shared, restore=True, resume_errored=retry_errored, recorder=recorder)
        _, stopped_by = stopping.fit(tuner.fit)
        del tuner
        gc.collect()
    return _ended(prep, stopped_by)
