"""The paired bootstrap's core, in numpy alone: resamples of a sweep's n validation rows
kept as counts, and the statistics of every trial on every resample at once. intervals.py
applies it to a sweep's stored predictions and says what the numbers mean.

Method. All trials of a sweep score the same n validation rows in the same order (a row
is whatever the trainable stored: one sample, or for ``freq`` one period-long block of
samples, whose errors are correlated), so one set of resamples serves every trial and
every comparison between trials is paired. B = 1000 resamples of the n rows with
replacement are drawn once, with a fixed seed::

    idx = numpy.random.default_rng(SEED).integers(0, n, size=(B, n), dtype=numpy.int32)

and kept as counts (how often each row was drawn; each resample is a multinomial(n, 1/n)
vector), so one trial's statistic on every resample, and every trial's at once, is a few
matrix products of the (B, n) counts, with no loop over resamples:

* ``mean`` (e.g. val_mse, the mean of per-row values): ``counts @ values.T / n``;
* accuracy: ``counts @ correct.T / n``;
* macro F1: per class c, predictions ``counts @ (y_pred == c).T``, of which the rows of
  class c give the true positives, and support ``counts @ (y == c)``; F1_c = 2 TP /
  (support + predicted), averaged over the classes that occur in the resample (support +
  predicted > 0): scikit-learn's ``f1_score(average="macro", zero_division=0)`` on the
  resampled rows. With the rows grouped by class (the resamples are drawn in that order)
  the true positives are the class's own block of the same product, and the class with
  the fewest rows is predicted n minus the others: C - 1 products for C classes.

Counts and 0/1 indicators are exact in float32 (every sum is a whole number <= n < 2^24),
so the classification products run in single precision without rounding; means run in
float64. The statistic on all rows (counts of one) is computed the same way.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

B = 1000
SEED = 0
_CELLS = 2**23  # float32 cells of the (B, trials, classes) blocks macro F1 holds at once


def resample_counts(n: int, b: int = B, seed: int = SEED, layout: Optional[np.ndarray] = None) -> np.ndarray:
    """(b + 1, n) float32: row 0 all ones (the statistic on all rows), then b resamples as
    counts of each row, from ``default_rng(seed).integers(0, n, size=(b, n), dtype=int32)``.
    ``layout``: column j counts original row ``layout[j]`` (rows grouped by class)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(b, n), dtype=np.int32)
    if layout is not None:
        where = np.empty(n, dtype=np.int32)
        where[layout] = np.arange(n, dtype=np.int32)
        idx = where[idx]
    counts = np.empty((b + 1, n), dtype=np.float32)
    counts[0] = 1.0
    step = max(1, (1 << 20) // max(n, 1))  # blocks of resamples, one bincount each: its bins stay in cache
    for s in range(0, b, step):
        block = idx[s : s + step].astype(np.int64) + (np.arange(min(step, b - s), dtype=np.int64) * n)[:, None]
        counts[1 + s : 1 + s + len(block)] = np.bincount(block.ravel(), minlength=len(block) * n).reshape(-1, n)
    return counts


def accuracy(counts: np.ndarray, y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(resamples, trials) accuracy; ``preds`` (trials, n)."""
    correct = (preds == y[None, :]).astype(np.float32)
    return (counts @ correct.T).astype(np.float64) / counts[0].sum()


def macro_f1(counts: np.ndarray, y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(resamples, trials) macro F1 over the classes present in each resample. Fastest with
    the rows grouped by class (``y`` sorted): each class's predictions then split into its
    own block (true positives) and the rest, one matrix product in all."""
    if len(y) > 1 and (np.diff(y) < 0).any():
        order = np.argsort(y, kind="stable")
        counts, y, preds = counts[:, order], y[order], preds[:, order]
    n = counts.shape[1]
    r = counts.shape[0]
    # every label up to the largest: one that never occurs has no rows and no predictions,
    # so it is absent from every resample (and, with the fewest rows, it is the one skipped)
    classes = np.arange(max(int(y.max()), int(preds.max())) + 1)
    blocks = [tuple(int(b) for b in np.searchsorted(y, [c, c + 1])) for c in classes]
    support = np.stack([counts[:, lo:hi].sum(axis=1, dtype=np.float64) for lo, hi in blocks], axis=1)  # (R, C)
    # one class's predictions are n minus the others': skip the class with the fewest rows
    skip = int(np.argmin([hi - lo for lo, hi in blocks]))
    out = np.empty((r, preds.shape[0]))
    chunk = max(1, _CELLS // (r * len(classes)))
    for s in range(0, preds.shape[0], chunk):
        p = preds[s : s + chunk]
        tp = np.empty((r, len(p), len(classes)), dtype=np.float32)
        predicted = np.empty_like(tp)
        for k, (c, (lo, hi)) in enumerate(zip(classes, blocks)):
            if k == skip:
                tp[:, :, k] = counts[:, lo:hi] @ (p[:, lo:hi] == c).astype(np.float32).T
                continue
            hit = (p == c).astype(np.float32)
            tp[:, :, k] = counts[:, lo:hi] @ hit[:, lo:hi].T
            predicted[:, :, k] = tp[:, :, k]
            if lo > 0:
                predicted[:, :, k] += counts[:, :lo] @ hit[:, :lo].T
            if hi < n:
                predicted[:, :, k] += counts[:, hi:] @ hit[:, hi:].T
        # every resample has n rows, each predicted as some class: the skipped class has the rest
        predicted[:, :, skip] = 0.0
        predicted[:, :, skip] = n - predicted.sum(axis=2)
        denominator = support[:, None, :] + predicted
        f1 = np.divide(2.0 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        out[:, s : s + chunk] = f1.sum(axis=2) / (denominator > 0).sum(axis=2)
    return out


def mean(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(resamples, trials) weighted mean of per-row ``values`` (trials, n), in float64."""
    return (counts.astype(np.float64) @ values.T) / counts[0].sum()


def trivial_classes(counts: np.ndarray, y: np.ndarray, majority: int, stat: str) -> np.ndarray:
    """(resamples,) the majority-class predictor's statistic."""
    n = counts[0].sum()
    grouped = len(y) < 2 or not (np.diff(y) < 0).any()

    def rows_of(c: int) -> np.ndarray:  # (resamples,) rows of class c
        if grouped:
            lo, hi = np.searchsorted(y, [c, c + 1])
            return counts[:, lo:hi].sum(axis=1, dtype=np.float64)
        return counts[:, y == c].sum(axis=1, dtype=np.float64)

    support = np.stack([rows_of(c) for c in np.unique(y)], axis=1)
    major = rows_of(majority)
    if stat == "accuracy":
        return major / n
    present = (support > 0).sum(axis=1) + (major == 0)  # the majority class is present as predicted
    return (2 * major / (major + n)) / present
