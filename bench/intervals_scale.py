"""Intervals at scale: the paired bootstrap of ``analysis/intervals.py`` and ``bootstrap.py``
on a synthetic results store of 1,000 seqclf trials, each with its validation predictions
(17,000 rows, 5 imbalanced classes) as the engine stores them (``val_predictions`` JSON in
trials.parquet).

    python bench/intervals_scale.py [--trials 1000] [--rows 17000] [--no-record]

Prints the time of each step (load the store, decode the predictions, the bootstrap of
macro F1 and of accuracy, then ``analyze`` and ``best`` in-process and ``analyze`` in a new
process) and appends them to bench/results/intervals_scale.jsonl. Goal: the bootstrap of the
sweep metric under a few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import record  # noqa: E402

from sweeplab import files, spaces, store  # noqa: E402
from sweeplab.analysis import bootstrap, intervals, load  # noqa: E402
from sweeplab.cli import main as sweeplab  # noqa: E402
from sweeplab.metrics import class_predictions  # noqa: E402

SHARES = (0.6, 0.2, 0.1, 0.07, 0.03)


def synthetic_store(folder: Path, trials: int, rows: int, epochs: int = 3, seed: int = 0) -> None:
    """Trials of accuracy 0.55-0.95 (errors uniform over the classes) on the same rows."""
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(seed)
    y = rng.choice(len(SHARES), size=rows, p=SHARES)
    t_rows, h_rows = [], []
    for i in range(trials):
        tid = f"t{i:05d}"
        keep = rng.random(rows) < rng.uniform(0.55, 0.95)
        pred = np.where(keep, y, rng.integers(0, len(SHARES), rows))
        f1 = float(f1_score(y, pred, average="macro", zero_division=0))
        acc = float(accuracy_score(y, pred))
        config = {
            "cell": "gru",
            "hidden_dim": int(rng.choice([32, 64, 128])),
            "n_layers": int(rng.integers(1, 4)),
            "bidirectional": bool(rng.integers(0, 2)),
            "lr": float(10 ** rng.uniform(-3, -1.5)),
            "epochs": epochs,
        }
        for e in range(1, epochs + 1):
            last = e == epochs
            h_rows.append(
                {
                    "trial_id": tid,
                    "epoch": e,
                    "training_iteration": e,
                    "is_best": True,
                    "val_macro_f1": f1 * (0.7 + 0.1 * e) if not last else f1,
                    "val_accuracy": acc * (0.7 + 0.1 * e) if not last else acc,
                    "test_macro_f1": f1 - 0.01,
                    "time_total_s": 2.0 * e,
                }
            )
        t_rows.append(
            {
                "trial_id": tid,
                "status": "TERMINATED",
                "preset": None,
                "error": None,
                **{f"config/{k}": v for k, v in config.items()},
                "iterations": epochs,
                "wall_time_s": 2.0 * epochs,
                "best/val_macro_f1": f1,
                "val_predictions": json.dumps(class_predictions(y, pred, len(SHARES), 0)),
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
            "name": "intervals_scale",
            "space": spaces.find("seqclf_gru").read_text(),
            "space_file": "seqclf_gru.yaml",
            "presets": {},
        },
    )


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if sweeplab(argv) != 0:
            raise SystemExit(f"sweeplab {' '.join(argv)} failed")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--rows", type=int, default=17000)
    p.add_argument("--no-record", action="store_true", help="print only; append nothing to bench/results")
    args = p.parse_args()
    with open("/proc/loadavg") as f:
        load_before = float(f.read().split()[0])
    with TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scale"
        t0 = time.perf_counter()
        synthetic_store(folder, args.trials, args.rows)
        build = time.perf_counter() - t0
        figures: dict = {"trials": args.trials, "rows": args.rows, "B": bootstrap.B}
        holder: dict = {}
        figures["load_s"] = timed(lambda: holder.update(sweep=load.load_sweep(str(folder))))
        sweep = holder["sweep"]
        figures["decode_s"] = timed(lambda: intervals._predictions(sweep))
        figures["macro_f1_s"] = timed(lambda: intervals.of(sweep, "val_macro_f1"))
        figures["accuracy_s"] = timed(lambda: intervals.of(sweep, "val_accuracy"))
        boot = intervals.of(sweep)
        figures["ties_with_best"] = len(boot.ties(str(sweep.ranked()["trial_id"].iloc[0]))) - 1
        figures["analyze_inprocess_s"] = timed(lambda: quiet(["analyze", str(folder)]))
        figures["best_inprocess_s"] = timed(lambda: quiet(["best", str(folder)]))
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sweeplab", "analyze", str(folder)], check=True, stdout=subprocess.DEVNULL
        )
        figures["analyze_new_process_s"] = time.perf_counter() - t0
    figures["load_average_before"] = load_before
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(f"store: {args.trials} trials x {args.rows} validation rows (built in {build:.1f} s)")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    if not args.no_record:
        record("intervals_scale", figures)


if __name__ == "__main__":
    main()
