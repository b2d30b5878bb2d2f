"""Rules for sweep flags that need no imports: the CLI checks them before tuning's imports
(Ray, torch: seconds), and ``plan.prepare`` for every other caller (the API, resume).
Each rule is written so that NaN fails it (NaN fails every comparison)."""

from __future__ import annotations

import math
from typing import Any, Optional

from .config import SEED_LIMIT
from .errors import UserError

RULES = {
    "seed": (lambda v: 0 <= v < SEED_LIMIT, "in [0, 2**32)"),
    "cpus_per_trial": (lambda v: 0 < v < math.inf, "> 0 (CPUs a trial holds)"),
    "gpus_per_trial": (lambda v: 0 <= v < math.inf, ">= 0"),
    "time_budget": (lambda v: 0 < v < math.inf, "> 0 seconds"),
    # counts: at least one, and below what any run could use (a typo of many digits is refused here,
    # not later by whatever it overflows first)
    "max_epochs": (lambda v: 1 <= v <= 10**6, "in [1, 1000000] (epochs a trial may train)"),
    "num_samples": (lambda v: 1 <= v <= 10**7, "in [1, 10000000]"),
    "max_concurrent": (lambda v: 1 <= v <= 10**6, "in [1, 1000000]"),
    "num_cpus": (lambda v: 1 <= v <= 10**6, "in [1, 1000000]"),
    "epoch_budget": (lambda v: 1 <= v <= 10**9, "in [1, 1000000000] (epochs all trials report together)"),
}


def check(**values: Any) -> None:
    """Each of ``values`` (flag dest -> value, None for unset) against its rule."""
    for key, value in values.items():
        ok, need = RULES[key]
        if value is not None and not ok(value):
            shown = format(value, "g") if isinstance(value, float) else value
            raise UserError(f"--{key.replace('_', '-')} {shown}: must be {need}")


def check_name(name: Optional[str]) -> None:
    """A sweep name is one folder inside the storage, never a way out of it."""
    if name is None:
        return
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise UserError(f"--name {name!r}: a folder name, without '/', '\\' or NUL bytes, and not '.' or '..'")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UserError(f"--name {name!r}: no control characters (newlines, tabs, terminal escapes)")
    if len(name.encode()) > 200:
        raise UserError(f"--name {name[:20]!r}...: at most 200 bytes (a folder name; file systems stop at 255)")
