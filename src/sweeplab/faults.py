"""Fault injection for the reliability tests: crash, diverge or kill a sweep on purpose.

``SWEEPLAB_FAULTS`` (read by the driver when a sweep starts; a resumed sweep reads it
afresh) holds comma-separated faults:

  ``raise@E[:P]``      a trial raises ``InjectedFault`` on reaching epoch E, with probability
                       P (default 1), in its first attempt only: restarted from its checkpoint
                       it passes, as after a lost node or a preempted GPU. (At epoch 1 there is
                       no checkpoint yet, so every attempt fails.)
  ``nan@E[:P]``        the trial's loss becomes NaN at epoch E, on every attempt (a config that
                       diverges diverges again).
  ``kill@POINT[:N]``   SIGKILL the driver and the Ray it started, as in a crash:
                       ``trial-start`` at the Nth trial start, ``checkpoint`` while the Nth
                       trial checkpoint is registered, ``experiment-state`` inside the first
                       experiment-state save Tune makes after the Nth trial checkpoint,
                       ``near-end`` when all but N trials have finished, ``mid-epoch`` halfway
                       through epoch N of the first trial there.

Which trials a probability picks is a draw seeded by the trial's config, so the same sweep
fails the same trials every time. Nothing here runs unless the variable is set.
"""

from __future__ import annotations

import json
import os
import random
import signal
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import UserError

ENV = "SWEEPLAB_FAULTS"  # read by settings.py
KILL_POINTS = ("trial-start", "mid-epoch", "checkpoint", "experiment-state", "near-end")
DRIVER_POINTS = ("trial-start", "checkpoint", "experiment-state", "near-end")


class InjectedFault(RuntimeError):
    """The crash a ``raise@`` fault asked for."""


@dataclass(frozen=True)
class Fault:
    kind: str  # raise | nan | kill
    at: int  # epoch, or N for a kill point
    probability: float = 1.0
    point: Optional[str] = None  # kill only


def parse(text: Optional[str]) -> tuple[Fault, ...]:
    """``raise@3:0.2,kill@near-end:1`` -> faults; a malformed spec is one clear line."""
    faults = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        kind, _, rest = item.partition("@")
        parts = rest.split(":")
        try:
            if kind in ("raise", "nan") and 1 <= len(parts) <= 2:
                p = float(parts[1]) if len(parts) == 2 else 1.0
                if int(parts[0]) < 1 or not 0 <= p <= 1:
                    raise ValueError
                faults.append(Fault(kind, int(parts[0]), p))
                continue
            if kind == "kill" and parts[0] in KILL_POINTS and len(parts) <= 2:
                faults.append(Fault(kind, int(parts[1]) if len(parts) == 2 else 1, point=parts[0]))
                continue
        except ValueError:
            pass
        raise UserError(
            f"{ENV}: '{item}': expected raise@EPOCH[:P], nan@EPOCH[:P] (EPOCH >= 1, 0 <= P <= 1) "
            f"or kill@POINT[:N] with POINT one of {', '.join(KILL_POINTS)}"
        )
    return tuple(faults)


def from_env() -> str:
    """The faults of a sweep starting now, checked; '' when none. A kill takes the driver's
    whole process group, so the driver must lead one of its own (started with setsid)."""
    from . import settings

    text = settings.get().faults
    faults = parse(text)
    if any(f.kind == "kill" for f in faults) and os.getpgrp() != os.getpid():
        raise UserError(
            f"{ENV}: a kill@ fault takes the driver's process group with it; start the sweep "
            "in a group of its own (setsid, or start_new_session=True)"
        )
    return text


def kill_sweep(pgid: Optional[int] = None) -> None:
    """SIGKILL the driver's process group: the driver and the Ray processes it started."""
    os.killpg(pgid if pgid is not None else os.getpgrp(), signal.SIGKILL)


def _drawn(fault: Fault, config: dict[str, Any]) -> bool:
    if fault.probability >= 1:
        return True
    key = json.dumps([fault.kind, fault.at, config], sort_keys=True, default=str)
    return random.Random(zlib.crc32(key.encode())).random() < fault.probability


# ---------------------------------------------------------------- in the trial


def wrap_task(task_factory: Callable, spec: str, driver_pgid: Optional[int]) -> Callable:
    """The task factory with this trial's faults woven into its epochs and losses."""
    faults = [f for f in parse(spec) if f.kind in ("raise", "nan") or f.point == "mid-epoch"]
    if not faults:
        return task_factory

    def factory(cfg, data, session):
        chosen = [f for f in faults if f.kind == "kill" or _drawn(f, cfg.to_dict())]
        if any(f.kind == "raise" for f in chosen) and session.checkpoint_dir() is not None:
            chosen = [f for f in chosen if f.kind != "raise"]  # a restarted trial: the crash was transient
        return _FaultyTask(task_factory(cfg, data, session), chosen, driver_pgid)

    return factory


class _FaultyTask:
    """Delegates to the real task; fails where its faults say."""

    def __init__(self, task: Any, faults: list[Fault], driver_pgid: Optional[int]):
        self._task, self._faults, self._pgid = task, faults, driver_pgid
        self._epoch = 0

    def __getattr__(self, name: str) -> Any:  # hasattr(task, "configure_optimizers") still answers
        return getattr(self._task, name)

    def _has(self, kind: str) -> Optional[Fault]:
        return next((f for f in self._faults if f.kind == kind and f.at == self._epoch), None)

    def train_batches(self, epoch: int):
        self._epoch = epoch
        if self._has("raise"):
            raise InjectedFault(f"injected fault: trial crashed at epoch {epoch} ({ENV})")
        if not self._has("kill"):
            yield from self._task.train_batches(epoch)
            return
        batches = list(self._task.train_batches(epoch))
        for i, batch in enumerate(batches):
            if i == len(batches) // 2:
                kill_sweep(self._pgid)
            yield batch

    def training_step(self, model, batch):
        loss = self._task.training_step(model, batch)
        return loss * float("nan") if self._has("nan") else loss

    def manual_step(self, model, batch, optimizers):
        if self._has("nan"):
            from .engine import NonFiniteLoss

            raise NonFiniteLoss(float("nan"))
        return self._task.manual_step(model, batch, optimizers)


# ---------------------------------------------------------------- in the driver


def driver_kills(spec: str) -> dict[str, int]:
    """The driver-side kill points ``spec`` asks for, and at which occurrence (recording.KillCallback)."""
    return {f.point: f.at for f in parse(spec) if f.kind == "kill" and f.point in DRIVER_POINTS}
