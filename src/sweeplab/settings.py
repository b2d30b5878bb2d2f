"""sweeplab's own environment variables, read in one place: once when a command starts
(``cli.main`` calls ``load``), and once in any other process that asks first (a trial's
worker inherits the driver's environment). Leaf modules ask ``get()``, never os.environ.

  SWEEPLAB_DASHBOARD_PORT  the port `tune --dashboard` serves sweeplab's dashboard on (0: any free one)
  SWEEPLAB_MIN_FREE_MB     the free space a sweep's storage must have to start (MiB)
  SWEEPLAB_CACHE           where decoded data sets are cached (default ~/.cache/sweeplab)
  SWEEPLAB_FAULTS          fault injection for the reliability tests (faults.py)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from .errors import UserError

DASHBOARD_PORT, MIN_FREE_MB, CACHE, FAULTS = (
    "SWEEPLAB_DASHBOARD_PORT",
    "SWEEPLAB_MIN_FREE_MB",
    "SWEEPLAB_CACHE",
    "SWEEPLAB_FAULTS",
)


@dataclass(frozen=True)
class Settings:
    dashboard_port: int = 8266
    min_free_mb: float = 100.0  # results, Ray's state, checkpoints
    cache_dir: Path = Path("~/.cache/sweeplab")
    faults: str = ""


def read(env: Mapping[str, str]) -> Settings:
    """The settings ``env`` gives; a value that is not one is one line naming the variable."""
    default = Settings()
    port, floor = env.get(DASHBOARD_PORT, "").strip(), env.get(MIN_FREE_MB, "").strip()
    if port and (not port.isdigit() or int(port) > 65535):
        raise UserError(f"{DASHBOARD_PORT}={port!r}: expected a port number, 0 to 65535 (0: any free port)")
    try:
        min_free = float(floor) if floor else default.min_free_mb
    except ValueError:
        min_free = math.nan
    if not math.isfinite(min_free) or min_free < 0:
        raise UserError(f"{MIN_FREE_MB}={floor!r}: expected a number of MiB >= 0")
    return Settings(
        dashboard_port=int(port) if port else default.dashboard_port,
        min_free_mb=min_free,
        cache_dir=Path(env.get(CACHE) or default.cache_dir).expanduser(),
        faults=env.get(FAULTS, ""),
    )


_current: Optional[Settings] = None


def load() -> Settings:
    """Read the environment now (a command starting); what ``get`` answers from then on."""
    global _current
    _current = read(os.environ)
    return _current


def get() -> Settings:
    return _current if _current is not None else load()
