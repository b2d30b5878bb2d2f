"""What a sweep's choice is worth: the user's three commands, run as a user runs them.

    sweeplab tune TARGET [--set ...]                (the default sweep of TARGET's space)
    sweeplab best SWEEP --out best.yaml             (the chosen config and its epoch)
    sweeplab train EXPERIMENT --config best.yaml    (trains it again to that epoch, tests it)

Prints the sweep's wall time, the chosen trial and why, whether `train` reproduced the
chosen validation figure (to 3 decimals), its held-out test figures, and for the gan its
final recognisable share and class entropy; appends them to bench/results/choice.jsonl.

    python bench/choice.py seqclf_gru --set data=FOLDER     # FOLDER: mitbih_train.csv + mitbih_test.csv
    python bench/choice.py gan --set data=../shared/data/mnist/mnist_5k.csv.gz
    python bench/choice.py freq
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record  # noqa: E402

SWEEPLAB = str(Path(sys.executable).with_name("sweeplab"))


def run(*argv: str) -> str:
    done = subprocess.run([SWEEPLAB, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"`sweeplab {' '.join(argv)}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="experiment id or shipped space, as `sweeplab tune` takes it")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to tune (data=...)")
    p.add_argument("--storage", help="sweeps folder (default: a new temporary one)")
    p.add_argument("--sweep", help="an existing sweep folder: skip `tune`, choose and train from it")
    args = p.parse_args()
    storage = Path(args.storage or tempfile.mkdtemp(prefix="choice-"))
    sets = [part for kv in args.set for part in ("--set", kv)]

    wall = None
    sweep = Path(args.sweep) if args.sweep else storage / "sweep"
    if not args.sweep:
        t0 = time.perf_counter()
        run("tune", args.target, *sets, "--storage", str(storage), "--name", "sweep", "--quiet")
        wall = time.perf_counter() - t0
    meta = json.loads((sweep / "sweep.json").read_text())
    best_file = storage / "best.yaml"
    reason = run("best", str(sweep), "--out", str(best_file)).splitlines()[0]
    chosen = yaml.safe_load(best_file.read_text())["chosen"]
    out = storage / "train"
    t0 = time.perf_counter()
    run("train", meta["experiment"], "--config", str(best_file), "--out", str(out))
    train_wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    metric = chosen["metric"]
    figures = {
        "target": args.target,
        "sets": args.set,
        "sweep_wall_s": wall,
        "train_wall_s": train_wall,
        "chosen_trial": chosen["trial"],
        "chosen_epoch": chosen["epoch"],
        "reason": reason,
        "metric": metric,
        "chosen_value": chosen["value"],
        "trained_value": metrics.get(metric),
        "reproduced_3dp": round(metrics.get(metric, float("nan")), 3) == round(chosen["value"], 3),
        "test": {k: v for k, v in metrics.items() if k.startswith("test_") and isinstance(v, (int, float))},
    }
    for key in ("recognisable", "class_entropy", "recognisable_capped"):
        if key in metrics:
            figures[key] = metrics[key]
    print(f"sweep {sweep} ({'%.0f s' % wall if wall else 'given'}); chosen: {reason}")
    print(
        f"train --config: {metric} {metrics.get(metric)} at epoch {metrics.get('epoch')} "
        f"(chosen: {chosen['value']}; reproduced to 3 decimals: {figures['reproduced_3dp']})"
    )
    print(
        "held-out test: "
        + ", ".join(f"{k}={v:.4g}" for k, v in figures["test"].items() if "recall" not in k and "loss" not in k)
    )
    record("choice", figures)


if __name__ == "__main__":
    main()
