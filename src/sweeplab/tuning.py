"""Schedulers, searchers, the Tuner, and resume: everything between a validated space
and Ray Tune. ``prepare`` validates all input before Ray starts; ``run`` tunes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from . import registry, spaces, store
from .errors import UserError
from .runner import TrialPlan

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
    verbose: int = 1


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
    data_config: dict[str, Any]  # the fixed values the shared data is built from
    options: dict[str, Any]

    @property
    def uri(self) -> str:
        return store.join(self.storage, self.name)


# ------------------------------------------------------------------ preparation


def resolve_target(target: Optional[str], space: Optional[str]) -> tuple[Optional[registry.Experiment], Path]:
    """``tune freq`` (an experiment's default space) or ``tune seqclf_lstm`` (a shipped space)."""
    if target in registry.EXPERIMENTS:
        exp = registry.EXPERIMENTS[target]
        return exp, spaces.find(space) if space else spaces.find(exp.space)
    if target is None:
        if space is None:
            raise UserError("name an experiment or a space (sweeplab list), or give --space FILE")
        path = spaces.find(space)
        _, raw = spaces.read(path)
        exp_id = raw.get("experiment")
        return (registry.get(exp_id) if exp_id else None), path
    shipped = spaces.shipped()
    if target in shipped:
        if space:
            raise UserError(f"'{target}' is already a space file; drop --space or name an experiment")
        _, raw = spaces.read(shipped[target])
        return registry.get(raw["experiment"]), shipped[target]
    known = sorted(set(registry.EXPERIMENTS) | set(shipped))
    raise UserError(f"unknown experiment or space '{target}'; known: {', '.join(known)}")


def prepare(opts: SweepOptions, fresh: bool = True) -> Prepared:
    """Validate everything (space, pins, flags, resources) before Ray starts."""
    if opts.trainable:
        exp, config_cls = None, None
        if not opts.space:
            raise UserError("--trainable needs --space FILE (its parameters and metric)")
        path = spaces.find(opts.space)
    else:
        exp, path = resolve_target(opts.target, opts.space)
        if exp is None:
            raise UserError(f"{path}: names no 'experiment'; give an experiment id or --trainable")
        config_cls = exp.load().Config
    spec = spaces.load(path, config_cls, exp.id if exp else None)

    if opts.smoke and exp:
        for key, value in exp.smoke.items():
            if key in spaces.field_types(config_cls):
                spec.pin(key, value, origin="smoke")
    for item in opts.sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        spec.pin(key.strip(), value, origin="--set")
    if opts.max_epochs is not None:
        if opts.max_epochs < 1:
            raise UserError(f"--max-epochs {opts.max_epochs}: must be >= 1")
        spec.cap_epochs(opts.max_epochs)

    metric = spec.metric or (exp.metric if exp else None)
    mode = spec.mode or (exp.mode if exp else None)
    if metric is None or mode is None:
        raise UserError(f"{path}: metric: a user trainable's space must name metric {{name, goal}}")
    if exp and spec.metric and spec.mode is None:
        mode = exp.mode if spec.metric == exp.metric else "max"

    search = opts.search or spec.search
    if search not in spaces.SEARCHERS:
        raise UserError(f"--search {search}: allowed: {', '.join(spaces.SEARCHERS)}")
    scheduler = dict(spec.scheduler)
    if opts.scheduler:
        if opts.scheduler not in spaces.SCHEDULERS:
            raise UserError(f"--scheduler {opts.scheduler}: allowed: {', '.join(spaces.SCHEDULERS)}")
        if opts.scheduler != scheduler["name"]:
            scheduler = {"name": opts.scheduler}
    if search == "grid" and any(p.values is None for p in spec.parameters.values()):
        bad = next(k for k, p in spec.parameters.items() if p.values is None)
        raise UserError(f"--search grid: parameter '{bad}' is a distribution; grid needs values")
    if scheduler["name"] == "pbt" and search == "optuna":
        print("note: PBT explores by mutating configs; using the random searcher for its start points")
        search = "random"
    spec.search = search

    num_samples = opts.num_samples or spec.num_samples or (1 if search == "grid" else 10)
    if opts.smoke and opts.num_samples is None:
        num_samples = min(num_samples, 2)
    base = exp.resources if exp else registry.Resources()
    res = {**dataclasses.asdict(base), **spec.resources}
    for key, flag in (("cpu", opts.cpus_per_trial), ("gpu", opts.gpus_per_trial), ("workers", opts.workers_per_trial)):
        if flag is not None:
            res[key] = flag
    if res["cpu"] <= 0 or res["gpu"] < 0 or int(res["workers"]) < 1:
        raise UserError(f"resources per trial must be cpu > 0, gpu >= 0, workers >= 1; got {res}")

    storage = opts.storage if "://" in opts.storage else os.path.abspath(opts.storage)
    name = opts.name or f"{Path(path).stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if "/" in name:
        raise UserError(f"--name {name!r}: a folder name, without '/'")
    if fresh and store.exists(store.join(storage, name)):
        raise UserError(f"{store.join(storage, name)} already exists; resume it with `sweeplab resume` or pick another --name")
    if exp and "seed" not in spec.fixed and "seed" not in spec.parameters:
        spec.fixed["seed"] = opts.seed  # one seed for the searcher and every trial
    plan = None
    if exp:
        plan = TrialPlan(
            module=exp.module, metric=metric, mode=mode, cpus=float(res["cpu"]), gpus=float(res["gpu"]),
            workers=int(res["workers"]), train_storage=store.join(storage, name, "train"),
        )
        if plan.workers > 1 and scheduler["name"] == "pbt":
            raise UserError("--scheduler pbt needs checkpoints in Tune; use it with --workers-per-trial 1")
    time_budget = opts.time_budget if opts.time_budget is not None else spec.time_budget
    if opts.smoke:
        time_budget = None
    options = {k: v for k, v in dataclasses.asdict(opts).items()}
    return Prepared(
        spec=spec, plan=plan, user_trainable=opts.trainable, metric=metric, mode=mode, search=search,
        scheduler=scheduler, num_samples=num_samples, time_budget=time_budget,
        max_concurrent=opts.max_concurrent, seed=opts.seed, storage=storage, name=name,
        data_config=_data_config(exp, spec), options=options,
    )


def _data_config(exp: Optional[registry.Experiment], spec: spaces.Spec) -> dict[str, Any]:
    if exp is None:
        return {}
    module = exp.load()
    fields = ("data", *module.DATA_FIELDS)
    return {k: v for k, v in spec.fixed.items() if k in fields}


def shared_data(prep: Prepared) -> Any:
    """Build the data once, in the driver, when no data field is searched; trials get it
    through the object store. Otherwise each trial process builds (and caches) its own."""
    if prep.plan is None:
        return None
    import importlib

    from .runner import data_key

    module = importlib.import_module(prep.plan.module)
    if any(k in prep.spec.parameters for k in ("data", *module.DATA_FIELDS)):
        return None
    cfg = module.Config.from_dict(prep.data_config)
    return (data_key(module, cfg), module.load_data(cfg))


# ------------------------------------------------------------------ factories


def make_scheduler(sched: dict[str, Any], max_t: Optional[int], spec: spaces.Spec, seed: int):
    from ray.tune import schedulers as s

    kw = {k: v for k, v in sched.items() if k != "name"}
    name = sched["name"]
    max_t = kw.pop("max_t", None) or max_t or 100
    if name == "asha":
        grace = min(kw.pop("grace_period", 1), max_t)
        return s.ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=grace, **kw)
    if name == "hyperband":
        return s.HyperBandScheduler(time_attr="training_iteration", max_t=max_t, **kw)
    if name == "median":
        return s.MedianStoppingRule(time_attr="training_iteration", **kw)
    if name == "pbt":
        # Only fields a checkpoint survives; exploiting trials copy the rest from the donor.
        hot = spec.config_cls.HOT_FIELDS if spec.config_cls else tuple(spec.parameters)
        mutations = {k: (list(p.values) if p.values is not None else p.domain())
                     for k, p in spec.parameters.items() if k in hot}
        if not mutations:
            raise UserError(f"{spec.source}: scheduler pbt: none of the searched parameters can change "
                            f"mid-training; search one of: {', '.join(hot)}")
        kw.setdefault("perturbation_interval", max(1, max_t // 5))
        return s.PopulationBasedTraining(time_attr="training_iteration", hyperparam_mutations=mutations,
                                         synch=False, **kw)
    return s.FIFOScheduler()


def make_searcher(search: str, spec: spaces.Spec, seed: int, max_concurrent: int, num_samples: int):
    points = spec.points_to_evaluate()[:num_samples]  # presets count toward num_samples
    if search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, len(points)))
        return OptunaSearch(sampler=sampler, points_to_evaluate=points or None)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed,
                                 max_concurrent=max_concurrent)


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


def init_ray(address: Optional[str], num_cpus: Optional[int] = None) -> None:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # checkpoints every epoch keep Tune snapshotting often; that is the point, not a problem
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"address": address, "logging_level": "WARNING"}
    if address == "local":
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    ray.init(**kwargs)


def build_trainable(prep: Prepared, shared: Any) -> Any:
    from ray import tune

    from .runner import load_user_trainable, make_trainable

    if prep.plan:
        return make_trainable(prep.plan, shared)
    opts = prep.options
    res = {"cpu": opts.get("cpus_per_trial") or prep.spec.resources.get("cpu", 1),
           "gpu": opts.get("gpus_per_trial") or prep.spec.resources.get("gpu", 0)}
    return tune.with_resources(load_user_trainable(prep.user_trainable), res)


def sweep_meta(prep: Prepared) -> dict[str, Any]:
    import optuna
    import ray

    versions = {"python": platform.python_version(), "ray": ray.__version__, "optuna": optuna.__version__}
    for mod in ("torch", "sweeplab"):
        if mod in sys.modules:
            versions[mod] = getattr(sys.modules[mod], "__version__", "?")
    return {
        "experiment": prep.spec.experiment,
        "trainable": prep.user_trainable or (prep.plan.module if prep.plan else None),
        "space_file": prep.spec.source,
        "space": prep.spec.text,
        "pins": prep.spec.pins,
        "metric": prep.metric,
        "mode": prep.mode,
        "scheduler": prep.scheduler["name"],
        "scheduler_options": prep.scheduler,
        "searcher": prep.search,
        "seed": prep.seed,
        "num_samples": prep.num_samples,
        "time_budget_s": prep.time_budget,
        "resources": dataclasses.asdict(prep.plan) if prep.plan else None,
        "presets": prep.spec.preset_configs(),
        "options": prep.options,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "versions": versions,
        "name": prep.name,
        "storage": prep.storage,
    }


def store_callback(recorder: store.SweepRecorder):
    from ray.tune import Callback

    class StoreCallback(Callback):
        """Feeds the results store from Tune's events, in the driver."""

        def setup(self, **info):
            recorder.open()

        def on_trial_start(self, iteration, trials, trial, **info):
            recorder.started(trial.trial_id, trial.config)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            recorder.result(trial.trial_id, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            recorder.ended(trial.trial_id, "TERMINATED")

        def on_trial_error(self, iteration, trials, trial, **info):
            recorder.ended(trial.trial_id, "ERROR", _error_text(trial))

        def on_experiment_end(self, trials, **info):
            recorder.close({t.trial_id: t.status for t in trials})

    return StoreCallback()


def _error_text(trial) -> str:
    path = trial.error_file
    if path and os.path.exists(path):
        lines = [ln for ln in Path(path).read_text().strip().splitlines() if ln.strip()]
        return lines[-1][:2000] if lines else "unknown error"
    return "unknown error"


def tuner_for(prep: Prepared, shared: Any, restore: bool = False, resume_errored: bool = False):
    from ray import tune

    trainable = build_trainable(prep, shared)
    recorder = store.SweepRecorder(prep.uri, sweep_meta(prep), prep.metric, prep.mode, prep.spec.preset_configs())
    if restore:
        tuner = tune.Tuner.restore(prep.uri, trainable=trainable, resume_errored=resume_errored,
                                   restart_errored=False)
        # Tune restores the callbacks pickled at the start, which point at the folder's old
        # location; record into the folder being resumed instead.
        tuner._local_tuner.get_run_config().callbacks = [store_callback(recorder)]
        return tuner
    max_concurrent = prep.max_concurrent or default_concurrency(prep)
    max_t = prep.spec.max_epochs()
    return tune.Tuner(
        trainable,
        param_space=prep.spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=prep.metric,
            mode=prep.mode,
            scheduler=make_scheduler(prep.scheduler, max_t, prep.spec, prep.seed),
            search_alg=make_searcher(prep.search, prep.spec, prep.seed, max_concurrent, prep.num_samples),
            num_samples=prep.num_samples,
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            time_budget_s=prep.time_budget,
            trial_dirname_creator=lambda t: f"trial_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=prep.name,
            storage_path=prep.storage,
            callbacks=[store_callback(recorder)],
            # PBT exploits other trials' checkpoints: keep them all (Tune's pruning races it)
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None if prep.scheduler["name"] == "pbt" else 2),
            failure_config=tune.FailureConfig(max_failures=0),
            verbose=prep.options.get("verbose", 1),
        ),
    )


def run(prep: Prepared) -> int:
    """Tune; print where the results are and the best config. 0 ok, 1 every trial failed."""
    shared = shared_data(prep)  # before Ray starts, so a bad data path fails fast
    init_ray(prep.options.get("address"), prep.options.get("num_cpus"))
    store.write_bytes(store.join(prep.uri, "space.yaml"), prep.spec.text.encode())
    tuner = tuner_for(prep, shared)
    tuner.fit()
    return summarize(prep.uri, prep.metric, prep.mode)


def resume(sweep_dir: str, retry_errored: bool = False) -> int:
    """Continue a sweep stopped by Ctrl-C or a kill: finished trials stay finished, the
    searcher's state is Tune's own (saved in the experiment folder)."""
    uri = sweep_dir if "://" in sweep_dir else os.path.abspath(sweep_dir)
    if not store.exists(store.join(uri, store.SWEEP_JSON)):
        raise UserError(f"{sweep_dir}: no {store.SWEEP_JSON} here; not a sweeplab sweep folder")
    if not store.exists(store.join(uri, "tuner.pkl")):
        raise UserError(f"{sweep_dir}: Ray's experiment state (tuner.pkl) is missing; cannot resume")
    meta = store.read_json(store.join(uri, store.SWEEP_JSON))
    options = dict(meta["options"])
    options.update(
        target=meta["experiment"] if not meta["options"].get("trainable") else None,
        space=store.join(uri, "space.yaml") if "://" not in uri else meta["space_file"],
        name=uri.rstrip("/").rsplit("/", 1)[-1],
        storage=uri.rstrip("/").rsplit("/", 1)[0],
    )
    prep = prepare(SweepOptions(**options), fresh=False)
    shared = shared_data(prep)
    init_ray(prep.options.get("address"), prep.options.get("num_cpus"))
    tuner = tuner_for(prep, shared, restore=True, resume_errored=retry_errored)
    tuner.fit()
    return summarize(prep.uri, prep.metric, prep.mode)


def summarize(uri: str, metric: str, mode: str, echo: Callable[[str], None] = print) -> int:
    """Read the store back (not Ray's objects) and print the outcome."""
    import pandas as pd

    trials_uri = store.join(uri, store.TRIALS)
    if not store.exists(trials_uri):
        echo(f"no trials ran; results folder: {uri}")
        return 1
    trials = store.read_frame(trials_uri)
    counts = trials["status"].value_counts().to_dict()
    echo(f"\nresults: {uri}")
    echo("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    best_col = f"best/{metric}"
    ok = trials[trials[best_col].notna()] if best_col in trials else trials.iloc[0:0]
    if ok.empty:
        for _, row in trials[trials["error"].notna()].iterrows():
            echo(f"  {row['trial_id']}: {row['error']}")
        echo("no trial reported its metric")
        return 1
    ranked = ok.sort_values(best_col, ascending=(mode == "min"))
    params = [c for c in trials.columns if c.startswith("config/") and trials[c].nunique(dropna=False) > 1]
    show = ["trial_id", "preset", *params, best_col, "iterations", "status"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        echo(ranked[show].head(10).rename(columns=lambda c: c.removeprefix("config/")).to_string(index=False))
    best = ranked.iloc[0]
    config = {c.removeprefix("config/"): best[c] for c in trials.columns if c.startswith("config/")}
    echo(f"best {metric} = {best[best_col]:.6g} (trial {best['trial_id']}"
         f"{', preset ' + best['preset'] if isinstance(best.get('preset'), str) else ''})")
    echo("best config: " + ", ".join(f"{k}={_fmt(v)}" for k, v in config.items()))
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def single_config(target: str, preset: Optional[str], config_file: Optional[str], sets: list[str],
                  smoke: bool, space: Optional[str] = None) -> tuple[registry.Experiment, Any]:
    """One config for ``sweeplab train``: defaults < space's fixed < preset < --config < --set < smoke."""
    exp, path = resolve_target(target, space)
    if exp is None:
        raise UserError(f"{path}: names no 'experiment'")
    module = exp.load()
    spec = spaces.load(path, module.Config, exp.id)
    values = dict(spec.fixed)
    if preset:
        presets = spec.preset_configs()
        if preset not in presets:
            raise UserError(f"{path}: no preset '{preset}'; presets: {', '.join(presets) or '(none)'}")
        values.update(presets[preset])
    if config_file:
        _, raw = spaces.read(Path(config_file))
        types = spaces.field_types(module.Config)
        for key, value in raw.items():
            if key not in types:
                raise UserError(f"{config_file}: {key}: not a field of {module.Config.__name__}; allowed: {', '.join(sorted(types))}")
        values.update(raw)
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        spec.pin(key.strip(), value)
        values[key.strip()] = spec.fixed[key.strip()]
    if smoke:
        values.update(exp.smoke)
    return exp, module.Config.from_dict(values)
