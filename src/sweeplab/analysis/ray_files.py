"""A sweep run by plain Ray Tune, without sweeplab: its trials and history read from Ray's
per-trial folders (``params.json``, ``result.json`` lines, ``error.txt``), so that
``analyze`` and the other readers take a folder Ray wrote as they take sweeplab's store."""
from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from .. import schema, store
from ..schema import STATUS, TRIAL_ID, Status, config_column


def trial_dirs(path: str):
    """The trial folders of a plain Ray Tune experiment folder: those holding a result.json."""
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_dir() and os.path.exists(os.path.join(entry.path, "result.json")):
            yield entry.path


def read(uri: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials and history from Ray's per-trial ``params.json`` / ``result.json`` lines."""
    trials, rows = [], []
    for folder in trial_dirs(uri):
        params = _read_json(os.path.join(folder, "params.json"), {})
        results = []
        with open(os.path.join(folder, "result.json"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    try:
                        results.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line cut short by a killed process
        trial_id = (results[0].get("trial_id") if results else None) or os.path.basename(folder)
        for r in results:
            rows.append({TRIAL_ID: trial_id, **{k: store.scalar(v) for k, v in r.items()
                                                 if k not in schema.TUNE_BOOKKEEPING}})
        error_file = os.path.join(folder, "error.txt")
        error = None
        if os.path.exists(error_file):
            with open(error_file, encoding="utf-8", errors="replace") as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            error = lines[-1][:2000] if lines else "unknown error"
        last = rows[-1] if results else {}
        trials.append({
            TRIAL_ID: trial_id, STATUS: Status.ERROR if error else Status.TERMINATED, schema.PRESET: None,
            schema.ERROR: error, **{config_column(k): store.scalar(v) for k, v in params.items()},
            **{k: v for k, v in last.items() if k != TRIAL_ID},
            schema.ITERATIONS: int(last.get(schema.ITERATION, 0) or 0),
            schema.WALL_TIME: float(last.get(schema.TIME_TOTAL, 0.0) or 0.0),
        })
    return pd.DataFrame(trials), pd.DataFrame(rows)


def _read_json(path: str, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return default
