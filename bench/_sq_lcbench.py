"""The LCBench surrogate (YAHPO Gym's ONNX model, ../shared/benchmarks/lcbench) for the
search-quality bench: its search space, a learning-curve oracle per task, and each task's
normalising reference (best known and worst value).

Only the eight development tasks are named here; the surrogate holds others, which are
checked separately and must not steer any choice made with this bench.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEV_TASKS = ("7593", "34539", "126025", "146212", "167104", "168868", "189354", "189909")
METRIC, MODE = "val_accuracy", "max"
MAX_EPOCHS = 52
RESOURCE = "epoch"


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    integer: bool
    log: bool


# The surrogate's search space (config_space.json), in the order its `x_cont` input wants
# after the epoch column.
SPACE = (
    Param("batch_size", 16, 512, True, True),
    Param("learning_rate", 1e-4, 1e-1, False, True),
    Param("momentum", 0.1, 0.99, False, False),
    Param("weight_decay", 1e-5, 1e-1, False, False),
    Param("num_layers", 1, 5, True, False),
    Param("max_units", 64, 1024, True, True),
    Param("max_dropout", 0.0, 1.0, False, False),
)
NAMES = tuple(p.name for p in SPACE)

# Columns of the output: `time` (the real run's cumulative training seconds: the wall
# clock's epoch times) and val_accuracy.
_TIME, _VAL_ACCURACY = 0, 1


def to_unit(config: dict) -> np.ndarray:
    """A config as a point of [0, 1]^7 (log parameters on their log scale)."""
    out = []
    for p in SPACE:
        lo, hi, v = p.low, p.high, float(config[p.name])
        if p.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        out.append((v - lo) / (hi - lo))
    return np.clip(np.array(out), 0.0, 1.0)


def from_unit(u: np.ndarray) -> dict:
    """The config at a point of [0, 1]^7; integers rounded on their own scale."""
    config = {}
    for p, x in zip(SPACE, np.clip(u, 0.0, 1.0)):
        if p.log:
            v = math.exp(math.log(p.low) + float(x) * (math.log(p.high) - math.log(p.low)))
        else:
            v = p.low + float(x) * (p.high - p.low)
        config[p.name] = int(min(max(round(v), p.low), p.high)) if p.integer else min(max(v, p.low), p.high)
    return config


def sample(rng: np.random.Generator) -> dict:
    """One uniform draw of the space (log-uniform where the space is log-scaled)."""
    return from_unit(rng.random(len(SPACE)))


def _row(config: dict) -> list[float]:
    row = []
    for p in SPACE:
        v = float(config[p.name])
        if p.integer:
            v = float(round(v))
        row.append(min(max(v, p.low), p.high))
    return row


class LCBench:
    """One task's oracle: ``curve(config)`` is val_accuracy (%) after epochs 1..52 and
    ``seconds(config)`` what each of those epochs took, one surrogate call per config,
    cached (a resumed or repeated config costs nothing)."""

    def __init__(self, data: Path, task: str):
        import onnxruntime as ort

        data = Path(data)
        codes = json.loads((data / "encoding.json").read_text())["OpenML_task_id"]
        if task not in codes:
            raise KeyError(task)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # the bench shares 2 cores; batches are small
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(data / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self._in_cat, self._in_cont = (i.name for i in self.session.get_inputs())
        self.task, self.code = task, int(codes[task])
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # config -> (curve, epoch seconds)
        self.calls = 0

    def curves(
        self,
        configs: list[dict],
        epochs: tuple[int, ...] = tuple(range(1, MAX_EPOCHS + 1)),
        column: int | list[int] = _VAL_ACCURACY,
    ) -> np.ndarray:
        """val_accuracy (or another output ``column``) of each config at each of ``epochs``:
        shape (len(configs), len(epochs)), and a last axis for a list of columns."""
        rows = np.array([_row(c) for c in configs], dtype=np.float64)
        n, k = len(rows), len(epochs)
        x = np.empty((n * k, 1 + len(SPACE)), dtype=np.float32)
        x[:, 0] = np.tile(np.asarray(epochs, dtype=np.float32), n)
        x[:, 1:] = np.repeat(rows, k, axis=0)
        cat = np.full((n * k, 1), self.code, dtype=np.int32)
        out = self.session.run(None, {self._in_cat: cat, self._in_cont: x})[0]
        self.calls += 1
        picked = out[:, column].astype(np.float64)
        return picked.reshape(n, k, *picked.shape[1:])

    def _both(self, config: dict) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(_row(config))
        hit = self._cache.get(key)
        if hit is None:
            both = self.curves([config], column=[_TIME, _VAL_ACCURACY])[0]  # shape (52, 2)
            hit = self._cache[key] = (both[:, 1].copy(), epoch_seconds(both[:, 0]))
        return hit

    def curve(self, config: dict) -> np.ndarray:
        return self._both(config)[0]

    def seconds(self, config: dict) -> np.ndarray:
        """Each epoch's seconds (see ``epoch_seconds``)."""
        return self._both(config)[1]

    def median_trial_seconds(self) -> float:
        """The median seconds of a full-length trial: the surrogate's cumulative time at
        epoch 52, over the reference's own sample (the same seeded ``random_configs``
        uniform configs as ``reference`` draws): the wall clock's unit of budget."""
        return self.trial_seconds(0.5)

    def trial_seconds(self, quantile: float) -> float:
        """That quantile of a full-length trial's seconds over the reference's sample."""
        s = REFERENCE_SETTINGS
        rng = np.random.default_rng([s["seed"], int(self.task)])
        configs = [sample(rng) for _ in range(s["random_configs"])]
        return float(np.quantile(self.curves(configs, (MAX_EPOCHS,), column=_TIME), quantile))

    def accuracy_and_time(self, config: dict) -> np.ndarray:
        """Two objectives a config reaches after each epoch: val_accuracy and its training
        seconds so far (the sum of ``seconds``: never falls from one epoch to the next)."""
        curve, seconds = self._both(config)
        return np.column_stack([curve, np.cumsum(seconds)])

    def accuracy_and_epoch_time(self, config: dict) -> np.ndarray:
        """val_accuracy after each epoch and the config's mean seconds an epoch (the same at
        every epoch: a cost of the config, not of how long it trained)."""
        curve, seconds = self._both(config)
        return np.column_stack([curve, np.full(len(curve), seconds.mean())])


def epoch_seconds(cumulative: np.ndarray, floor_share: float = 0.01) -> np.ndarray:
    """Each epoch's seconds from a cumulative time curve: its differences, at least
    ``floor_share`` of the mean epoch (the surrogate's cumulative time dips now and then,
    by up to 49 s between two epochs on task 168868: a fitted model's noise; an epoch must
    take some time for the wall clock's events to have an order)."""
    cumulative = np.asarray(cumulative, dtype=float)
    floor = floor_share * max(float(cumulative[-1]) / len(cumulative), 1e-6)
    return np.maximum(np.diff(cumulative, prepend=0.0), floor)


# ------------------------------------------------------------------ reference

REFERENCE_SETTINGS = {
    "random_configs": 10000,
    "full_curves": 200,
    "local_starts": 8,
    "local_rounds": 20,
    "local_batch": 32,
    "local_sigma": 0.08,
    "seed": 20240917,
}


def reference(data: Path, task: str, cache: Path) -> dict:
    """The task's normalising pair, cached in ``cache`` (JSON, keyed by task, with the
    surrogate file's digest and the settings that made it):

    * worst: the lowest val_accuracy at epoch 52 among ``random_configs`` uniform configs;
    * best: the highest val_accuracy at any epoch found by that sample (the ``full_curves``
      best at epoch 52, whole curves), then a local search from the ``local_starts`` best
      (``local_rounds`` rounds of ``local_batch`` Gaussian steps in the unit cube, step
      halving when a round finds nothing better).

    Normalised regret is (best - value) / (best - worst): 0 at the best known, 1 at the
    worst full-length random config; a method that beats the best known goes below 0."""
    model_file = Path(data) / "model.onnx"
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()[:16]
    stored = json.loads(cache.read_text()) if cache.exists() else {}
    hit = stored.get(task)
    if hit and hit.get("model_sha256_16") == digest and hit.get("settings") == REFERENCE_SETTINGS:
        return hit
    s = REFERENCE_SETTINGS
    bench = LCBench(data, task)
    rng = np.random.default_rng([s["seed"], int(task)])
    configs = [sample(rng) for _ in range(s["random_configs"])]
    at_end = bench.curves(configs, (MAX_EPOCHS,))[:, 0]
    top = np.argsort(-at_end)[: s["full_curves"]]
    full = bench.curves([configs[i] for i in top])
    peak = full.max(axis=1)
    order = np.argsort(-peak)
    best_value, best_config = float(peak[order[0]]), configs[top[order[0]]]
    for start in order[: s["local_starts"]]:
        u, value, sigma = to_unit(configs[top[start]]), float(peak[start]), s["local_sigma"]
        for _ in range(s["local_rounds"]):
            cand = [from_unit(u + rng.normal(0.0, sigma, len(SPACE))) for _ in range(s["local_batch"])]
            vals = bench.curves(cand).max(axis=1)
            j = int(np.argmax(vals))
            if vals[j] > value:
                u, value = to_unit(cand[j]), float(vals[j])
            else:
                sigma /= 2
        if value > best_value:
            best_value, best_config = value, from_unit(u)
    entry = {
        "best": best_value,
        "worst": float(at_end.min()),
        "random_median_52": float(np.median(at_end)),
        "random_best_52": float(at_end.max()),
        "best_config": best_config,
        "model_sha256_16": digest,
        "settings": REFERENCE_SETTINGS,
    }
    stored = json.loads(cache.read_text()) if cache.exists() else {}
    stored[task] = entry
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    return entry
