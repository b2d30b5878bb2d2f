"""The epoch budget across a kill: a user's own trainable under the default search, its
driver stopped with Ctrl-C (SIGINT) part-way, then `sweeplab resume`d; the epochs trained
in all against the budget.

    python bench/kill_budget.py [--at 0.5,0.8,0.9] [--checkpoint]

The trainable (written here) sleeps 0.3 s an epoch, 12 epochs a trial, and saves no
checkpoint unless --checkpoint: a promoted trial then restarts at epoch 1, and a trial the
endgame was finishing when the driver stopped trains again from epoch 1 after the resume.
The sweep: `sweeplab tune --trainable ... --space ...` with the README's W&B shape (bayes:
promotion ASHA + RungTPE), num_samples 10 (a budget of 120 epochs), 2 CPUs. One run goes
unstopped; then one run per fraction f of --at is stopped once the store holds f x 120
epochs (the store's journal, read every 0.2 s), and resumed. Per run: the epochs the store holds at the stop, the epochs trained in
all (repeats included: trials.parquet's epochs_trained) and the limit, budget + 12 a worker
(the trials running when the budget runs out may finish).

Prints the table and appends it to bench/results/kill_budget.jsonl.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402
from _common import record, table  # noqa: E402

from sweeplab import store  # noqa: E402

EPOCHS, SAMPLES, CPUS = 12, 10, 2
TRAINABLE = """
import json, os, tempfile, time
from ray import tune

def objective(config):
    start = 1
    checkpoint = tune.get_checkpoint() if config["checkpoint"] else None
    if checkpoint:
        with checkpoint.as_directory() as folder:
            start = json.load(open(os.path.join(folder, "state.json")))["epoch"] + 1
    for epoch in range(start, config["epochs"] + 1):
        time.sleep(0.3)
        val_loss = (config["lr"] - 0.01) ** 2 + 1 / epoch
        if config["checkpoint"]:
            with tempfile.TemporaryDirectory() as folder:
                json.dump({"epoch": epoch}, open(os.path.join(folder, "state.json"), "w"))
                tune.report({"val_loss": val_loss}, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report({"val_loss": val_loss})
"""
SPACE = """
method: bayes
metric: {{name: val_loss, goal: minimize}}
parameters:
  lr: {{distribution: log_uniform_values, min: 1e-4, max: 1e-1}}
  epochs: {{value: {epochs}}}
  checkpoint: {{value: {checkpoint}}}
"""


def trained(folder: Path) -> int:
    """Epochs trained, repeats included, as the store holds them (a running sweep's journal included)."""
    if not (folder / "sweep.json").exists():
        return 0
    try:
        trials, _ = store.read_tables(str(folder), "val_loss", "min")
    except (OSError, ValueError):  # a file being rewritten this instant: read again next time
        return 0
    if trials is None or "epochs_trained" not in trials:
        return 0
    return int(pd.to_numeric(trials["epochs_trained"], errors="coerce").fillna(0).sum())


def sweep(work: Path, name: str, stop_at: int | None) -> dict:
    """One sweep; stopped with SIGINT once the store holds ``stop_at`` epochs, and resumed, where given."""
    cmd = [sys.executable, "-m", "sweeplab"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    tune = cmd + ["tune", "--trainable", f"{work / 'mine.py'}:objective", "--space", str(work / "space.yaml")]
    tune += ["--name", name, "--storage", str(work / "sweeps"), "--num-samples", str(SAMPLES)]
    tune += ["--num-cpus", str(CPUS), "--seed", "0", "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(tune, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stopped_at = None
    if stop_at is not None:
        while proc.poll() is None and trained(work / "sweeps" / name) < stop_at:
            time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the driver stops its own Ray and exits
            proc.wait(timeout=120)
            stopped_at = trained(work / "sweeps" / name)
    proc.wait()
    wall = time.perf_counter() - t0
    if stopped_at is not None:
        resume = subprocess.run(cmd + ["resume", str(work / "sweeps" / name)], env=env, capture_output=True)
        if resume.returncode != 0:
            raise SystemExit(f"kill_budget: resume failed (exit {resume.returncode}): {resume.stderr.decode()[-2000:]}")
    return {"wall_s": wall, "stopped_at": stopped_at, "trained": trained(work / "sweeps" / name)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--at", default="0.5,0.8,0.9", help="when to stop, as fractions of the epoch budget trained")
    p.add_argument("--checkpoint", action="store_true", help="the trainable saves a checkpoint each epoch")
    args = p.parse_args()
    try:
        fractions = [float(f) for f in args.at.split(",")]
    except ValueError:
        fractions = []
    if not fractions or not all(0 < f < 1 for f in fractions):
        print(
            f"kill_budget: --at {args.at!r}: expected fractions of the budget between 0 and 1, like 0.5,0.8",
            file=sys.stderr,
        )
        raise SystemExit(2)
    budget, limit = SAMPLES * EPOCHS, SAMPLES * EPOCHS + EPOCHS * CPUS
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mine.py").write_text(TRAINABLE)
        (work / "space.yaml").write_text(SPACE.format(epochs=EPOCHS, checkpoint=str(args.checkpoint).lower()))
        plain = sweep(work, "unstopped", None)
        runs = [{"stop": "never", **plain}]
        for f in fractions:
            runs.append({"stop": f"at {round(f * budget)} epochs", **sweep(work, f"stop{f:g}", round(f * budget))})
    rows = [
        {
            "stopped": r["stop"],
            "epochs at the stop": "-" if r["stopped_at"] is None else r["stopped_at"],
            "epochs trained in all": r["trained"],
            f"within {limit} (budget {budget} + {EPOCHS} a worker)": "yes" if r["trained"] <= limit else "NO",
        }
        for r in runs
    ]
    print(table(rows, list(rows[0])))
    record(
        "kill_budget",
        {"checkpoint": args.checkpoint, "budget": budget, "limit": limit, "epochs_a_trial": EPOCHS, "runs": runs},
    )


if __name__ == "__main__":
    main()
