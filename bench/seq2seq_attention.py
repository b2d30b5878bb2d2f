"""seq2seq (report 003): attention or not, and teacher forcing p = 1 or 0, after a fixed
small budget.

  1. reverse, source lengths 30-50: val BLEU / exact match without and with attention
  2. a Multi30k subset (de -> en, word tokens): BLEU without and with attention
  3. p = 1 against p = 0: teacher-forced loss beside free-running BLEU (exposure bias)

    python bench/seq2seq_attention.py [--data ../shared/data/multi30k] [--epochs 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, table  # noqa: E402

from sweeplab import registry  # noqa: E402
from sweeplab.local_training import train_one  # noqa: E402
from sweeplab.trainables.seq2seq import Seq2seqConfig  # noqa: E402

EXP = registry.get("seq2seq")


def run(study: str, **values) -> dict:
    cfg = Seq2seqConfig.from_dict(values)
    with TemporaryDirectory() as out:
        t0 = time.perf_counter()
        row = train_one(EXP, cfg, Path(out), threads=1)
    return {
        "study": study,
        "attention": cfg.attention,
        "p": cfg.teacher_forcing,
        "epochs": row["epoch"],
        "train_loss": row["train_loss"],
        "val_loss": row["val_loss"],
        "val_ppl": row["val_perplexity"],
        "val_bleu": row["val_bleu"],
        "val_exact": row["val_exact_match"],
        "test_bleu": row["test_bleu"],
        "test_edit": row["test_edit_distance"],
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED_DATA / "multi30k"))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--pairs", type=int, default=5000, help="Multi30k training pairs (and at most that many val)")
    args = p.parse_args()
    t0, rows = time.perf_counter(), []
    long = {"task": "reverse", "min_len": 30, "max_len": 50, "train_size": 3000, "epochs": args.epochs}
    for attention in ("none", "additive"):
        rows.append(run("1 reverse 30-50", attention=attention, **long))
    if Path(args.data).is_dir():
        text = {
            "data": args.data,
            "max_rows": args.pairs,
            "tokens": "word",
            "min_count": 2,
            "epochs": args.epochs,
            "hidden_size": 256,
            "embedding_dim": 128,
            "dropout": 0.2,
        }
        for attention in ("none", "additive"):
            rows.append(run("2 multi30k", attention=attention, **text))
    else:
        print(f"{args.data}: absent; study 2 skipped")
    short = {"task": "reverse", "min_len": 10, "max_len": 30, "train_size": 3000, "epochs": args.epochs}
    for tf in (1.0, 0.0):
        rows.append(run("3 exposure bias", attention="additive", teacher_forcing=tf, **short))
    print(table(rows, list(rows[0])))
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
