"""Hand-built results stores with the reports' own numbers, for the analysis tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from sweeplab import spaces

# Report 000, "Análisis GRU W and B": (preset, hidden_dim, n_layers, bidirectional, LR,
# accuracy, macro F1), in the order the runs were made; the original architecture last.
GRU_RUNS = [
    (None, 128, 1, False, 0.0064, 0.980, 0.89),
    (None, 32, 3, False, 0.0117, 0.974, 0.85),
    (None, 128, 1, False, 0.0098, 0.973, 0.85),
    (None, 128, 1, False, 0.0449, 0.827, 0.18),
    (None, 32, 1, False, 0.0266, 0.934, 0.56),
    ("original", 64, 2, True, 0.001, 0.98, 0.92),
]

# Report 001, IMDb LSTM: per epoch (train loss, train accuracy, val loss, val accuracy), and
# the test confusion matrix (rows real neg/pos, columns predicted).
IMDB_EPOCHS = [
    (0.3951, 0.8234, 0.3245, 0.8571),
    (0.2857, 0.8802, 0.3102, 0.8721),
    (0.2411, 0.9056, 0.2984, 0.8882),
    (0.1987, 0.9321, 0.3010, 0.8820),
    (0.1745, 0.9478, 0.3105, 0.8830),
    (0.1523, 0.9607, 0.3202, 0.8784),
    (0.1401, 0.9683, 0.3348, 0.8762),
    (0.1299, 0.9722, 0.3432, 0.8750),
    (0.1204, 0.9761, 0.3520, 0.8743),
    (0.1112, 0.9790, 0.3610, 0.8722),
]
IMDB_CONFUSION = [[11142, 1358], [2048, 10452]]


def write_sweep(
    folder: Path, trials: list[dict[str, Any]], history: list[dict[str, Any]], meta: dict[str, Any]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(trials).to_parquet(folder / "trials.parquet", index=False)
    if history:
        pd.DataFrame(history).to_parquet(folder / "history.parquet", index=False)
    (folder / "sweep.json").write_text(json.dumps(meta))
    return folder


def meta_for(
    experiment: Optional[str],
    metric: str,
    mode: str,
    name: str,
    space: Optional[str] = None,
    presets: Optional[dict] = None,
    scheduler: str = "asha",
    searcher: str = "optuna",
    seed: int = 0,
) -> dict:
    from sweeplab.config import fields_record
    from sweeplab import registry
    from sweeplab.registry import EXPERIMENTS

    text = spaces.find(space).read_text() if space else None
    fields = fields_record(EXPERIMENTS[experiment].load().config) if experiment else None  # as tune records them
    return {
        "experiment": experiment,
        "metric": metric,
        "mode": mode,
        "name": name,
        "scheduler": scheduler,
        "searcher": searcher,
        "seed": seed,
        "space_file": f"{space}.yaml" if space else None,
        "space": text,
        "presets": presets or {},
        "config_fields": fields,
        "table": registry.table_declaration(experiment),
    }


def gru_sweep(folder: Path) -> Path:
    trials, history = [], []
    for i, (preset, hidden, layers, bi, lr, acc, f1) in enumerate(GRU_RUNS, start=1):
        trial_id = f"gru{i}"
        config = {"cell": "gru", "hidden_dim": hidden, "n_layers": layers, "bidirectional": bi, "lr": lr, "epochs": 1}
        metrics = {"val_accuracy": acc, "val_macro_f1": f1}
        trials.append(
            {
                "trial_id": trial_id,
                "status": "TERMINATED",
                "preset": preset,
                "error": None,
                **{f"config/{k}": v for k, v in config.items()},
                **metrics,
                "iterations": 1,
                "wall_time_s": 600.0,
                "best/val_macro_f1": f1,
                "best_iteration": 1,
            }
        )
        history.append(
            {
                "trial_id": trial_id,
                "epoch": 1,
                "training_iteration": 1,
                "train_loss": 0.1,
                **metrics,
                "time_total_s": 600.0,
            }
        )
    original = {"cell": "gru", "hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001, "epochs": 1}
    return write_sweep(
        folder,
        trials,
        history,
        meta_for("seqclf", "val_macro_f1", "max", "gru_wandb", "seqclf_gru", {"original": original}),
    )


def imdb_sweep(folder: Path) -> Path:
    """One trial with report 001's epochs and test confusion matrix."""
    history = []
    for epoch, (tl, ta, vl, va) in enumerate(IMDB_EPOCHS, start=1):
        row = {
            "trial_id": "imdb1",
            "epoch": epoch,
            "training_iteration": epoch,
            "train_loss": tl,
            "train_accuracy": ta,
            "val_loss": vl,
            "val_accuracy": va,
            "val_recall_neg": 0.9,
            "val_recall_pos": 0.8,
            "early_stopped": False,
            "time_total_s": 60.0 * epoch,
        }
        if epoch == len(IMDB_EPOCHS):
            row.update(
                {
                    "test_accuracy": 0.8638,
                    "test_recall_neg": 11142 / 12500,
                    "test_recall_pos": 10452 / 12500,
                    "test_confusion_matrix": json.dumps(IMDB_CONFUSION),
                }
            )
        history.append(row)
    config = {"lr": 2e-4, "embedding_dim": 128, "units": 64, "dropout": 0.5, "recurrent_dropout": 0.3, "epochs": 10}
    trials = [
        {
            "trial_id": "imdb1",
            "status": "TERMINATED",
            "preset": "report",
            "error": None,
            **{f"config/{k}": v for k, v in config.items()},
            **history[-1],
            "iterations": 10,
            "wall_time_s": 600.0,
            "best/val_accuracy": 0.8882,
            "best_iteration": 3,
        }
    ]
    return write_sweep(
        folder, trials, history, meta_for("imdb", "val_accuracy", "max", "imdb_report", "imdb", {"report": config})
    )


# --- sweeps that stored validation predictions (engine's ``val_predictions``, ``is_best``) ---


def _wrong(y, rows):
    """``y`` predicted right except at ``rows``, where the next class is predicted."""
    pred = list(y)
    for i in rows:
        pred[i] = (y[i] + 1) % 3
    return pred


# 300 validation rows, classes 0/1/2 in shares 1/2, 1/3, 1/6; the training split's majority is 0.
VAL_Y = [(0, 0, 0, 1, 1, 2)[i % 6] for i in range(300)]
# (trial, preset, config, wrong rows, the best epoch, seconds an epoch): "a" and "b" differ on
# 13 rows only (a tie), "c" is wrong on 120 (clearly worse).
PREDICTED_RUNS = [
    ("a", None, {"hidden_dim": 128, "n_layers": 2, "bidirectional": True, "lr": 0.003}, range(0, 300, 10), 3, 40.0),
    (
        "b",
        "original",
        {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001},
        [*range(0, 250, 10), *range(3, 83, 10)],
        2,
        30.0,
    ),
    (
        "c",
        "small",
        {"hidden_dim": 32, "n_layers": 1, "bidirectional": False, "lr": 0.01},
        [i for i in range(300) if i % 5 in (0, 1)],
        3,
        20.0,
    ),
]


def predictions_sweep(folder: Path) -> Path:
    """A seqclf sweep of 3 epochs a trial, each best epoch marked (``is_best``) with its test
    metrics, and each trial's validation predictions at its best epoch in trials.parquet."""
    from sklearn.metrics import confusion_matrix, f1_score

    trials, history = [], []
    for trial_id, preset, params, wrong, best_epoch, seconds in PREDICTED_RUNS:
        pred = _wrong(VAL_Y, wrong)
        f1 = float(f1_score(VAL_Y, pred, average="macro", zero_division=0))
        acc = sum(a == b for a, b in zip(VAL_Y, pred)) / len(VAL_Y)
        matrix = json.dumps(confusion_matrix(VAL_Y, pred, labels=[0, 1, 2]).tolist())
        config = {"cell": "gru", **params, "epochs": 3}
        shares = {1: 0.8, 2: 0.9, 3: 1.0} if best_epoch == 3 else {1: 0.8, 2: 1.0, 3: 0.95}
        best_so_far = 0.0
        for epoch in (1, 2, 3):
            is_best = shares[epoch] > best_so_far
            best_so_far = max(best_so_far, shares[epoch])
            row = {
                "trial_id": trial_id,
                "epoch": epoch,
                "training_iteration": epoch,
                "is_best": is_best,
                "train_loss": 1.0 / epoch,
                "val_loss": 0.5 / shares[epoch],
                "val_accuracy": acc * shares[epoch],
                "val_macro_f1": f1 * shares[epoch],
                "val_confusion_matrix": matrix,
                "time_total_s": seconds * epoch,
            }
            if is_best:  # the engine tests each new best epoch's weights, and only those
                row.update(
                    {
                        "test_accuracy": round(acc * shares[epoch] - 0.03, 4),
                        "test_macro_f1": round(f1 * shares[epoch] - 0.05, 4),
                        "test_confusion_matrix": json.dumps([[140, 8, 2], [9, 88, 3], [4, 5, 41]]),
                    }
                )
            history.append(row)
        predictions = {"kind": "classes", "y_true": VAL_Y, "y_pred": pred, "n_classes": 3, "majority": 0}
        trials.append(
            {
                "trial_id": trial_id,
                "status": "TERMINATED",
                "preset": preset,
                "error": None,
                **{f"config/{k}": v for k, v in config.items()},
                "iterations": 3,
                "wall_time_s": seconds * 3,
                "best/val_macro_f1": f1,
                "best_iteration": best_epoch,
                "val_predictions": json.dumps(predictions),
            }
        )
    presets = {p: {"cell": "gru", **c, "epochs": 3} for _, p, c, *_ in PREDICTED_RUNS if p}
    return write_sweep(
        folder, trials, history, meta_for("seqclf", "val_macro_f1", "max", "gru_predictions", "seqclf_gru", presets)
    )


def freq_trivial_sweep(folder: Path) -> Path:
    """A freq sweep under the assignment's noise: every trial's per-block squared errors are
    the zero predictor's plus noise, so none beats predicting zero."""
    import numpy as np

    rng = np.random.default_rng(1)
    trivial = 0.5 + 0.01 * np.sin(np.arange(40))  # E[y^2] per one-second block
    trials, history = [], []
    for i, shift in enumerate((-0.0005, 0.001, 0.004), start=1):
        noise = rng.normal(0, 0.01, 40)
        values = trivial + noise - noise.mean() + shift
        trial_id = f"f{i}"
        config = {"hidden_size": 32 * i, "num_layers": 1, "seq_length": 50, "lr": 0.001, "epochs": 2}
        mse = float(values.mean())
        for epoch in (1, 2):
            history.append(
                {
                    "trial_id": trial_id,
                    "epoch": epoch,
                    "training_iteration": epoch,
                    "is_best": True,
                    "train_loss": mse,
                    "val_mse": mse + (0.01 if epoch == 1 else 0.0),
                    "val_zero_mse": float(trivial.mean()),
                    "test_mse": mse + 0.001,
                    "time_total_s": 10.0 * epoch,
                }
            )
        trials.append(
            {
                "trial_id": trial_id,
                "status": "TERMINATED",
                "preset": None,
                "error": None,
                **{f"config/{k}": v for k, v in config.items()},
                "iterations": 2,
                "wall_time_s": 20.0,
                "val_predictions": json.dumps({"kind": "mean", "values": values.tolist(), "trivial": trivial.tolist()}),
            }
        )
    return write_sweep(folder, trials, history, meta_for("freq", "val_mse", "min", "freq_assignment"))


# --- sweeps of several objectives ----------------------------------------------------------

MO_START = 1_700_000_000  # the sweep's start (Unix seconds); every row's timestamp is after it
# (trial, timestamp - MO_START, time_total_s, val_loss, cost), in the order reported; the space
# keeps cost <= 6, so "c" (the lowest loss, at cost 8) breaks it, and its NaN row counts for nothing
MO_ROWS = [
    ("a", 10, 10.0, 0.8, 1.0),
    ("b", 20, 20.0, 0.6, 3.0),
    ("c", 25, 25.0, 0.1, 8.0),
    ("a", 30, 30.0, 0.4, 2.0),
    ("c", 35, 35.0, float("nan"), 7.0),
    ("b", 40, 40.0, 0.2, 5.0),
]


def mo_sweep(folder: Path, flip: bool = False, timestamps: bool = True) -> Path:
    """Two objectives, val_loss and cost (both down; ``flip``: val_accuracy = 1 - val_loss,
    up), a constraint on cost, and rows reported by three trials in turn (MO_ROWS)."""
    import datetime as dt

    first = "val_accuracy" if flip else "val_loss"
    history, epochs = [], {}
    for trial, at, total, loss, cost in MO_ROWS:
        epochs[trial] = epochs.get(trial, 0) + 1
        row = {
            "trial_id": trial,
            "training_iteration": epochs[trial],
            first: 1.0 - loss if flip else loss,
            "cost": cost,
            "time_total_s": total,
        }
        if timestamps:
            row["timestamp"] = MO_START + at
        history.append(row)
    trials = [
        {
            "trial_id": t,
            "status": "TERMINATED",
            "preset": None,
            "error": None,
            "config/width": i,
            "iterations": 2,
            "best_iteration": 2,
        }
        for i, t in enumerate(("a", "b", "c"), start=1)
    ]
    mode = "max" if flip else "min"
    meta = {
        "metric": first,
        "mode": mode,
        "name": folder.name,
        "scheduler": "promotion",
        "searcher": "rung_tpe",
        "objectives": {first: mode, "cost": "min"},
        "constraints": ["cost <= 6"],
        "choose": "one_se",
        "started": dt.datetime.fromtimestamp(MO_START).isoformat(timespec="seconds"),
    }
    return write_sweep(folder, trials, history, meta)


def mo_predictions_sweep(folder: Path) -> Path:
    """predictions_sweep searched for val_macro_f1 (up) and epoch_seconds (down): "a" has
    the best F1 but is tied with "b" (13 rows apart), which is faster: "b" statistically
    dominates "a"; "c", far worse on F1 and the fastest, is dominated by neither."""
    predictions_sweep(folder)
    history = pd.read_parquet(folder / "history.parquet")
    history["epoch_seconds"] = history["trial_id"].map({t: s for t, *_, s in PREDICTED_RUNS})
    history.to_parquet(folder / "history.parquet", index=False)
    meta = json.loads((folder / "sweep.json").read_text())
    meta.update(objectives={"val_macro_f1": "max", "epoch_seconds": "min"}, constraints=[], choose="one_se")
    (folder / "sweep.json").write_text(json.dumps(meta))
    return folder
