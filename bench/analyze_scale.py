"""Analysis at scale: ``sweeplab analyze`` and ``sweeplab report`` on a synthetic results
store of 1,000 seqclf trials x 50 epochs (50,000 history rows) with the columns a real
sweep writes (per-class recalls, confusion matrices, an ASHA-like share stopped early).

    python bench/analyze_scale.py [--trials 1000] [--epochs 50]

Prints the time of each command (in-process, as a user runs them) and one JSON line.
Goal: analyze under 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd

from sweeplab import files, spaces, store
from sweeplab.cli import main as sweeplab

CLASSES = ("N", "S", "V", "F", "Q")


def synthetic_store(folder: Path, trials: int, epochs: int, stopped: float, seed: int = 0) -> None:
    """Trials whose macro F1 rises with hidden size and falls at high LR; ``stopped`` of
    them stopped early (ASHA rungs 4 and 16), one in 97 failed, one in 5 overfits."""
    rng = np.random.default_rng(seed)
    t_rows, h_rows = [], []
    for i in range(trials):
        tid = f"t{i:05d}"
        config = {
            "cell": "gru",
            "hidden_dim": int(rng.choice([32, 64, 128])),
            "n_layers": int(rng.integers(1, 4)),
            "bidirectional": bool(rng.integers(0, 2)),
            "lr": float(10 ** rng.uniform(-3, math.log10(0.05))),
            "label_smoothing": float(rng.choice([0.0, 0.1])),
            "epochs": epochs,
        }
        ceiling = 0.6 + 0.3 * config["hidden_dim"] / 128 - 4 * config["lr"]
        runs = int(rng.choice([4, 16])) if rng.random() < stopped else epochs
        status, error = "TERMINATED", None
        if i % 97 == 0:
            status, error = "ERROR", "RuntimeError: CUDA error: an illegal memory access was encountered"
        for e in range(1, runs + 1):
            f1 = ceiling * (1 - math.exp(-e / 8)) + rng.normal(0, 0.01)
            matrix = (rng.integers(0, 50, size=(5, 5)) + np.eye(5, dtype=int) * 400).tolist()
            h_rows.append(
                {
                    "trial_id": tid,
                    "epoch": e,
                    "training_iteration": e,
                    "train_loss": 1.2 * math.exp(-e / 10) + 0.05,
                    "val_loss": 1.0 * math.exp(-e / 12) + 0.1 + (0.002 * e if i % 5 == 0 else 0),
                    "val_accuracy": min(0.99, f1 + 0.08),
                    "val_macro_f1": f1,
                    "val_weighted_f1": f1 + 0.05,
                    **{f"val_recall_{c}": float(rng.uniform(0.5, 1)) for c in CLASSES},
                    "val_confusion_matrix": json.dumps(matrix),
                    "lr": config["lr"],
                    "epoch_seconds": 2.0,
                    "train_seconds": 1.8,
                    "early_stopped": False,
                    "device": "cpu",
                    "time_total_s": 2.0 * e,
                }
            )
        last = h_rows[-1]
        best = max(r["val_macro_f1"] for r in h_rows[-runs:])
        t_rows.append(
            {
                "trial_id": tid,
                "status": status,
                "preset": None,
                "error": error,
                **{f"config/{k}": v for k, v in config.items()},
                **{k: v for k, v in last.items() if k != "trial_id"},
                "iterations": runs,
                "wall_time_s": 2.0 * runs,
                "best/val_macro_f1": best,
            }
        )
    store.write_frame(str(folder / store.TRIALS), pd.DataFrame(t_rows))
    store.write_frame(str(folder / store.HISTORY), pd.DataFrame(h_rows))
    files.write_json(
        str(folder / store.SWEEP_JSON),
        {
            "experiment": "seqclf",
            "metric": "val_macro_f1",
            "mode": "max",
            "scheduler": "asha",
            "searcher": "optuna",
            "seed": seed,
            "name": "scale",
            "space": spaces.find("seqclf_gru").read_text(),
            "space_file": "seqclf_gru.yaml",
            "scheduler_options": {"name": "asha", "max_t": epochs},
            "presets": {},
        },
    )


def timed(argv: list[str]) -> float:
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = sweeplab(argv)
    if code != 0:
        raise SystemExit(f"sweeplab {' '.join(argv)} exited {code}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument(
        "--stopped", type=float, default=0.0, help="share of trials stopped early (default 0: every row there)"
    )
    args = p.parse_args()
    with TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scale"
        t0 = time.perf_counter()
        synthetic_store(folder, args.trials, args.epochs, args.stopped)
        build = time.perf_counter() - t0
        rows = len(pd.read_parquet(folder / store.HISTORY))
        t0 = time.perf_counter()  # as a user runs it: a new process, imports included
        subprocess.run(
            [sys.executable, "-m", "sweeplab", "analyze", str(folder)], check=True, stdout=subprocess.DEVNULL
        )
        analyze_cold = time.perf_counter() - t0
        analyze = timed(["analyze", str(folder)])
        best = timed(["best", str(folder), "--where", "hidden_dim <= 64"])
        report = timed(["report", str(folder), "--out", str(Path(tmp) / "report")])
    print(f"store: {args.trials} trials, {rows} history rows (built in {build:.1f} s)")
    print(f"sweeplab analyze: {analyze_cold:.2f} s in a new process (goal < 5 s); {analyze:.2f} s in-process")
    print(f"sweeplab best --where: {best:.2f} s")
    print(f"sweeplab report (tables, 4 plots, HTML, next space): {report:.2f} s")
    print(
        json.dumps(
            {
                "bench": "analyze_scale",
                "trials": args.trials,
                "history_rows": rows,
                "analyze_s": round(analyze_cold, 3),
                "analyze_inprocess_s": round(analyze, 3),
                "best_s": round(best, 3),
                "report_s": round(report, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
