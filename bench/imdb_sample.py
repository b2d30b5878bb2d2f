"""imdb (report 001, part A): preset `report` on fastai's 1,000-review IMDb sample.

Validation is the sample's 200 is_valid rows; test is a seeded, stratified 20% of the
other 800 (test_fraction), held out of training.

    python bench/imdb_sample.py [--data ../shared/data/imdb/imdb_sample_texts.csv] [--set lr=1e-3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, table  # noqa: E402

from sweeplab.local_training import single_config, train_one  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED_DATA / "imdb" / "imdb_sample_texts.csv"))
    p.add_argument("--presets", nargs="+", default=["report"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    rows = []
    for preset in args.presets:
        exp, cfg, _ = single_config("imdb", preset, None, [f"data={args.data}", *args.set], smoke=False)
        data = exp.load().load_data(cfg)  # the token cache makes train_one's own load a re-read
        with TemporaryDirectory() as out:
            t0 = time.perf_counter()
            row = train_one(exp, cfg, Path(out), threads=1)
            history = [json.loads(line) for line in (Path(out) / "history.jsonl").read_text().splitlines()]
        rows.append(
            {
                "preset": preset,
                "train/val/test rows": "/".join(str(len(data[s][1])) for s in ("train", "val", "test")),
                "epochs": row["epoch"],
                "best val_accuracy": max(h["val_accuracy"] for h in history),
                "last val_accuracy": row["val_accuracy"],
                "train_accuracy": row["train_accuracy"],
                "test_accuracy": row["test_accuracy"],
                "seconds": time.perf_counter() - t0,
            }
        )
        print("test confusion matrix (rows real neg,pos; columns predicted):", json.loads(row["test_confusion_matrix"]))
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
