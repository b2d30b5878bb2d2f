"""The search-quality bench's anytime curves: each method's mean normalised regret after
each epoch spent (or at each instant of the wall clock's grid), drawn as a PNG (log scale,
aliases on one line), every run's best-so-far value sampled into a CSV, and when a curve
first reaches a value."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Optional

import numpy as np


def time_to_reach(curve: np.ndarray, target: float) -> Optional[float]:
    """The fraction of the budget (of the curve's points) after which ``curve`` first
    reaches ``target`` (>=), or None if it never does."""
    hit = np.flatnonzero(np.asarray(curve) >= target)
    return float(hit[0] + 1) / len(curve) if len(hit) else None


def mean_regret_curves(canon, runs, refs, tasks, seeds, budget) -> dict:
    curves = {}
    for m in canon:
        rs = [
            (refs[t]["best"] - runs[(m, t, s)].curve) / (refs[t]["best"] - refs[t]["worst"])
            for t in tasks
            for s in range(seeds)
        ]
        curves[m] = np.mean(rs, axis=0)
    return curves


def plot(path: Path, names, curves, budget, title: str, xlabel: str = "fraction of the epoch budget spent") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import _sq_methods as sqm

    x = np.arange(1, budget + 1) / budget
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in names:
        target = sqm.canonical(name)
        if target != name:
            continue
        aliases = [n for n in names if n != name and sqm.canonical(n) == name]
        label = name + (f" (= {', '.join(aliases)})" if aliases else "")
        ax.plot(
            x,
            np.maximum(curves[name], 1e-4),
            label=label,
            lw=2.2 if aliases else 1.4,
            ls="--" if name == "random" else "-",
        )
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean normalised regret (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_curves(
    path: Path, canon, runs, tasks, seeds, budget, step: int, label: Callable[[int], str] = "e{}".format
) -> None:
    """Every ``step``-th point of each run's curve, columns named ``label(point)``."""
    points = list(range(step, budget + 1, step))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "task", "seed", *[label(p) for p in points]])
        for m in canon:
            for t in tasks:
                for s in range(seeds):
                    c = runs[(m, t, s)].curve
                    w.writerow([m, t, s, *[f"{c[p - 1]:.4f}" for p in points]])
