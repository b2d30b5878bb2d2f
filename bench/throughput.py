"""What the engine costs over a plain loop: each trainable's epoch through ``engine.fit``
(LocalSession, the path of ``sweeplab train``: per-epoch validation, checkpoint, report)
against a minimal hand-written loop of the same model class (same init seed), the same
data arrays, batch size, loss, optimizer and clipping, with one thread for both (a trial
gets one CPU). The hand loop validates each epoch too, computing only the metric the
sweep follows; where the Task is faster than the plain way, so is the hand loop (freq
validates in chunks, seq2seq trims all-padding columns, videomae reads the same cached
clip files per batch with the same random resized crop). Goal: engine / hand <= 1.05.

    python bench/throughput.py [--epochs 5] [--repeats 3] [--only freq,gan] [--set KEY=VALUE] [--cache DIR]

Timing. The arms alternate epoch by epoch in one process: after each of the engine's
reports returns, one epoch of the hand loop runs (on a forked random stream), so the
two see the same background load. The engine's epoch runs from the hand epoch's end to
its next report's return: training, validation, LR schedule, checkpoint written and
copied, history row. The hand epoch is its training plus its validation. Each run
trains ``--epochs`` epochs from scratch, ``--repeats`` times; the first epoch (after
set-up, warming caches) and the last (the engine adds the test evaluation there, once a
trial) are left out. Both wall and CPU time (the process's user + system) are taken:
on a machine shared with other jobs the wall time of an epoch swings by 2x, CPU time
by a few %, so the CPU ratio is the one to judge (on an idle machine they agree, up to
the checkpoint's disk writes). Times are medians over epochs; a ratio is the median
over epochs of engine epoch / the hand epoch run right after it. The engine's epoch is
split with a thin subclass of its Task that notes when the batches start and run out
and when validation returns (it changes nothing the Task does).

Human lines (a Markdown table), then one JSON line; figures are appended to
bench/results/throughput.jsonl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from _common import record, table  # noqa: E402
from _hand_loops import HAND, now  # noqa: E402
from torch import nn  # noqa: E402

from sweeplab import engine, registry  # noqa: E402
from sweeplab.local_training import LocalSession  # noqa: E402

# Per trainable: overrides on top of the experiment's smoke budget, sized so an epoch takes
# about 0.5-3 s on one thread here. No early stopping, so every run has all its epochs.
CASES: dict[str, dict[str, Any]] = {
    "freq": {"duration": 40.0},  # 4 sequences x 40,000 steps, chunks of 50: 800 steps an epoch
    "seqclf": {"synthetic_size": 400},
    "imdb": {"synthetic_size": 2000, "max_rows": 0},
    "gan": {"report_every": 100},
    "seq2seq": {"train_size": 500, "val_size": 100, "eval_examples": 100},
    "videomae": {"synthetic_size": 400, "synthetic_classes": 10, "max_rows": 0, "num_frames": 16},
}


def config(exp: registry.Experiment, trainable: Any, epochs: int, sets: dict[str, Any]) -> Any:
    return trainable.config.from_dict(
        {**exp.smoke, **CASES[exp.id], **sets, "epochs": epochs, "early_stop_patience": 0}
    )


# ---------------------------------------------------------------- clocks and the engine arm


def timed_task(cls: type) -> type:
    """The trainable's own Task, noting when its epoch's batches start and run out and when
    validation returns; what it does is unchanged."""

    class Timed(cls):
        def train_batches(self, epoch: int):
            self.stamps = {"start": now()}
            yield from super().train_batches(epoch)
            self.stamps["trained"] = now()

        def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
            out = super().evaluate(model, split)
            if split == "val":
                self.stamps["validated"] = now()
            return out

    return Timed


class PairedSession(LocalSession):
    """LocalSession as is. After each report returns (checkpoint copied, history row
    written) it notes the time, runs one epoch of the hand loop and notes the time again:
    the arms alternate epoch by epoch, so background load hits both alike. The hand epoch
    runs on a forked random stream, so the engine's stream is that of a lone run."""

    def __init__(self, out: str, hand: Iterator[Any], tasks: list):
        super().__init__(Path(out), cpus=1, echo=lambda _: None, device="cpu")
        self.hand, self.tasks = hand, tasks
        self.epochs: list[dict[str, np.ndarray]] = []

    def report(self, metrics: dict[str, Any], checkpoint_dir: Any) -> None:
        super().report(metrics, checkpoint_dir)
        stamps = {**self.tasks[-1].stamps, "reported": now()}
        with torch.random.fork_rng(devices=[]):
            stamps["hand"] = next(self.hand)
        stamps["resumed"] = now()
        self.epochs.append(stamps)


def paired_run(exp: registry.Experiment, trainable: Any, cfg: Any, data: Any) -> list[dict[str, np.ndarray]]:
    """One run of ``cfg.epochs`` epochs of each arm; (wall, CPU) pairs for each timed
    epoch (the second to the last but one)."""
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]):
        hand = HAND[exp.id](cfg, data)
        next(hand)  # set-up, untimed
    tasks: list = []
    task_cls = timed_task(trainable.task)

    def factory(*args: Any) -> Any:
        tasks.append(task_cls(*args))
        return tasks[-1]

    with tempfile.TemporaryDirectory(prefix="throughput-") as out:
        session = PairedSession(out, hand, tasks)
        engine.fit(factory, cfg, data, session, engine.Monitor(exp.metric, exp.mode))
        size = (Path(out) / "checkpoint" / engine.STATE_FILE).stat().st_size
    assert len(session.epochs) == cfg.epochs, f"{exp.id}: {len(session.epochs)} of {cfg.epochs} epochs"
    rows = []
    for before, e in zip(session.epochs[:-2], session.epochs[1:-1]):
        h0, h1, h2 = e["hand"]
        rows.append(
            {
                "engine": e["reported"] - before["resumed"],
                "engine_train": e["trained"] - e["start"],
                "engine_val": e["validated"] - e["trained"],
                # LR schedule, the row, torch.save, LocalSession's copy + history line, model.train()
                "engine_rest": e["reported"] - e["validated"] + e["start"] - before["resumed"],
                "hand": h2 - h0,
                "hand_train": h1 - h0,
                "hand_val": h2 - h1,
                "ckpt_mb": np.array([size / 2**20] * 2),
            }
        )
    return rows


# ---------------------------------------------------------------- main


def batch_label(name: str, cfg: Any) -> str:
    if name == "freq":
        return f"{len(cfg.frequencies)} seq x {cfg.seq_length} steps"
    return str(cfg.batch_size)


def measure(name: str, epochs: int, repeats: int, sets: dict[str, Any]) -> dict[str, Any]:
    exp = registry.get(name)
    trainable = exp.load()
    cfg = config(exp, trainable, epochs, sets)
    torch.set_num_threads(1)
    data = trainable.load_data(cfg)
    pairs = [pair for _ in range(repeats) for pair in paired_run(exp, trainable, cfg, data)]
    out: dict[str, Any] = {"trainable": name, "batch": batch_label(name, cfg)}
    for clock, i in (("wall", 0), ("cpu", 1)):
        med = {k: statistics.median(float(p[k][i]) for p in pairs) for k in pairs[0]}
        out.update(
            {
                f"engine_{clock}_s": med["engine"],
                f"hand_{clock}_s": med["hand"],
                # each engine epoch against the hand epoch run right after it: robust to drifting load
                f"{clock}_ratio": statistics.median(float(p["engine"][i] / p["hand"][i]) for p in pairs),
            }
        )
        if clock == "cpu":
            out.update(
                {
                    "engine_train_cpu_s": med["engine_train"],
                    "hand_train_cpu_s": med["hand_train"],
                    "train_cpu_ratio": statistics.median(
                        float(p["engine_train"][1] / p["hand_train"][1]) for p in pairs
                    ),
                    "engine_val_cpu_s": med["engine_val"],
                    "hand_val_cpu_s": med["hand_val"],
                    "engine_rest_cpu_ms": 1000 * med["engine_rest"],
                    "engine_rest_wall_ms": 1000 * float(statistics.median(float(p["engine_rest"][0]) for p in pairs)),
                    "ckpt_mb": med["ckpt_mb"],
                }
            )
    out.update(
        {
            "epochs_timed": len(pairs),
            "config": {**CASES[name], **sets, "epochs": epochs},
            "epochs_s": {
                f"{arm}_{clock}": [round(float(p[arm][i]), 4) for p in pairs]
                for arm in ("engine", "hand")
                for clock, i in (("wall", 0), ("cpu", 1))
            },
        }
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5, help="epochs a run (>= 3: the first and last are not timed)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each arm, interleaved")
    p.add_argument("--only", default=",".join(CASES), help="comma-separated trainables")
    p.add_argument("--cache", help="data cache folder (default: $SWEEPLAB_CACHE or ~/.cache/sweeplab)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every trainable run (e.g. with --only seq2seq: train_size=4000)",
    )
    p.add_argument("--note", default="", help="a remark stored with the figures")
    args = p.parse_args()
    if args.epochs < 3:
        p.error("--epochs must be >= 3")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for n in names:
        if n not in CASES:
            p.error(f"unknown trainable {n!r}; known: {', '.join(CASES)}")
    sets = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item!r}: expected KEY=VALUE")
        sets[key] = yaml.safe_load(value)
    if args.cache:
        os.environ["SWEEPLAB_CACHE"] = args.cache  # clips, tokens, the GAN's digit classifier
    rows = []
    for name in names:
        rows.append(measure(name, args.epochs, args.repeats, sets))
        r = rows[-1]
        print(
            f"{name}: engine {r['engine_wall_s']:.3f} s wall / {r['engine_cpu_s']:.3f} s CPU, hand {r['hand_wall_s']:.3f} / "
            f"{r['hand_cpu_s']:.3f}, ratio {r['wall_ratio']:.3f} wall / {r['cpu_ratio']:.3f} CPU",
            flush=True,
        )
    print(
        f"\nmedian seconds an epoch over {rows[0]['epochs_timed']} epochs an arm ({args.repeats} runs of {args.epochs} "
        "epochs, first and last left out), 1 thread; ratio = median over epochs of engine epoch / the hand epoch "
        "run right after it; goal: ratio <= 1.05"
    )
    print(
        table(
            rows,
            [
                "trainable",
                "batch",
                "engine_wall_s",
                "hand_wall_s",
                "wall_ratio",
                "engine_cpu_s",
                "hand_cpu_s",
                "cpu_ratio",
            ],
        )
    )
    print(
        "\nwhere the CPU time goes (seconds an epoch, medians; rest = LR schedule, row, checkpoint written and "
        "copied, history line)"
    )
    print(
        table(
            rows,
            [
                "trainable",
                "engine_train_cpu_s",
                "hand_train_cpu_s",
                "train_cpu_ratio",
                "engine_val_cpu_s",
                "hand_val_cpu_s",
                "engine_rest_cpu_ms",
                "engine_rest_wall_ms",
                "ckpt_mb",
            ],
        )
    )
    record(
        "throughput",
        {
            "goal_ratio": 1.05,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "threads": 1,
            "note": args.note,
            "load_average": os.getloadavg(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
