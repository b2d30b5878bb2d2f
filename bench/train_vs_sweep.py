"""``sweeplab train`` against the same preset inside a sweep: seconds an epoch, each as a
user runs it (subprocesses, default threads, nothing else set).

    python bench/train_vs_sweep.py [--target freq] [--preset tuned] [--epochs 4]

The sweep is ``sweeplab tune TARGET --space FILE`` with a space file holding that one preset
(fifo, random search, num_samples 1: the preset alone); ``train`` is ``sweeplab train TARGET --preset P``. Both with
``--set epochs=N``. Each one's epoch time is the median of the engine's own
``epoch_seconds`` (the store's history in the sweep, history.jsonl for train), the first
epoch left out (warm-up). Goal (issue 18): train within 1.2x of the sweep's epoch.
Prints a table, then one JSON line appended to bench/results/train_vs_sweep.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml  # noqa: E402
from _common import record, table  # noqa: E402

from sweeplab import spaces, store  # noqa: E402

GOAL = 1.2


def run(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sweeplab", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    if done.returncode != 0:
        raise SystemExit(
            f"sweeplab {' '.join(argv)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="freq")
    p.add_argument("--preset", default="tuned")
    p.add_argument("--epochs", type=int, default=4)
    args = p.parse_args()
    spec = spaces.load(spaces.resolve_target(args.target, None)[1], None, None)
    if args.preset not in spec.presets:
        raise SystemExit(f"--preset {args.preset}: not a preset of {args.target}; presets: {', '.join(spec.presets)}")
    with tempfile.TemporaryDirectory() as tmp:
        raw = spaces.loads(spec.text) or {}
        raw.update(scheduler="fifo", method="random", num_samples=1, presets={args.preset: raw["presets"][args.preset]})
        raw.pop("time_budget", None)
        space = Path(tmp) / "one.yaml"
        space.write_text(yaml.safe_dump(raw, sort_keys=False))
        run(
            [
                "tune",
                args.target,
                "--space",
                str(space),
                "--storage",
                tmp,
                "--name",
                "s",
                "--quiet",
                "--set",
                f"epochs={args.epochs}",
            ]
        )
        _, history = store.read_tables(str(Path(tmp) / "s"), spec.metric, spec.mode)
        in_sweep = steady([float(v) for v in history.sort_values("training_iteration")["epoch_seconds"]])
        out = Path(tmp) / "train"
        run(["train", args.target, "--preset", args.preset, "--out", str(out), "--set", f"epochs={args.epochs}"])
        rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines() if line.strip()]
        alone = steady([float(r["epoch_seconds"]) for r in rows if "epoch_seconds" in r])
    figures = {
        "target": args.target,
        "preset": args.preset,
        "epochs": args.epochs,
        "sweep_epoch_s": in_sweep,
        "train_epoch_s": alone,
        "ratio": alone / in_sweep,
        "goal": GOAL,
        "goal_met": alone / in_sweep <= GOAL,
    }
    print(
        table(
            [{"run": "sweep (one trial)", "s/epoch": in_sweep}, {"run": "train", "s/epoch": alone}], ["run", "s/epoch"]
        )
    )
    print(f"train / sweep: {figures['ratio']:.2f} (goal <= {GOAL})")
    record("train_vs_sweep", figures)


if __name__ == "__main__":
    main()
