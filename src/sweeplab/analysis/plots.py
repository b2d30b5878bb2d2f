"""PNG plots of a sweep (matplotlib, no display): learning curves with stopped and failed
trials marked, the metric against each hyperparameter, parallel coordinates, the chosen
trial's confusion matrix, and the images trials saved (GAN sample grids)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ..schema import Status, config_column, is_remote
from .load import ITER, Sweep
from .tables import confusion

STYLE = {"ok": "#4c72b0", "stopped": "#999999", "cut": "#8172b2", "failed": "#c44e52", "best": "#dd8452"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(sweep: Sweep, path: Path, best_id: Optional[str] = None) -> Path:
    from matplotlib.collections import LineCollection

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    segments: dict[str, list[np.ndarray]] = {"ok": [], "stopped": [], "cut": [], "failed": []}
    ends: dict[str, list[tuple[float, float]]] = {"stopped": [], "cut": [], "failed": []}
    for _, f in sweep.facts.iterrows():
        x, y = sweep.curve(f["trial_id"], ITER), sweep.curve(f["trial_id"], sweep.metric)
        if len(x) == 0 or y.dtype.kind != "f":
            continue
        keep = np.isfinite(y)
        x, y = x[keep].astype(float), y[keep]
        if len(x) == 0:
            continue
        kind = (
            "failed"
            if f["status"] == Status.ERROR
            else "stopped"
            if f["cut_early"]
            else "cut"
            if f["status"] in (Status.TIME_UP, Status.INTERRUPTED)
            else "ok"
        )
        segments[kind].append(np.column_stack([x, y]))
        if kind in ends:
            ends[kind].append((x[-1], y[-1]))
    for kind, segs in segments.items():
        if segs:
            ax.add_collection(
                LineCollection(
                    segs,
                    colors=STYLE[kind],
                    linewidths=1,
                    alpha=0.6,
                    label={
                        "ok": "ran its budget",
                        "stopped": "stopped or paused at a rung by the scheduler",
                        "cut": "cut off (the sweep ended: time budget, Ctrl-C)",
                        "failed": "failed",
                    }[kind],
                )
            )
    for kind, marker in (("stopped", "x"), ("cut", "|"), ("failed", "v")):
        if ends[kind]:
            ax.scatter(*zip(*ends[kind]), marker=marker, color=STYLE[kind], zorder=3, s=25)
    if best_id is not None:
        x, y = sweep.curve(best_id, ITER), sweep.curve(best_id, sweep.metric)
        if len(x):
            ax.plot(x, y, color=STYLE["best"], linewidth=2.5, label="chosen", zorder=4)
    ax.autoscale()
    ax.set_xlabel("iteration (epoch)")
    ax.set_ylabel(sweep.metric)
    ax.set_title(f"{sweep.name}: {sweep.metric} of every trial")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def metric_vs_params(sweep: Sweep, path: Path) -> Optional[Path]:
    params = sweep.params
    if not params:
        return None
    plt = _plt()
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    best = sweep.facts.set_index("trial_id")["best"]
    for ax, p in zip(axes.flat, params):
        values = sweep.trials.set_index("trial_id")[config_column(p)].reindex(best.index)
        y = best.to_numpy(dtype=float)
        numeric = _all_numbers(values)
        if numeric:
            x = values.to_numpy(dtype=float)
            ax.scatter(x, y, s=18, color=STYLE["ok"])
            positive = x[np.isfinite(x) & (x > 0)]
            if len(positive) and positive.min() > 0 and positive.max() / positive.min() >= 20:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            pos = {v: i for i, v in enumerate(labels)}
            ax.scatter([pos[str(v)] for v in values], y, s=18, color=STYLE["ok"])
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(p)
        ax.set_ylabel(sweep.metric)
    for ax in list(axes.flat)[len(params) :]:
        ax.set_visible(False)
    fig.suptitle(f"{sweep.metric} against each searched hyperparameter")
    return _save(fig, path)


def parallel_coordinates(sweep: Sweep, path: Path) -> Optional[Path]:
    params = sweep.params
    if not params:
        return None
    plt = _plt()
    best = sweep.facts.set_index("trial_id")["best"]
    trials = sweep.trials.set_index("trial_id").reindex(best.index)
    axes_data: list[np.ndarray] = []
    ticks: list[Optional[list[str]]] = []  # each axis' labels; None: the metric's, where no trial has one
    for p in params:
        col = trials[config_column(p)]
        if _all_numbers(col):
            v = col.to_numpy(dtype=float)
            ticks.append([f"{np.nanmin(v):.3g}", f"{np.nanmax(v):.3g}"])  # the axis' ends
            if np.nanmin(v) > 0 and np.nanmax(v) / np.nanmin(v) >= 20:
                v = np.log10(v)
        else:
            labels = sorted({str(x) for x in col})
            v = np.array([labels.index(str(x)) for x in col], dtype=float)
            ticks.append(labels)
        axes_data.append(v)
    axes_data.append(best.to_numpy(dtype=float))
    ticks.append([f"{np.nanmin(axes_data[-1]):.3g}", f"{np.nanmax(axes_data[-1]):.3g}"] if best.notna().any() else None)
    data = np.column_stack(axes_data)
    lo, hi = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
    norm = (data - lo) / np.where(hi > lo, hi - lo, 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * data.shape[1]), 4.5))
    score = norm[:, -1]
    cmap = plt.get_cmap("viridis" if sweep.mode == "max" else "viridis_r")
    order = np.argsort(np.nan_to_num(score, nan=-1))  # best drawn last, on top
    for i in order:
        ax.plot(
            range(data.shape[1]),
            norm[i],
            color=cmap(score[i]) if np.isfinite(score[i]) else STYLE["failed"],
            alpha=0.7,
            linewidth=1,
        )
    ax.set_xticks(range(data.shape[1]), [*params, sweep.metric], rotation=20)
    ax.set_yticks([])
    for j, axis_labels in enumerate(ticks):
        if axis_labels:
            for k, label in enumerate(axis_labels):
                ax.annotate(label, (j, k / max(1, len(axis_labels) - 1)), fontsize=7, ha="right")
    ax.set_title("parallel coordinates (each axis scaled to its range; colour: the metric)")
    return _save(fig, path)


def confusion_heatmap(sweep: Sweep, trial_id: str, path: Path) -> Optional[Path]:
    found = confusion(sweep, trial_id)
    if found is None:
        return None
    split, counts, names = found
    matrix = np.asarray(counts, dtype=float)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 1.1 * len(names) + 1.5))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{int(matrix[i, j])}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("real")
    ax.set_title(f"confusion matrix ({split}; colour: share of the real class)")
    return _save(fig, path)


def trial_images(sweep: Sweep, trial_id: str, folder: Path, limit: int = 6) -> list[Path]:
    """Copies of the images a trial saved (history columns holding .png paths), spread
    over its run, latest last. Tune syncs a trial's files into its folder in the sweep, so
    an image is looked for there first: the path it reported may be a node's temp dir."""
    h = sweep.history
    cols = [c for c in h.columns if not pd.api.types.is_numeric_dtype(h[c]) and not pd.api.types.is_bool_dtype(h[c])]
    reported = [v for c in cols for v in sweep.curve(trial_id, c) if isinstance(v, str) and v.lower().endswith(".png")]
    found = [p for p in (_locate(sweep, trial_id, v) for v in reported) if p is not None]
    if len(found) > limit:
        found = [found[round(i * (len(found) - 1) / (limit - 1))] for i in range(limit)]
    out = []
    for src in found:
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / f"{trial_id}_{src.name}"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def _locate(sweep: Sweep, trial_id: str, reported: str) -> Optional[Path]:
    if not is_remote(sweep.uri):
        for trial_dir in Path(sweep.uri).glob(f"*{trial_id}*"):
            if (trial_dir / Path(reported).name).is_file():
                return trial_dir / Path(reported).name
    return Path(reported) if Path(reported).is_file() else None


def _all_numbers(values: pd.Series) -> bool:
    """A config column to plot on a numeric axis (booleans and strings are categories)."""
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in values.dropna())


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
