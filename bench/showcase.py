"""The README's main command, measured: ``sweeplab tune freq_clean`` exactly as a user runs
it (a subprocess, no flag but where to store), its wall time, and how much its chosen trial
beats the sweep's first preset (report 004's initial configuration) on the sweep metric.

    python bench/showcase.py [--space freq_clean] [--seed N]

Goal (issue 18): >= 20 % better than the first preset, <= 3 minutes on 2 CPUs; and (issue 30)
from half the sweep's epochs on, its best so far at or ahead of the dashboard's "random
search, expected" line. Prints the figures and appends them to bench/results/showcase.jsonl.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record, table  # noqa: E402

from sweeplab import spaces  # noqa: E402
from sweeplab.analysis import load  # noqa: E402
from sweeplab.dashboard import insight  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="freq_clean", help="a shipped space (default: freq_clean)")
    p.add_argument("--seed", type=int, help="the sweep's --seed (default: none given, as the README runs it)")
    args = p.parse_args()
    spec = spaces.load(spaces.resolve_target(args.space, None)[1], None, None)
    first = next(iter(spec.presets))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "sweeplab", "tune", args.space, "--storage", tmp, "--name", "s"]
            + ([] if args.seed is None else ["--seed", str(args.seed)]),
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(
                f"showcase: the sweep failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        metric, mode = spec.metric, spec.mode
        sweep = load.load_sweep(str(Path(tmp) / "s"))
        trials, curve = sweep.trials, insight.best_so_far(sweep)
    ahead = ahead_of_random(curve)
    col = f"best/{metric}"
    preset = float(trials.loc[trials["preset"] == first, col].iloc[0])
    best = float(trials[col].min() if mode == "min" else trials[col].max())
    gain = (preset - best) / preset if mode == "min" else (best - preset) / preset
    chosen = next((ln for ln in done.stdout.splitlines() if ln.startswith("chosen:")), "")
    rows = [
        {"what": "wall time of `sweeplab tune " + args.space + "` (s), Ray's start included", "value": wall},
        {"what": "trials", "value": len(trials)},
        {"what": f"first preset ({first}) best {metric}", "value": preset},
        {"what": f"sweep's best {metric}", "value": best},
        {"what": "improvement over the first preset (goal >= 20 %)", "value": f"{100 * gain:.1f} %"},
        {"what": "output lines", "value": len(done.stdout.splitlines()) + len(done.stderr.splitlines())},
        {
            "what": "epochs from half the sweep on where its best so far is at or ahead of random search's expected "
            "(the dashboard's line; goal: all)",
            "value": "no line (fewer than three trials reached their budget)"
            if ahead is None
            else f"{ahead[0]} of {ahead[1]}",
        },
    ]
    print(table(rows, ["what", "value"]))
    print(chosen)
    record(
        "showcase",
        {
            "space": args.space,
            "seed": args.seed,
            "wall_s": wall,
            "trials": len(trials),
            "first_preset": first,
            "preset_value": preset,
            "best_value": best,
            "improvement": gain,
            "metric": metric,
            "chosen_line": chosen,
            "random_line_from": curve["random"]["from_trials"] if curve["random"] else None,
            "random_line_extended": curve["random"]["extended"] if curve["random"] else None,
            "epochs_at_or_ahead_of_random": ahead[0] if ahead else None,
            "epochs_from_half": ahead[1] if ahead else None,
        },
    )


def ahead_of_random(curve: dict) -> tuple[int, int] | None:
    """(epochs from half the sweep's epochs on where its best so far is at or ahead of random
    search's expected best, those epochs), from the dashboard's best-so-far view."""
    if not curve["random"]:
        return None
    high = curve["mode"] == "max"
    half = len(curve["epochs"]) // 2
    pairs = [(b, r) for b, r in zip(curve["best"][half:], curve["random"]["values"][half:]) if r is not None]
    ahead = sum(1 for b, r in pairs if b is not None and (b >= r if high else b <= r))
    return ahead, len(pairs)


if __name__ == "__main__":
    main()
