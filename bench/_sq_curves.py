"""The search-quality bench's anytime curves: each method's mean normalised regret after
each epoch spent, drawn as a PNG (log scale, aliases on one line), and every run's
best-so-far value sampled into a CSV."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def mean_regret_curves(canon, runs, refs, tasks, seeds, budget) -> dict:
    curves = {}
    for m in canon:
        rs = [(refs[t]["best"] - runs[(m, t, s)].curve) / (refs[t]["best"] - refs[t]["worst"])
              for t in tasks for s in range(seeds)]
        curves[m] = np.mean(rs, axis=0)
    return curves


def plot(path: Path, names, curves, budget, title: str) -> None:
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
        ax.plot(x, np.maximum(curves[name], 1e-4), label=label, lw=2.2 if aliases else 1.4,
                ls="--" if name == "random" else "-")
    ax.set_yscale("log")
    ax.set_xlabel("fraction of the epoch budget spent")
    ax.set_ylabel("mean normalised regret (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_curves(path: Path, canon, runs, tasks, seeds, budget, step: int) -> None:
    points = list(range(step, budget + 1, step))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "task", "seed", *[f"e{p}" for p in points]])
        for m in canon:
            for t in tasks:
                for s in range(seeds):
                    c = runs[(m, t, s)].curve
                    w.writerow([m, t, s, *[f"{c[p - 1]:.4f}" for p in points]])
