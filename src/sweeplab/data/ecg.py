"""Heartbeats in the MIT-BIH format of the Kaggle "ECG Heartbeat Categorization" set
(report 000), and a seeded synthetic stand-in with the same shape and imbalance.

A row is one beat: 187 samples in [0, 1] (125 Hz, starting at the R peak, zero-padded at
the end) then the class index as a float: 0 N, 1 S, 2 V, 3 F, 4 Q. No header.
Every loader returns ``{"train" | "val" | "test": (X float32 (n, 187), y int64 (n,))}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from ..errors import UserError
from .splits import class_counts, stratified_split, stratified_subset
from .tables import read_numeric_csv

CLASS_NAMES = ("N", "S", "V", "F", "Q")
SEQ_LEN = 187
MITBIH_COUNTS = (72471, 2223, 5788, 641, 6431)  # mitbih_train.csv, in CLASS_NAMES order
KAGGLE_PAIR = ("mitbih_train.csv", "mitbih_test.csv")

Arrays = tuple[np.ndarray, np.ndarray]
Splits = dict[str, Arrays]


def _split_arrays(x: np.ndarray, y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[Arrays]:
    return [(x[i], y[i]) for i in stratified_split(y, fractions, seed)]


# ------------------------------------------------------------------ reading


def read_mitbih_csv(path: Union[str, Path], max_rows: int = 0, seed: int = 0) -> Arrays:
    """One MIT-BIH CSV; ``max_rows`` > 0 keeps a seeded, stratified subset of that many rows."""
    table = read_numeric_csv(path, SEQ_LEN + 1, "187 samples + class index")
    labels = table[:, -1]
    bad = (labels != np.round(labels)) | (labels < 0) | (labels > len(CLASS_NAMES) - 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(
            f"{path}: row {row + 1}: class index {labels[row]:g} is outside 0..{len(CLASS_NAMES) - 1} "
            f"({', '.join(CLASS_NAMES)})"
        )
    x, y = np.ascontiguousarray(table[:, :SEQ_LEN]), labels.astype(np.int64)
    counts = np.bincount(y, minlength=len(CLASS_NAMES))
    if (counts == 0).any():  # every class is trained on and scored (macro F1): none may be absent
        c = int(np.argmin(counts))
        raise UserError(
            f"{path}: no row of class {c} ({CLASS_NAMES[c]}); expected every class "
            f"0..{len(CLASS_NAMES) - 1} ({', '.join(CLASS_NAMES)}) to have rows"
        )
    keep = stratified_subset(y, max_rows, seed)
    return x[keep], y[keep]


def load_mitbih(
    data: Union[str, Path],
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    max_rows: int = 0,
) -> Splits:
    """A CSV file (split train / val / test), or a folder: the Kaggle pair (train file ->
    train / val, test file -> test) or exactly one .csv. ``max_rows`` caps each file read."""
    path = Path(data).expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        if all((path / name).is_file() for name in KAGGLE_PAIR):
            x, y = read_mitbih_csv(path / KAGGLE_PAIR[0], max_rows, seed)
            test = read_mitbih_csv(path / KAGGLE_PAIR[1], max_rows, seed)
            train, val = _split_arrays(x, y, (1 - val_fraction, val_fraction), seed)
            return {"train": train, "val": val, "test": test}
        csvs = sorted(p for p in path.glob("*.csv") if p.is_file())
        if len(csvs) != 1:
            raise UserError(
                f"{path}: holds {len(csvs)} .csv files; expected {' + '.join(KAGGLE_PAIR)} or exactly one .csv"
            )
        path = csvs[0]
    x, y = read_mitbih_csv(path, max_rows, seed)
    train, val, test = _split_arrays(x, y, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    return {"train": train, "val": val, "test": test}


# ------------------------------------------------------------------ synthetic

# Per class, uniform ranges of the beat's parameters (t in samples at 125 Hz, from the R
# peak). rr: the rhythm's RR interval, which sets the window (1.2 rr, then zero padding);
# next: where the following R peak falls, in rr; qrs: width of the R wave; s: depth of the
# S wave; t_amp / t_pos / t_width: the T wave; p: the following beat's P wave; spike: a
# pacemaker spike before the following beat. The ranges overlap on purpose: F sits between
# N and V, S differs from N mostly by prematurity, so minority classes stay hard.
_MORPHOLOGY = {
    #      rr         next          qrs         s            t_amp          t_pos         t_width  p              spike       noise
    "N": (
        (75, 125),
        (0.92, 1.08),
        (1.6, 2.6),
        (0.05, 0.3),
        (0.15, 0.4),
        (0.28, 0.4),
        (5, 9),
        (0.06, 0.18),
        (0.0, 0.0),
        (0.005, 0.03),
    ),
    "S": (
        (70, 120),
        (0.62, 0.88),
        (1.5, 2.5),
        (0.05, 0.3),
        (0.1, 0.35),
        (0.26, 0.38),
        (4, 8),
        (-0.08, 0.12),
        (0.0, 0.0),
        (0.005, 0.035),
    ),
    "V": (
        (75, 125),
        (1.15, 1.55),
        (3.5, 7.0),
        (0.1, 0.5),
        (-0.45, -0.05),
        (0.32, 0.48),
        (7, 13),
        (0.0, 0.1),
        (0.0, 0.0),
        (0.005, 0.035),
    ),
    "F": (
        (75, 125),
        (1.0, 1.25),
        (2.6, 4.5),
        (0.05, 0.4),
        (-0.2, 0.15),
        (0.3, 0.44),
        (6, 11),
        (0.03, 0.15),
        (0.0, 0.0),
        (0.005, 0.035),
    ),
    "Q": (
        (70, 115),
        (0.95, 1.05),
        (3.0, 6.0),
        (0.0, 0.35),
        (-0.35, 0.3),
        (0.3, 0.46),
        (6, 12),
        (0.0, 0.08),
        (0.0, 0.5),
        (0.01, 0.05),
    ),
}
_PARAMS = ("rr", "next", "qrs", "s", "t_amp", "t_pos", "t_width", "p", "spike", "noise")


def make_heartbeats(n: int, seed: int) -> Arrays:
    """``n`` synthetic beats with MIT-BIH's class proportions (a few of each class at least), shuffled."""
    rng = np.random.default_rng(seed)
    counts = class_counts(n, MITBIH_COUNTS)
    y = rng.permutation(np.repeat(np.arange(len(CLASS_NAMES), dtype=np.int64), counts))
    ranges = np.asarray([_MORPHOLOGY[c] for c in CLASS_NAMES], dtype=np.float64)[y]  # (n, params, 2)
    p = dict(zip(_PARAMS, np.moveaxis(rng.uniform(ranges[..., 0], ranges[..., 1]), 1, 0)))

    t = np.arange(SEQ_LEN, dtype=np.float64)[None, :]
    rr, nxt = p["rr"], p["rr"] * p["next"]

    def bump(center, width, amp):
        return amp[:, None] * np.exp(-0.5 * ((t - center[:, None]) / width[:, None]) ** 2)

    next_qrs = rng.uniform(1.6, 2.6, n)  # the following beat is a plain one
    wander = rng.uniform(0.0, 0.08, (n, 1)) * np.sin(
        2 * np.pi * t / rng.uniform(150, 400, (n, 1)) + rng.uniform(0, 2 * np.pi, (n, 1))
    )
    beat = (
        bump(np.zeros(n), p["qrs"], np.ones(n))
        + bump(1.8 * p["qrs"], 0.8 * p["qrs"], -p["s"])
        + bump(p["t_pos"] * rr, p["t_width"], p["t_amp"])
        + bump(nxt - 0.16 * rr, rng.uniform(2.5, 4.0, n), p["p"])
        + bump(nxt - 2.5 * next_qrs, np.full(n, 0.6), p["spike"])
        + bump(nxt, next_qrs, rng.uniform(0.7, 1.0, n))
        + wander
    )
    beat += rng.normal(size=beat.shape) * p["noise"][:, None]

    # Like the Kaggle preprocessing: min-max to [0, 1] over the window, zeros after it.
    length = np.clip(np.round(1.2 * rr * rng.uniform(0.97, 1.03, n)), 1, SEQ_LEN).astype(np.int64)
    inside = t < length[:, None]
    lo = np.where(inside, beat, np.inf).min(axis=1, keepdims=True)
    hi = np.where(inside, beat, -np.inf).max(axis=1, keepdims=True)
    x = np.where(inside, (beat - lo) / np.maximum(hi - lo, 1e-6), 0.0)
    return x.astype(np.float32), y


def synthetic_splits(n: int, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15) -> Splits:
    x, y = make_heartbeats(n, seed)
    train, val, test = _split_arrays(x, y, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    return {"train": train, "val": val, "test": test}
