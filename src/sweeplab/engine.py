"""The one training loop. Every model runs through ``fit``; a model only supplies a Task.

A Task (see ``trainables/``) gives the engine:
  ``build_model() -> nn.Module``
  ``train_batches(epoch) -> iterable`` of batches for one epoch
  ``training_step(model, batch) -> scalar loss tensor``
  ``evaluate(model, split) -> dict`` of metrics for "val" or "test" (no grad, eval mode);
      for "val" it may add ``predictions``: the per-row outcome the metric is made of
      (see ``schema.PREDICTIONS``), which analysis resamples for its intervals
  optional ``on_epoch_start(epoch)`` and ``param_groups(model)``.

Best-epoch discipline: a trial's figure is its best epoch by the monitored (validation)
metric. The test split is evaluated only on the weights of each new best epoch, in that
epoch's row beside ``is_best``, so every trial, finished or stopped by a scheduler, has the
test metrics of exactly the weights its figure comes from, and nothing ever ranks by them.
The engine owns everything else: devices and threads, optimizer, LR schedule, clipping,
autocast, non-finite-loss detection, early stopping, checkpoints and their restore, and
reporting through a Session (Tune trial, Train worker, or a plain local run).
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional, Protocol, Sequence, TypeGuard, cast

import numpy as np
import torch
from torch import nn

from .config import BaseConfig
from .errors import TrialDiverged
from . import schema
from .schema import IS_BEST, PREDICTIONS  # noqa: F401 (engine.PREDICTIONS for tasks and tests)

STATE_FILE = "state.pt"


class Task(Protocol):
    """The hooks every task has; it also has either ``training_step`` (a LossTask) or
    ``configure_optimizers`` and ``manual_step`` (a ManualStepTask)."""

    def build_model(self) -> nn.Module: ...
    def train_batches(self, epoch: int) -> Iterable[Any]: ...
    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]: ...


class LossTask(Task, Protocol):
    """Returns a loss; the engine steps the one optimizer it builds from the config."""

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor: ...


class ManualStepTask(Task, Protocol):
    """Owns its optimizers (a GAN: two) and steps them itself."""

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]: ...
    def manual_step(
        self, model: nn.Module, batch: Any, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]: ...


def _steps_itself(task: Task) -> TypeGuard[ManualStepTask]:
    return hasattr(task, "configure_optimizers")


class Session(abc.ABC):
    """Where the loop runs: decides the device, reports, and keeps checkpoints."""

    rank: int = 0
    world_size: int = 1

    def device(self) -> torch.device:
        return torch.device("cpu")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model

    def shard(self, n: int) -> slice:
        """The part of ``n`` training items this worker owns (all of it on one worker)."""
        per = math.ceil(n / self.world_size)
        return slice(self.rank * per, min(n, (self.rank + 1) * per))

    def checkpoint_dir(self) -> Optional[str]:
        return None

    def artifact_dir(self) -> Optional[str]:
        """A folder for files a task keeps beside its metrics (images); None = keep none."""
        return None

    @abc.abstractmethod
    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        """Send one epoch's row (and, on rank 0, a checkpoint folder) to wherever it goes."""


@dataclass
class Monitor:
    """The metric that early stopping, ReduceLROnPlateau and 'best' follow."""

    metric: str
    mode: Literal["min", "max"]

    def better(self, value: float, best: Optional[float]) -> bool:
        if math.isnan(value):
            return False
        if best is None or math.isnan(best):
            return True
        return value < best if self.mode == "min" else value > best


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(cfg: BaseConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def make_lr_schedule(cfg: BaseConfig, optimizer: torch.optim.Optimizer, mode: Literal["min", "max"]) -> Any:
    """Stepped once per epoch. Warmup is linear over ``warmup_epochs`` for every schedule;
    then cosine or linear decay towards 0 at the last epoch, or a constant rate."""
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
    warm = cfg.warmup_epochs

    def factor(epoch: int) -> float:  # epoch counts finished epochs, from 0
        if warm and epoch < warm:
            return (epoch + 1) / (warm + 1)
        span = max(1, cfg.epochs - warm)
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - warm) / span)))
        if cfg.lr_schedule == "linear":
            return max(0.0, 1 - (epoch - warm) / span)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class NonFiniteLoss(ArithmeticError):
    """Raised by ``backward_step``; the engine turns it into TrialDiverged with context."""


def backward_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: Any, clip: float) -> float:
    """One optimizer update: finiteness check, backward, optional norm clipping, step.
    The engine uses it for ordinary tasks; tasks with several optimizers call it per update."""
    value = loss.item()  # one read of the loss (one device sync) serves the check and the report
    if not math.isfinite(value):
        raise NonFiniteLoss(value)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return value


def accumulated_step(
    optimizer: torch.optim.Optimizer,
    micro_losses: Sequence[Callable[[], torch.Tensor]],
    params: Any,
    clip: float,
    no_sync: Optional[Callable[[], Any]] = None,
) -> float:
    """One optimizer update from several micro-batches (gradient accumulation), for tasks
    whose batch does not fit at once. Each callable runs one micro-batch's forward pass
    and returns its loss already scaled by its share of the batch; it is backpropagated
    before the next one runs, so one micro-batch's activations are alive at a time. Under
    DDP, ``no_sync`` (the wrapped model's) skips the all-reduce on all but the last one.
    Returns the batch's loss (the sum)."""
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for i, micro_loss in enumerate(micro_losses):
        last = i == len(micro_losses) - 1
        with no_sync() if no_sync is not None and not last else contextlib.nullcontext():
            loss = micro_loss()
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLoss(value)
            loss.backward()
        total += value
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return total


def fit(
    task_factory: Callable[[BaseConfig, Any, Session], Task],
    cfg: BaseConfig,
    data: Any,
    session: Session,
    monitor: Monitor,
    until: Optional[int] = None,
) -> dict[str, Any]:
    """Train ``cfg`` to its last epoch (or early stop, or epoch ``until``: the epoch a sweep
    chose, reproduced with the same schedules as the full budget); returns the row of the
    best epoch (its test metrics come from that epoch's weights).

    A task either returns a loss from ``training_step`` (the engine updates one optimizer
    built from the config) or, like a GAN, owns several: ``configure_optimizers(model)``
    gives them by name and ``manual_step(model, batch, optimizers)`` updates them through
    ``backward_step`` and returns its losses by name. Either way the engine schedules,
    checkpoints, restores and reports all of them.
    """
    seed_everything(cfg.seed + session.rank)
    device = session.device()
    task = task_factory(cfg, data, session)
    model = task.build_model().to(device)
    model = session.prepare_model(model)
    stepper = task if _steps_itself(task) else None  # a ManualStepTask
    if stepper is not None:
        optimizers = stepper.configure_optimizers(model)
    else:
        groups = task.param_groups(model) if hasattr(task, "param_groups") else model.parameters()
        optimizers = {"": make_optimizer(cfg, groups)}
    # the learning rates this config asks for, before any schedule scales them
    base_lrs = {k: [g["lr"] for g in o.param_groups] for k, o in optimizers.items()}
    schedules = {k: make_lr_schedule(cfg, o, monitor.mode) for k, o in optimizers.items()}
    use_amp = cfg.amp and device.type == "cuda"
    # a disabled torch.autocast still costs ~20 us a step to enter and leave; small models feel it
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    start, best, stale = 1, None, 0
    restored = _restore(session.checkpoint_dir(), model, optimizers, schedules, base_lrs)
    if restored:
        start, best, stale = restored["epoch"] + 1, restored["best"], restored["stale"]

    row: dict[str, Any] = {}
    best_row: dict[str, Any] = restored.get("best_row", {}) if restored else {}
    last_epoch = cfg.epochs if until is None else min(until, cfg.epochs)
    for epoch in range(start, last_epoch + 1):
        t0 = time.perf_counter()
        model.train()
        if hasattr(task, "on_epoch_start"):
            task.on_epoch_start(epoch)
        totals: dict[str, float] = {}
        steps = 0
        for batch in task.train_batches(epoch):
            try:
                with autocast():
                    if stepper is not None:
                        losses = stepper.manual_step(model, batch, optimizers)
                    else:
                        loss = cast(LossTask, task).training_step(model, batch)
                if stepper is None:
                    losses = {"loss": backward_step(optimizers[""], loss, model.parameters(), cfg.clip_grad_norm)}
            except NonFiniteLoss as e:
                lrs = {f"lr{'_' + k if k else ''}": o.param_groups[0]["lr"] for k, o in optimizers.items()}
                failure = schema.diverged(e.args[0], epoch, steps + 1, lrs)
                raise TrialDiverged(f"{schema.failure_text(failure)}; trial stopped", failure) from None
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            steps += 1
        train_seconds = time.perf_counter() - t0

        model.eval()
        with torch.no_grad():
            metrics = task.evaluate(model, "val")
        predictions = metrics.pop("predictions", None)
        value = float(metrics[monitor.metric])
        improved = monitor.better(value, best)
        if improved:
            best, stale = value, 0
            with torch.no_grad():  # the held-out split, on the weights this figure comes from
                test = task.evaluate(model, "test")
            test.pop("predictions", None)
            metrics.update(test)
            if predictions is not None:
                metrics[PREDICTIONS] = json.dumps(predictions)
        else:
            stale += 1
        for schedule in schedules.values():
            if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                schedule.step(value)
            else:
                schedule.step()
        stop_early = cfg.early_stop_patience > 0 and stale >= cfg.early_stop_patience

        row = {
            schema.EPOCH: epoch,
            IS_BEST: improved,
            **{f"train_{k}": v / max(1, steps) for k, v in totals.items()},
            **metrics,
            **{f"lr{'_' + k if k else ''}": o.param_groups[0]["lr"] for k, o in optimizers.items()},
            "epoch_seconds": time.perf_counter() - t0,
            "train_seconds": train_seconds,
            schema.EARLY_STOPPED: stop_early,
            "device": str(device),
        }
        if improved or not best_row:
            best_row = {k: v for k, v in row.items() if k != PREDICTIONS}
        state = {"epoch": epoch, "best": best, "stale": stale, "base_lrs": base_lrs, "best_row": best_row}
        _report_with_checkpoint(session, row, model, optimizers, schedules, state)
        if stop_early:
            break
    return best_row


def _unwrap(model: nn.Module) -> nn.Module:
    return cast(nn.Module, getattr(model, "module", model))  # DistributedDataParallel wraps it in .module


def _report_with_checkpoint(session, row, model, optimizers, schedules, state) -> None:
    if session.rank != 0:
        session.report(row, None)
        return
    with tempfile.TemporaryDirectory(prefix="sweeplab-ckpt-") as tmp:
        torch.save(
            {
                **state,
                "model": _unwrap(model).state_dict(),
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "schedules": {k: s.state_dict() for k, s in schedules.items()},
                "rng": {
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),
                    "python": random.getstate(),
                },
            },
            os.path.join(tmp, STATE_FILE),
        )
        session.report(row, tmp)


def _restore(ckpt_dir: Optional[str], model, optimizers, schedules, base_lrs) -> Optional[dict]:
    if not ckpt_dir:
        return None
    state = torch.load(Path(ckpt_dir) / STATE_FILE, map_location="cpu", weights_only=False)
    _unwrap(model).load_state_dict(state["model"])
    for k, optimizer in optimizers.items():
        # the checkpoint brings its hyperparameters (weight decay, betas ...); this config's win
        wanted = [
            {h: v for h, v in g.items() if h not in ("params", "lr", "initial_lr")} for g in optimizer.param_groups
        ]
        optimizer.load_state_dict(state["optimizers"][k])
        for group, hyper in zip(optimizer.param_groups, wanted):
            group.update(hyper)
        schedule = schedules[k]
        schedule.load_state_dict(state["schedules"][k])
        if isinstance(schedule, torch.optim.lr_scheduler.LambdaLR):
            # a function of the epoch: recompute it under this config (PBT may have changed
            # lr, and a longer run changes the cosine's span)
            schedule.base_lrs = list(base_lrs[k])
            for group, base, f in zip(optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas):
                group["initial_lr"], group["lr"] = base, base * f(schedule.last_epoch)
        else:  # ReduceLROnPlateau: its cuts so far are the state; move them to this config's level
            for group, new, old in zip(optimizer.param_groups, base_lrs[k], state["base_lrs"][k]):
                group["lr"] *= new / old
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state
