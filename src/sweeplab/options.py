"""What the user asked for (``SweepOptions``: the CLI's flags) and the scheduler a sweep
runs (``SchedulerSpec``): plain typed values that plan.py resolves, sweep.json records
(record.py) and resume reads back; and the names of the schedulers and searchers (the
CLI's choices, what space files may name). Imports neither Ray nor torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .search.rungs import default_grace

DEFAULT_STORAGE = "./sweeps"


@dataclass(frozen=True)
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
    sets: tuple[str, ...] = ()
    address: Optional[str] = None
    num_cpus: Optional[int] = None  # local Ray only
    verbose: int = 1  # 0 quiet, 1 sweeplab's progress display, 2 Ray's tables and the trials' own output
    dashboard: bool = False  # local Ray with its dashboard, and sweeplab's, on 127.0.0.1
    wandb: bool = False  # log every trial to W&B (offline unless WANDB_API_KEY is set)
    max_failures: int = 0  # restarts of a failed trial from its last checkpoint
    epoch_budget: Optional[int] = None  # the sweep stops once its trials have reported this many epochs in all
    warm_start: tuple[str, ...] = ()  # earlier sweeps the searcher learns from (search/warm.py)

    def __post_init__(self) -> None:
        for key in ("sets", "warm_start"):  # a list from argparse or sweep.json
            object.__setattr__(self, key, tuple(getattr(self, key)))


SCHEDULERS = ("promotion", "asha", "hyperband", "pbt", "median", "fifo")
# rung_tpe: TPE per rung (sweeplab's default); optuna: Ray's OptunaSearch (TPE on whatever a
# trial last reported)
# nsga2: Optuna's NSGA-II (a genetic algorithm, for several objectives as for one)
SEARCHERS = ("rung_tpe", "optuna", "nsga2", "random", "grid")
LEARNING_SEARCHERS = ("rung_tpe", "optuna", "nsga2")  # PBT explores by mutation; these get random start points there
RUNG_SCHEDULERS = ("promotion", "asha", "hyperband", "median")  # they cut or pause trials part-way
MO_SCHEDULERS = ("promotion", "fifo")  # those that rank by several objectives (MO-ASHA), or by none

# the options each scheduler takes besides its name (spaces.py validates a space file's
# ``scheduler:`` against it; the union is SchedulerSpec's fields)
SCHEDULER_KEYS: dict[str, frozenset[str]] = {
    # promotion: asynchronous successive halving that pauses below the cutoff and promotes
    # later (sweeplab's default); asha: Ray's, which stops for good
    "promotion": frozenset({"grace_period", "reduction_factor", "max_t"}),
    "asha": frozenset({"grace_period", "reduction_factor", "brackets", "max_t"}),
    "hyperband": frozenset({"reduction_factor", "max_t"}),
    "pbt": frozenset({"perturbation_interval", "quantile_fraction", "resample_probability"}),
    "median": frozenset({"grace_period", "min_samples_required"}),
    "fifo": frozenset(),
}


@dataclass(frozen=True)
class SchedulerSpec:
    """A scheduler by name (search/factories.py) and the settings its space file gave it;
    None: the scheduler's default."""

    name: str
    grace_period: Optional[int] = None
    reduction_factor: Optional[float] = None
    max_t: Optional[int] = None
    brackets: Optional[int] = None
    perturbation_interval: Optional[float] = None
    quantile_fraction: Optional[float] = None
    resample_probability: Optional[float] = None
    min_samples_required: Optional[int] = None

    @property
    def options(self) -> dict[str, Any]:
        """The settings given, by name (what the scheduler's constructor takes)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "name" and getattr(self, f.name) is not None
        }

    def as_dict(self) -> dict[str, Any]:
        """As a space file writes it (and sweep.json stores it): ``{name, **options}``."""
        return {"name": self.name, **self.options}

    @classmethod
    def from_dict(cls, conf: Mapping[str, Any]) -> "SchedulerSpec":
        """From a validated space file's ``scheduler:``, or sweep.json; a setting this version
        does not know (a newer sweeplab's) is left out."""
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        return cls(str(conf["name"]), **{k: v for k, v in conf.items() if k in known and v is not None})

    def rungs(self, max_t: int) -> tuple[int, float]:
        """(grace period, reduction factor) of a successive-halving scheduler; the grace period
        defaults to three rungs below the trial's max_t (``search.rungs.default_grace``)."""
        eta = float(self.reduction_factor or 3)
        return min(int(self.grace_period or default_grace(max_t, eta)), max_t), eta
