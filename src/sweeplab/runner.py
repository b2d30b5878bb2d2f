"""Where the engine runs under Ray: a Tune trial in-process, or a TorchTrainer with N DDP
workers driven from a Tune trial. (A plain local run, ``sweeplab train`` and tests, is
local_training.py.)

``make_trainable`` is the Ray Tune function trainable for every registered model
(trial_plan.py holds what it is given, and loads a user's own ``--trainable``).
"""

from __future__ import annotations

import functools
import logging
import numbers
import os
import time
from typing import Any, Callable, Optional

import torch

from . import engine, trainables
from .config import BaseConfig
from .schema import ALREADY_DONE, NODE_ID, is_remote
from .trainables import Trainable
from .trial_plan import Finished, TrialPlan, trial_resources

_DATA_CACHE: dict[tuple, Any] = {}  # per process: reused actors share data across trials


def cached_data(trainable: Trainable, cfg: BaseConfig) -> Any:
    """Build the data for ``cfg`` once per process (used when data fields are searched)."""
    key = trainable.data_key(cfg)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # keep one data set: a searched data field changes it per trial
        _DATA_CACHE[key] = trainable.load_data(cfg)
    return _DATA_CACHE[key]


def _data_for(trainable: Trainable, cfg: BaseConfig, shared: Any) -> Any:
    if shared is not None and shared[0] == trainable.data_key(cfg):
        return shared[1]
    return cached_data(trainable, cfg)


# ---------------------------------------------------------------- sessions


def _quiet_checkpoint_logs() -> None:
    """The engine checkpoints every epoch; Ray logs a line for each one."""
    from .ray_internals import CHECKPOINT_LOGGERS

    for name in CHECKPOINT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class TuneSession(engine.Session):
    """One process: the Tune trial itself trains."""

    def __init__(self, cpus: float):
        import ray

        torch.set_num_threads(max(1, int(cpus)))
        _quiet_checkpoint_logs()
        gpus = ray.get_gpu_ids()
        self._cuda = bool(gpus) and torch.cuda.is_available()
        self._placement = placement(gpus)

    def device(self) -> torch.device:
        return torch.device("cuda" if self._cuda else "cpu")

    def artifact_dir(self) -> Optional[str]:
        from ray import tune

        return tune.get_context().get_trial_dir()  # synced to storage (sync_artifacts=True)

    def checkpoint_dir(self) -> Optional[str]:
        from ray import tune

        ckpt = tune.get_checkpoint()
        return ckpt.to_directory() if ckpt else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        from ray import tune

        ckpt = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report({**metrics, **self._placement}, checkpoint=ckpt)


def placement(gpu_ids: list) -> dict[str, Any]:
    """Where a trial runs, in every row it reports: its node, the GPU ids Ray gave it (fake
    ones too, where a node declares GPUs it lacks) and when it started, so analysis can show
    the placement and how many trials ran at once."""
    import ray

    return {
        NODE_ID: ray.get_runtime_context().get_node_id(),
        "gpu_ids": ",".join(str(g) for g in gpu_ids),
        "started_at": time.time(),
    }


class TrainWorkerSession(engine.Session):
    """A Ray Train (DDP) worker: rank 0 reports metrics and checkpoints to the trial."""

    def __init__(self, cpus: float, artifacts: Optional[str] = None):
        import ray.train

        torch.set_num_threads(max(1, int(cpus)))
        _quiet_checkpoint_logs()
        ctx = ray.train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()
        self._artifacts = artifacts if self.rank == 0 else None

    def artifact_dir(self) -> Optional[str]:
        if self._artifacts:
            os.makedirs(self._artifacts, exist_ok=True)
        return self._artifacts

    def device(self) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device()

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def checkpoint_dir(self) -> Optional[str]:
        import ray.train

        ckpt = ray.train.get_checkpoint()
        return ckpt.to_directory() if ckpt else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        import ray.train

        ckpt = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=ckpt)


# ---------------------------------------------------------------- trainables


def run_trial(config: dict[str, Any], plan: TrialPlan, shared: Any = None) -> None:
    """The Tune function trainable of every registered model."""
    trainable = trainables.load(plan.module)
    cfg = trainable.config.from_dict(config)  # unknown keys fail here, loudly
    if plan.workers <= 1:
        engine.fit(_task(trainable, plan), cfg, _data_for(trainable, cfg, shared), TuneSession(plan.cpus), plan.monitor)
    else:
        _fit_distributed(cfg, plan, _data_for(trainable, cfg, shared))


def _fit_distributed(cfg: BaseConfig, plan: TrialPlan, data: Any) -> None:
    import ray
    from ray import tune
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        _worker_loop,
        # one object-store copy a trial, read zero-copy by every worker on the node
        train_loop_config={
            "cfg": cfg.to_dict(),
            "plan": plan,
            "data": ray.put(data),
            # rank 0 keeps its files beside the Train run's own, where storage is a folder
            "artifacts": None
            if not plan.train_storage or is_remote(plan.train_storage)
            else os.path.join(plan.train_storage, f"train-{trial_id}", "artifacts"),
        },
        scaling_config=ScalingConfig(
            num_workers=plan.workers,
            use_gpu=plan.gpus > 0,
            resources_per_worker={"CPU": plan.cpus, **({"GPU": plan.gpus} if plan.gpus else {})},
        ),
        # Same name on a restarted trial: Train resumes from its own latest checkpoint.
        run_config=RunConfig(
            name=f"train-{trial_id}",
            storage_path=plan.train_storage,
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]  # Train V2 takes its own; Ray annotates Tune's
            failure_config=FailureConfig(max_failures=0),
        ),
    )
    trainer.fit()


def _worker_loop(loop_config: dict[str, Any]) -> None:
    import ray

    plan: TrialPlan = loop_config["plan"]
    trainable = trainables.load(plan.module)
    cfg = trainable.config.from_dict(loop_config["cfg"])
    data = ray.get(loop_config["data"])
    engine.fit(_task(trainable, plan), cfg, data, TrainWorkerSession(plan.cpus, loop_config["artifacts"]), plan.monitor)


def _task(trainable: Trainable, plan: TrialPlan) -> Callable:
    if not plan.faults:
        return trainable.task
    from . import faults

    return faults.wrap_task(trainable.task, plan.faults, plan.driver_pgid)


def make_trainable(plan: TrialPlan, shared: Any = None, finished: Finished = ()):
    """``shared`` = (data_key, data): built once by the driver, shipped through the object store."""
    from ray import tune

    from .secrets import guarded

    fn = tune.with_parameters(guarded(skip_finished(run_trial, plan.metric, finished)), plan=plan, shared=shared)
    return tune.with_resources(fn, trial_resources(plan))


def skip_finished(fn: Callable, metric: str, finished: Finished) -> Callable:
    """A function trainable (registered or the user's) that trains nothing for a trial the
    store saw complete before the driver died: the same id and config (an id Tune gives again
    to another config is another trial). It tells Tune, and its searcher, how the trial ended,
    in one report the store and the epoch budget know to count as no epoch."""
    if not finished:
        return fn

    @functools.wraps(fn)
    def trainable(config, *args, **kwargs):
        from ray import tune

        from .store import same_config

        trial_id = tune.get_context().get_trial_id()
        for done, final, stored in finished:
            if done == trial_id and same_config(dict(stored), config):
                tune.report({metric: final, ALREADY_DONE: True})
                return None
        return fn(config, *args, **kwargs)

    return trainable


class BadReport(ValueError):
    """A user trainable reported the sweep's metric as something other than a number."""


def checked_reports(fn: Callable, metric: str) -> Callable:
    """A user's function trainable whose reports are checked in the trial: the sweep's metric
    must be there, a number (NaN and inf are numbers: recorded, never chosen). A bad report
    fails that trial with one line naming the value; Tune's driver would fail the whole sweep
    on it (its schedulers and searchers compare the values)."""

    def check(metrics: Any) -> None:
        if not isinstance(metrics, dict):
            raise BadReport(f"reported {type(metrics).__name__} {_short(metrics)}, not a dict of metrics")
        if "__duplicate__" in metrics:  # Tune's own: the function's last result handed in again as it returns
            return
        if metric not in metrics:
            raise BadReport(f"reported {sorted(map(str, metrics))[:8]} without the sweep's metric '{metric}'")
        value = metrics[metric]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise BadReport(f"reported {metric} = {_short(value)} ({type(value).__name__}), not a number")

    @functools.wraps(fn)
    def trainable(config, *args, **kwargs):
        try:  # every way to report (ray.tune.report, ray.train.report, however imported) goes through the session
            from .ray_internals import report_session

            session = report_session()
        except ImportError:  # a Ray that moved it: Tune's own checks stand
            session = None
        if session is not None:
            report = session.report

            def checked(metrics, *a, **kw):
                check(metrics)
                return report(metrics, *a, **kw)

            session.report = checked
        return fn(config, *args, **kwargs)

    return trainable


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
