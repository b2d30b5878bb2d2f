"""The README's main command, measured: ``sweeplab tune freq_clean`` exactly as a user runs
it (a subprocess, no flag but where to store), its wall time, and how much its chosen trial
beats the sweep's first preset (report 004's initial configuration) on the sweep metric.

    python bench/showcase.py [--space freq_clean]

Goal (issue 18): >= 20 % better than the first preset, <= 3 minutes on 2 CPUs. Prints the
figures and appends them to bench/results/showcase.jsonl.
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

from sweeplab import spaces, store  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="freq_clean", help="a shipped space (default: freq_clean)")
    args = p.parse_args()
    spec = spaces.load(spaces.resolve_target(args.space, None)[1], None, None)
    first = next(iter(spec.presets))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "sweeplab", "tune", args.space, "--storage", tmp, "--name", "s"],
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
        trials, _ = store.read_tables(str(Path(tmp) / "s"), metric, mode)
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
    ]
    print(table(rows, ["what", "value"]))
    print(chosen)
    record(
        "showcase",
        {
            "space": args.space,
            "wall_s": wall,
            "trials": len(trials),
            "first_preset": first,
            "preset_value": preset,
            "best_value": best,
            "improvement": gain,
            "metric": metric,
            "chosen_line": chosen,
        },
    )


if __name__ == "__main__":
    main()
