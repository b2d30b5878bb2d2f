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

DASHBOARD_PORT, MIN_FREE_MB, CACHE, FAULTS = ("SWEEPLAB_DASHBOARD_PORT", "SWEEPLAB_MIN_FREE_MB", "SWEEPLAB_CACHE",
                                              "SWEEPLAB_FAULTS")


@dataclass(frozen=True)
class Settings:
    dashboard_port: int = 8266
    min_free_mb: float = 100.0  # results, Ray's state, checkpoints
    cache_dir: Path = Path("~/.cache/sweeplab")
    faults: str = ""


def read(env: Mapping[str, str]) -> Settings:
    """The settings ``env`` gives; a value that is not one is one line naming the variable."""
    port, floor = env.get(DASHBOARD_PORT, "").strip(), env.get(MIN_FREE_MB, "").strip()
    out = Settings()
    if port:
        if not port.isdigit() or int(port) > 65535:
            raise UserError(f"{DASHBOARD_PORT}={port!r}: expected a port number, 0 to 65535 (0: any free port)")
        out = _with(out, dashboard_port=int(port))
    if floor:
        try:
            value = float(floor)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise UserError(f"{MIN_FREE_MB}={floor!r}: expected a number of MiB >= 0")
        out = _with(out, min_free_mb=value)
    if env.get(CACHE):
        out = _with(out, cache_dir=Path(env[CACHE]))
    return _with(out, cache_dir=out.cache_dir.expanduser(), faults=env.get(FAULTS, ""))


def _with(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


_current: Optional[Settings] = None


def load() -> Settings:
    """Read the environment now (a command starting); what ``get`` answers from then on."""
    global _current
    _current = read(os.environ)
    return _current


def get() -> Settings:
    return _current if _current is not None else load()
