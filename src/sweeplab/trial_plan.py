"""What every trial of a sweep runs, decided before Ray starts: a registry experiment's
``TrialPlan`` (picklable, small), the trials a resumed sweep finished, and a user's
``--trainable`` loaded from its file or module. Imports no torch (runner.py, which runs
trials, does)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from .errors import UserError

if TYPE_CHECKING:
    from .engine import Monitor


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of a sweep shares besides its config (picklable, small)."""

    module: str  # dotted path of the trainable module (its TRAINABLE)
    metric: str
    mode: Literal["min", "max"]
    cpus: float = 1.0
    gpus: float = 0.0
    workers: int = 1
    train_storage: Optional[str] = None  # where TorchTrainer runs keep their state
    faults: str = ""  # fault injection for the reliability tests (faults.py); "" in real sweeps
    driver_pgid: Optional[int] = None  # what a trial-side kill fault kills

    @property
    def monitor(self) -> "Monitor":
        from .engine import Monitor  # torch: only where a trial runs

        return Monitor(self.metric, self.mode)


def trial_resources(plan: TrialPlan) -> dict[str, float]:
    """What Tune reserves for one trial. A TorchTrainer trial only drives its workers
    (which Train places itself), so it takes a sliver of a CPU."""
    if plan.workers > 1:
        return {"cpu": 0.1}
    return {"cpu": plan.cpus, "gpu": plan.gpus}


def absolute_trainable(spec: str) -> str:
    """``path/to/file.py:function`` with the path made absolute (what sweep.json keeps, so a
    resume from another folder finds it); ``module:function`` as it is."""
    target, sep, name = spec.rpartition(":")
    if target and (target.endswith(".py") or os.sep in target):
        return f"{Path(target).expanduser().resolve()}{sep}{name}"
    return spec


def load_user_trainable(spec: str) -> Callable:
    """``path/to/file.py:function`` or ``package.module:function``."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise UserError(f"--trainable '{spec}': expected path/to/file.py:function or module:function")
    if target.endswith(".py") or os.sep in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise UserError(f"--trainable '{spec}': no such file {path}")
        mod_name = f"sweeplab_user_{path.stem}"
        spec_obj = importlib.util.spec_from_file_location(mod_name, path)
        if spec_obj is None or spec_obj.loader is None:  # a file Python cannot import (not .py)
            raise UserError(f"--trainable '{spec}': {path} is not a Python file (expected path/to/file.py)")
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[mod_name] = module
        try:
            spec_obj.loader.exec_module(module)
        except Exception as e:  # the user's file itself is broken: say where, in one line
            raise UserError(f"--trainable '{spec}': {path} failed to import: {type(e).__name__}: {e}") from None
        import ray.cloudpickle

        ray.cloudpickle.register_pickle_by_value(module)  # workers cannot import it by name
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise UserError(f"--trainable '{spec}': cannot import {target}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"--trainable '{spec}': {target} has no function '{name}'")
    return fn


# on resume: the trials the store saw complete (id, final metric, config as stored), which
# Tune's saved state may predate
Finished = tuple[tuple[str, float, tuple[tuple[str, Any], ...]], ...]
