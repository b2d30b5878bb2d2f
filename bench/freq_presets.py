"""freq (report 004): test MSE of the report's presets on the assignment's data, and the
phase noise the LSTM tolerates.

    python bench/freq_presets.py                       # presets initial and tuned
    python bench/freq_presets.py --presets initial tuned serial long large
    python bench/freq_presets.py --noise 0 0.5 1 2 3 6.283 [--set lr=2e-3 ...]

Trains through the same engine as ``sweeplab train`` (one process, one thread), prints
a Markdown table: preset, phase noise, epochs, test MSE, the zero predictor's MSE, seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

from sweeplab.local_training import single_config, train_one  # noqa: E402


def train(preset: str, sets: list[str]) -> dict:
    exp, cfg, _ = single_config("freq", preset, None, sets, smoke=False)
    with TemporaryDirectory() as out:
        t0 = time.perf_counter()
        row = train_one(exp, cfg, Path(out), threads=1)
    return {
        "preset": preset,
        "phase_noise": cfg.phase_noise,
        "hidden": cfg.hidden_size,
        "L": cfg.seq_length,
        "lr": cfg.lr,
        "epochs": row["epoch"],
        "val_mse": row["val_mse"],
        "test_mse": row["test_mse"],
        "zero_mse": row["test_zero_mse"],
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["initial", "tuned"])
    p.add_argument("--noise", nargs="+", type=float, help="phase-noise widths to scan with the first preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    rows = []
    if args.noise:
        for width in args.noise:
            rows.append(train(args.presets[0], [*args.set, f"phase_noise={width}"]))
            print(table(rows[-1:], list(rows[-1])), flush=True)
    else:
        for preset in args.presets:
            rows.append(train(preset, args.set))
            print(table(rows[-1:], list(rows[-1])), flush=True)
    print()
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
