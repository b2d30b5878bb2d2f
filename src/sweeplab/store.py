"""The results store: what analysis and the dashboard read, written while a sweep runs.

Beside Ray's own files each sweep folder holds
  ``sweep.json``       experiment, the space file's text, scheduler, searcher, seed, versions
  ``trials.parquet``   one row per trial: id, status, preset, config/*, last metrics,
                       best of the sweep metric, iterations, wall time, error text
  ``history.parquet``  every reported row of every trial
This module imports no Ray: the Tune callback that feeds it lives in ``tuning.py``.
Paths may be local or any URI pyarrow understands (s3://, gs://, ...).
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import time
from typing import Any, Optional

import pandas as pd
import pyarrow.fs as pafs

SWEEP_JSON, TRIALS, HISTORY = "sweep.json", "trials.parquet", "history.parquet"
# Tune's bookkeeping fields that say nothing about the model
_DROP = {
    "config", "done", "trial_id", "date", "pid", "checkpoint_dir_name",
    "should_checkpoint", "time_since_restore", "iterations_since_restore", "timesteps_total",
    "episodes_total", "timesteps_since_restore", "experiment_tag",
}


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


# Environment variables whose values are secrets (W&B key, cloud keys, tokens): their values
# are masked in everything the store writes.
SECRET_NAME = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_|$)", re.IGNORECASE)


def redact(obj: Any) -> Any:
    """``obj`` with every secret environment value (6+ characters) replaced by ***."""
    secrets = [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6]
    if not secrets:
        return obj

    def clean(x: Any) -> Any:
        if isinstance(x, str):
            for value in secrets:
                x = x.replace(value, "***")
            return x
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(clean(v) for v in x)
        return x

    return clean(obj)


def check_shared(storage: str, nodes: int) -> None:
    """Since Ray 2.7 every node writes its trials' results to the storage itself: on more
    than one node a folder of one machine would scatter them. A URI (s3://, gs://) reaches
    every node; so does a shared mount, which the user declares by writing it file:///..."""
    if nodes > 1 and "://" not in storage:
        from .errors import UserError

        raise UserError(
            f"--storage {storage}: a folder of this node, but the cluster has {nodes} nodes and Ray needs "
            "storage every node reaches: s3://bucket/sweeps, gs://bucket/sweeps, or a shared (NFS) "
            "mount written as file:///mnt/shared/sweeps")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def exists(uri: str) -> bool:
    fs, path = _fs(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def write_bytes(uri: str, data: bytes) -> None:
    fs, path = _fs(uri)
    fs.create_dir(os.path.dirname(path), recursive=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)  # readers never see half a file


def read_bytes(uri: str) -> bytes:
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_json(uri: str, obj: Any) -> None:
    write_bytes(uri, json.dumps(obj, indent=2, default=str).encode())


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri))


def write_frame(uri: str, frame: pd.DataFrame) -> None:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    write_bytes(uri, buf.getvalue())


def read_frame(uri: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(read_bytes(uri)))


def scalar(value: Any) -> Any:
    """Parquet-friendly: numbers and strings stay, everything else becomes JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    return json.dumps(value, default=str)


class SweepRecorder:
    """Accumulates trial rows and history in memory; rewrites the Parquet files at most
    every ``flush_every`` seconds and whenever a trial ends, so a killed sweep keeps them."""

    def __init__(self, sweep_uri: str, meta: dict[str, Any], metric: str, mode: str,
                 presets: Optional[dict[str, dict]] = None, flush_every: float = 5.0):
        self.uri, self.meta, self.metric, self.mode = sweep_uri, meta, metric, mode
        self.presets = presets or {}
        self.flush_every = flush_every
        self.trials: dict[str, dict[str, Any]] = {}
        self.history: dict[tuple[str, int], dict[str, Any]] = {}  # (trial, iteration) -> row
        self._dirty, self._last_flush = False, 0.0

    def open(self) -> None:
        """Write sweep.json; on a resumed sweep, pick up what was already stored.

        sweep.json is written once: Tune copies the top-level .json files of a folder it
        resumes and uploads them again later, so a rewrite would be undone anyway."""
        self.trials, self.history = {}, {}
        if exists(join(self.uri, TRIALS)):
            for row in read_frame(join(self.uri, TRIALS)).to_dict("records"):
                self.trials[row["trial_id"]] = row
        if exists(join(self.uri, HISTORY)):
            for row in read_frame(join(self.uri, HISTORY)).to_dict("records"):
                self.history[(row["trial_id"], int(row.get("training_iteration", 0)))] = row
        if not exists(join(self.uri, SWEEP_JSON)):
            write_json(join(self.uri, SWEEP_JSON), redact(self.meta))

    def preset_of(self, config: dict[str, Any]) -> Optional[str]:
        for name, values in self.presets.items():
            if all(_same(config.get(k), v) for k, v in values.items()):
                return name
        return None

    def started(self, trial_id: str, config: dict[str, Any]) -> None:
        row = self.trials.setdefault(trial_id, {"trial_id": trial_id, "iterations": 0, "wall_time_s": 0.0})
        row.update({"status": "RUNNING", "preset": self.preset_of(config), "error": None})
        row.update({f"config/{k}": scalar(v) for k, v in config.items()})
        self._dirty = True
        self.flush(force=True)

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        metrics = {k: scalar(v) for k, v in result.items() if k not in _DROP}
        it = int(result.get("training_iteration", 0))
        # a trial restored from a checkpoint reports its later iterations again: keep the newest
        self.history[(trial_id, it)] = {"trial_id": trial_id, **metrics}
        row = self.trials.setdefault(trial_id, {"trial_id": trial_id, "status": "RUNNING"})
        row.update(metrics)
        row["iterations"] = it
        row["wall_time_s"] = float(result.get("time_total_s", row.get("wall_time_s", 0.0)))
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            best = row.get(f"best/{self.metric}")
            if best is None or (value < best if self.mode == "min" else value > best):
                row[f"best/{self.metric}"] = float(value)
                row["best_iteration"] = it
        self._dirty = True
        self.flush()

    def ended(self, trial_id: str, status: str, error: Optional[str] = None) -> None:
        row = self.trials.setdefault(trial_id, {"trial_id": trial_id})
        row["status"] = status
        row["error"] = redact(error)
        self._dirty = True
        self.flush(force=True)

    def close(self, tune_status: dict[str, str]) -> None:
        """The sweep ended or was interrupted. Tune calls a trial cut off by Ctrl-C
        TERMINATED without completing it; it reruns on resume, so call it INTERRUPTED."""
        for trial_id, status in tune_status.items():
            row = self.trials.get(trial_id)
            if row is None or row.get("status") in ("TERMINATED", "ERROR"):
                continue
            row["status"] = "INTERRUPTED" if status in ("TERMINATED", "RUNNING") else status
            self._dirty = True
        self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        if not self._dirty or (not force and time.monotonic() - self._last_flush < self.flush_every):
            return
        write_frame(join(self.uri, TRIALS), pd.DataFrame(list(self.trials.values())))
        if self.history:
            write_frame(join(self.uri, HISTORY), pd.DataFrame(list(self.history.values())))
        self._dirty, self._last_flush = False, time.monotonic()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b
