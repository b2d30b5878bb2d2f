"""The one training loop. Every model runs through ``fit``; a model only supplies a Task.

A Task (see ``trainables/``) gives the engine:
  ``build_model() -> nn.Module``
  ``train_batches(epoch) -> iterable`` of batches for one epoch
  ``training_step(model, batch) -> scalar loss tensor``
  ``evaluate(model, split) -> dict`` of metrics for "val" or "test" (no grad, eval mode)
  optional ``on_epoch_start(epoch)`` and ``param_groups(model)``.
The engine owns everything else: devices and threads, optimizer, LR schedule, clipping,
autocast, non-finite-loss detection, early stopping, checkpoints and their restore, and
reporting through a Session (Tune trial, Train worker, or a plain local run).
"""
from __future__ import annotations

import abc
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol

import numpy as np
import torch
from torch import nn

from .config import BaseConfig
from .errors import TrialDiverged

STATE_FILE = "state.pt"


class Task(Protocol):
    def build_model(self) -> nn.Module: ...
    def train_batches(self, epoch: int) -> Iterable[Any]: ...
    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor: ...
    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]: ...


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

    @abc.abstractmethod
    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        """Send one epoch's row (and, on rank 0, a checkpoint folder) to wherever it goes."""


@dataclass
class Monitor:
    """The metric that early stopping, ReduceLROnPlateau and 'best' follow."""

    metric: str
    mode: str

    def better(self, value: float, best: Optional[float]) -> bool:
        if best is None:
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


def make_lr_schedule(cfg: BaseConfig, optimizer: torch.optim.Optimizer, mode: str) -> Any:
    """Stepped once per epoch. Warmup is linear over ``warmup_epochs`` for every schedule."""
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
    warm = cfg.warmup_epochs

    def factor(epoch: int) -> float:  # epoch counts finished epochs, from 0
        if warm and epoch < warm:
            return (epoch + 1) / (warm + 1)
        if cfg.lr_schedule == "cosine":
            span = max(1, cfg.epochs - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - warm) / span)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(
    task_factory: Callable[[BaseConfig, Any, Session], Task],
    cfg: BaseConfig,
    data: Any,
    session: Session,
    monitor: Monitor,
) -> dict[str, Any]:
    """Train ``cfg`` to its last epoch (or early stop); returns the last reported row."""
    seed_everything(cfg.seed + session.rank)
    device = session.device()
    task = task_factory(cfg, data, session)
    model = task.build_model().to(device)
    model = session.prepare_model(model)
    groups = task.param_groups(model) if hasattr(task, "param_groups") else model.parameters()
    optimizer = make_optimizer(cfg, groups)
    schedule = make_lr_schedule(cfg, optimizer, monitor.mode)
    use_amp = cfg.amp and device.type == "cuda"

    start, best, stale = 1, None, 0
    restored = _restore(session.checkpoint_dir(), model, optimizer, schedule, cfg.lr)
    if restored:
        start, best, stale = restored["epoch"] + 1, restored["best"], restored["stale"]

    row: dict[str, Any] = {}
    for epoch in range(start, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        if hasattr(task, "on_epoch_start"):
            task.on_epoch_start(epoch)
        total, steps = 0.0, 0
        for batch in task.train_batches(epoch):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = task.training_step(model, batch)
            if not torch.isfinite(loss):
                raise TrialDiverged(
                    f"loss became {loss.item()} at epoch {epoch}, step {steps + 1} "
                    f"(lr={optimizer.param_groups[0]['lr']:.3g}); trial stopped"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            optimizer.step()
            total += loss.item()
            steps += 1
        train_seconds = time.perf_counter() - t0

        model.eval()
        with torch.no_grad():
            metrics = task.evaluate(model, "val")
        value = float(metrics[monitor.metric])
        if monitor.better(value, best):
            best, stale = value, 0
        else:
            stale += 1
        if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            schedule.step(value)
        else:
            schedule.step()
        stop_early = cfg.early_stop_patience > 0 and stale >= cfg.early_stop_patience
        last = stop_early or epoch == cfg.epochs
        if last:
            with torch.no_grad():
                metrics.update(task.evaluate(model, "test"))

        row = {
            "epoch": epoch,
            "train_loss": total / max(1, steps),
            **metrics,
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": time.perf_counter() - t0,
            "train_seconds": train_seconds,
            "early_stopped": stop_early,
            "device": str(device),
        }
        state = {"epoch": epoch, "best": best, "stale": stale, "base_lr": cfg.lr}
        _report_with_checkpoint(session, row, model, optimizer, schedule, state)
        if stop_early:
            break
    return row


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def _report_with_checkpoint(session, row, model, optimizer, schedule, state) -> None:
    if session.rank != 0:
        session.report(row, None)
        return
    with tempfile.TemporaryDirectory(prefix="sweeplab-ckpt-") as tmp:
        torch.save(
            {
                **state,
                "model": _unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),
                    "python": random.getstate(),
                },
            },
            os.path.join(tmp, STATE_FILE),
        )
        session.report(row, tmp)


def _restore(ckpt_dir: Optional[str], model, optimizer, schedule, lr: float) -> Optional[dict]:
    if not ckpt_dir:
        return None
    state = torch.load(Path(ckpt_dir) / STATE_FILE, map_location="cpu", weights_only=False)
    _unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    ratio = lr / state["base_lr"]
    if ratio != 1.0:  # PBT changed lr: keep the schedule's shape, move its level
        for group in optimizer.param_groups:
            group["lr"] *= ratio
        if hasattr(schedule, "base_lrs"):
            schedule.base_lrs = [b * ratio for b in schedule.base_lrs]
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state
