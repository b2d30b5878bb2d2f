"""What the TorchTrainer (DDP) path costs against the in-process path: one freq trial,
same config, run once in the Tune trial's own process and once as a TorchTrainer with
N workers driven from the trial.

    python bench/torchtrainer_cost.py [--workers 2] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

from sweeplab import plan, session, store, tuning  # noqa: E402


def one(tmp: str, name: str, workers: int, epochs: int, cpus: float) -> dict:
    opts = plan.SweepOptions(
        target="freq",
        smoke=True,
        num_samples=1,
        scheduler="fifo",
        search="random",
        sets=[f"epochs={epochs}", "duration=2.0"],
        workers_per_trial=workers,
        cpus_per_trial=cpus,
        storage=tmp,
        name=name,
        verbose=0,
    )
    t0 = time.perf_counter()
    prep = plan.prepare(opts)
    tuning.run(prep)
    wall = time.perf_counter() - t0
    hist = store.read_frame(store.join(prep.uri, store.HISTORY))
    trials = store.read_frame(store.join(prep.uri, store.TRIALS))
    return {
        "path": f"{'TorchTrainer, ' + str(workers) + ' workers' if workers > 1 else 'in-process'}",
        "sweep wall s": wall,
        "trial s": float(trials["wall_time_s"].iloc[0]),
        "median epoch s": float(hist["epoch_seconds"].median()),
        "val_mse": float(hist["val_mse"].iloc[-1]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    session.init_ray(None, 2)
    with TemporaryDirectory() as tmp:
        rows = [
            one(tmp, "inproc", 1, args.epochs, 1.0),
            one(tmp, "ddp", args.workers, args.epochs, 2.0 / args.workers - 0.05),
        ]
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
