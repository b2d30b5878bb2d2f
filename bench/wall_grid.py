"""Do the default search's constants hold beyond the 40 trials and 2 workers they were chosen
at? The wall-clock LCBench harness (bench/search_quality.py lcbench --clock wall) on the 8
development tasks x 5 seeds, for every budget x workers cell, with and without checkpoints;
per cell the default's mean rank at 100 % of the time budget, its regret and how many
task-seeds it lost to random search.

    python bench/wall_grid.py [--budgets 10,20,40,80] [--workers 1,2,4] [--methods a,b] [--no-checkpoint]

Every cell runs the methods named (default: the peers that cost under a second a run, so
the grid fits in minutes: random, Ray HyperBand, Optuna TPE + HyperbandPruner, Syne Tune's
promotion ASHA and DEHB; the slower Ray BOHB, Syne Tune BOHB and Ray ASHA + Optuna are in the
40-trial, 2-worker run of search_quality.py itself). Ranks are among the methods run.
Prints a Markdown grid and appends it to bench/results/wall_grid.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import record  # noqa: E402

CHEAP = "random,ray_hyperband,optuna_hyperband,synetune_asha_promotion,synetune_dehb,sweeplab"


def cell(budget: int, workers: int, methods: str, no_checkpoint: bool) -> dict:
    """One search_quality run in a process of its own: its JSON last line's figures."""
    cmd = [
        sys.executable,
        str(HERE / "search_quality.py"),
        "lcbench",
        "--clock",
        "wall",
        "--budget-trials",
        str(budget),
        "--workers",
        str(workers),
        "--methods",
        methods,
        *(["--no-checkpoint"] if no_checkpoint else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["figures"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", default="10,20,40,80", help="budgets, in median full-length trials' time")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--methods", default=CHEAP)
    p.add_argument("--no-checkpoint", action="store_true")
    args = p.parse_args()
    budgets, workers = [int(b) for b in args.budgets.split(",")], [int(w) for w in args.workers.split(",")]
    grid = {}
    for b in budgets:
        for w in workers:
            figures = cell(b, w, args.methods, args.no_checkpoint)
            methods = figures["methods"]
            best_other = min(f["mean_rank"] for n, f in methods.items() if n != figures["default"])
            mine = methods[figures["default"]]
            grid[f"{b}x{w}"] = {
                "rank": mine["mean_rank"],
                "best_other_rank": best_other,
                "regret": mine["regret"]["100"],
                "lost_to_random": mine["lost_to_random"],
                "time_to_random_best": mine.get("time_to_random_best"),
            }
            print(
                f"budget {b} trials, {w} workers: rank {mine['mean_rank']:.3g} (best other {best_other:.3g}), "
                f"regret {mine['regret']['100']:.3f}, lost to random {mine['lost_to_random']}/40",
                flush=True,
            )
    print(
        f"\ndefault's rank at 100 % / lost to random of 40 ({'no ' if args.no_checkpoint else ''}checkpoints; "
        f"methods: {args.methods})\n"
    )
    print("| budget \\ workers | " + " | ".join(str(w) for w in workers) + " |")
    print("|---|" + "---|" * len(workers))
    for b in budgets:
        print(
            f"| {b} trials | "
            + " | ".join(f"{grid[f'{b}x{w}']['rank']:.2f} / {grid[f'{b}x{w}']['lost_to_random']}" for w in workers)
            + " |"
        )
    record("wall_grid", {"checkpoints": not args.no_checkpoint, "methods": args.methods.split(","), "grid": grid})


if __name__ == "__main__":
    main()
