"""Train / val / test splits: stratified cutting that keeps rare classes in every part,
a check that no part is empty, and the move to tensors that every Task makes."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..errors import UserError


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of ``total * weights / sum(weights)`` (sums to ``total``)."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _lift(counts: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Raise each count to its floor, a row at a time from the count with most to spare
    (the caller makes sure the counts add up to at least the floors)."""
    counts = counts.copy()
    while (counts < floor).any():
        counts[np.argmax(floor - counts)] += 1
        counts[np.argmax(counts - floor)] -= 1
    return counts


def _floor(sizes: np.ndarray, total: int) -> np.ndarray:
    """Up to three rows a class, else one, where ``total`` allows: every split of a small
    subset then still holds every class."""
    for least in (3, 1):
        floor = np.minimum(sizes, least)
        if total >= floor.sum():
            return floor
    return np.zeros_like(sizes)


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Index arrays, one per fraction (they sum to 1), each class cut in those proportions.

    A class with at least as many rows as parts puts one row in every part, so a rare
    class still shows up in validation and test of a small set.
    """
    rng = np.random.default_rng(seed)
    weights = np.asarray(fractions, dtype=np.float64)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        counts = _allocate(len(rows), weights)
        if len(rows) >= len(fractions):
            counts = _lift(counts, np.ones_like(counts))
        for part, chunk in zip(parts, np.split(rows, np.cumsum(counts)[:-1])):
            part.append(chunk)
    return [rng.permutation(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` row indices (sorted) keeping the class proportions, with ``_floor``'s minimum."""
    if n <= 0 or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(y, return_counts=True)
    counts = _lift(_allocate(n, sizes.astype(np.float64)), _floor(sizes, n))
    picked = [rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, counts)]
    return np.sort(np.concatenate(picked))


def class_counts(total: int, weights: tuple[float, ...]) -> np.ndarray:
    """``total`` rows shared out in proportion to ``weights`` (largest remainder), every
    class lifted to ``_floor``'s minimum where ``total`` allows."""
    counts = _allocate(total, np.asarray(weights, dtype=np.float64))
    return _lift(counts, _floor(np.full(len(weights), total), total))


def require_rows(splits: dict[str, tuple[np.ndarray, np.ndarray]], source: str, noun: str) -> None:
    for name, (_, y) in splits.items():
        if len(y) == 0:
            raise UserError(f"{source}: the {name} split is empty; give more {noun}")


def tensor(a: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` without torch's "non-writable NumPy array" warning: data shared
    with the trials comes out of Ray's object store read-only, and no trainable writes into
    its inputs (they are moved to the device or transformed into new tensors first)."""
    if a.flags.writeable:
        return torch.from_numpy(a)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(a)


def to_device(splits: dict[str, tuple[np.ndarray, np.ndarray]], device: torch.device) -> dict[str, Any]:
    return {k: (tensor(x).to(device), tensor(y).to(device)) for k, (x, y) in splits.items()}
