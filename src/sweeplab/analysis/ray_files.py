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
        result = os.path.join(entry.path, "result.json")
        if entry.is_dir() and os.path.exists(result):
            if not os.path.isfile(result):
                raise store.CorruptStore(result, "is not a file")
            yield entry.path


def read(uri: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials and history from Ray's per-trial ``params.json`` / ``result.json`` lines."""
    trials, rows = [], []
    for folder in trial_dirs(uri):
        params = _read_json(os.path.join(folder, "params.json"), {})
        results = _results(os.path.join(folder, "result.json"))
        trial_id = (results[0].get("trial_id") if results else None) or os.path.basename(folder)
        for r in results:
            rows.append(
                {TRIAL_ID: trial_id, **{k: store.scalar(v) for k, v in r.items() if k not in schema.TUNE_BOOKKEEPING}}
            )
        error_file = os.path.join(folder, "error.txt")
        error = None
        if os.path.exists(error_file):
            with open(error_file, encoding="utf-8", errors="replace") as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            error = lines[-1][:2000] if lines else "unknown error"
        last = rows[-1] if results else {}
        trials.append(
            {
                TRIAL_ID: trial_id,
                STATUS: Status.ERROR if error else Status.TERMINATED,
                schema.PRESET: None,
                schema.ERROR: error,
                **{config_column(k): store.scalar(v) for k, v in params.items()},
                **{k: v for k, v in last.items() if k != TRIAL_ID},
                schema.ITERATIONS: int(last.get(schema.ITERATION, 0) or 0),
                schema.WALL_TIME: float(last.get(schema.TIME_TOTAL, 0.0) or 0.0),
            }
        )
    return pd.DataFrame(trials), pd.DataFrame(rows)


def _results(path: str) -> list[dict[str, Any]]:
    """result.json's lines, each a JSON object; a last line cut short (a killed process) is
    skipped, any other line that is not an object is one error naming the file and line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    out = []
    for i, (n, line) in enumerate(lines):
        try:
            result = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                continue
            raise store.CorruptStore(path, f"line {n}: not JSON ({e.msg})") from None
        if not isinstance(result, dict):
            raise store.CorruptStore(path, f"line {n}: holds {type(result).__name__}, not a result (a JSON object)")
        out.append(result)
    return out


def _read_json(path: str, default: Any) -> Any:
    """A trial's params.json: its config, a JSON object (``default`` where there is none)."""
    if not os.path.exists(path):
        return default
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise store.CorruptStore(path, f"not JSON ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise store.CorruptStore(path, f"holds {type(value).__name__}, not the trial's config (a JSON object)")
    return value
