"""seqclf (report 000): a preset (default GRU `original`) on real MIT-BIH rows, scored on
a held-out test split.

    python bench/seqclf_ecg.py [--data ../shared/data/ecg/mitbih_train_sample.csv] [--space seqclf_lstm]
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
    p.add_argument("--data", default=str(SHARED_DATA / "ecg" / "mitbih_train_sample.csv"))
    p.add_argument("--space", default="seqclf_gru")
    p.add_argument("--presets", nargs="+", default=["original"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    rows = []
    for preset in args.presets:
        exp, cfg, _ = single_config(args.space, preset, None, [f"data={args.data}", *args.set], smoke=False)
        data = exp.load().load_data(cfg)  # only for the split sizes; cheap next to training
        with TemporaryDirectory() as out:
            t0 = time.perf_counter()
            row = train_one(exp, cfg, Path(out), threads=1)
        rows.append(
            {
                "space": args.space,
                "preset": preset,
                "train/val/test rows": "/".join(str(len(data[s][1])) for s in ("train", "val", "test")),
                "epochs": row["epoch"],
                "val_macro_f1": row["val_macro_f1"],
                "test_accuracy": row["test_accuracy"],
                "test_macro_f1": row["test_macro_f1"],
                "seconds": time.perf_counter() - t0,
            }
        )
        print(
            "test confusion matrix (rows real N,S,V,F,Q; columns predicted):", json.loads(row["test_confusion_matrix"])
        )
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
