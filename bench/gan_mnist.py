"""gan (report 001, part B): preset `report` (3,000 iterations, a report every 500) on real
MNIST digits; the classifier's score and the losses at each report, and the sample grids.

    python bench/gan_mnist.py [--data ../shared/data/mnist/mnist_5k.csv.gz] [--out DIR] [--set KEY=VALUE]

The grids stay in --out (default: a new folder under the system's temp folder).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, table  # noqa: E402

from sweeplab.local_training import single_config, train_one  # noqa: E402

COLUMNS = [
    "iteration",
    "frechet_distance",
    "recognisable",
    "recognisable_capped",
    "class_entropy",
    "train_d_loss",
    "train_g_loss",
    "d_accuracy_real",
    "d_accuracy_fake",
    "epoch_seconds",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED_DATA / "mnist" / "mnist_5k.csv.gz"))
    p.add_argument("--space", default="gan")
    p.add_argument("--preset", default="report")
    p.add_argument("--out", help="folder for history, checkpoint and sample grids (must not hold a run)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    torch.set_num_threads(args.threads)  # the classifier trains before train_one sets it
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gan_mnist-"))
    exp, cfg, _ = single_config(args.space, args.preset, None, [f"data={args.data}", *args.set], smoke=False)

    t0 = time.perf_counter()
    data = exp.load().load_data(cfg)  # trains the scoring classifier, or reads it from the cache
    t1 = time.perf_counter()
    row = train_one(exp, cfg, out, threads=args.threads)  # its own load_data now hits the cache
    t2 = time.perf_counter()

    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    print(table(history, COLUMNS))
    print(
        f"classifier on {len(data['train'])} training digits: held-out accuracy {row['classifier_accuracy']:.4f}, "
        f"held-out real digits recognisable {row['real_recognisable']:.4f}"
    )
    print(
        f"best epoch {row['epoch']} (by frechet_distance); its test (5,000 generated): Fréchet distance "
        f"{row['test_frechet_distance']:.1f}, recognisable {row['test_recognisable']:.4f}, "
        f"class_entropy {row['test_class_entropy']:.3f} bits"
    )
    print(
        f"wall: classifier {t1 - t0:.1f} s (cached after a first run), GAN {cfg.epochs * cfg.report_every} iterations "
        f"{t2 - t1:.1f} s ({1000 * (t2 - t1) / (cfg.epochs * cfg.report_every):.1f} ms an iteration, reports included)"
    )
    print(f"sample grids in {out}; last: {row.get('sample_grid')}")


if __name__ == "__main__":
    main()
