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
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from _common import record, table  # noqa: E402
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
    return trainable.config.from_dict({**exp.smoke, **CASES[exp.id], **sets, "epochs": epochs, "early_stop_patience": 0})


# ---------------------------------------------------------------- clocks and the engine arm


def now() -> np.ndarray:
    """(wall, CPU) seconds. CPU time is this process's (user + system): with one thread it
    is the work done, which other jobs on a shared machine stretch far less than the wall."""
    return np.array([time.perf_counter(), time.process_time()])


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
        rows.append({"engine": e["reported"] - before["resumed"], "engine_train": e["trained"] - e["start"],
                     "engine_val": e["validated"] - e["trained"],
                     # LR schedule, the row, torch.save, LocalSession's copy + history line, model.train()
                     "engine_rest": e["reported"] - e["validated"] + e["start"] - before["resumed"],
                     "hand": h2 - h0, "hand_train": h1 - h0, "hand_val": h2 - h1, "ckpt_mb": np.array([size / 2**20] * 2)})
    return rows


# ---------------------------------------------------------------- the hand arm
# Each hand loop: set-up (untimed), then ``epochs`` x (train, validate); it returns the
# time at the end of each epoch and how long that epoch's training took.


def _clip(cfg: Any, params: Any) -> None:
    if cfg.clip_grad_norm > 0:
        nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm)


def hand_freq(cfg: Any, data: Any) -> Iterator[Any]:
    from sweeplab.models.recurrent import SignalLSTM

    x, y = torch.tensor(data["train"].inputs), torch.tensor(data["train"].targets)
    xv, yv = torch.tensor(data["val"].inputs), torch.tensor(data["val"].targets)
    torch.manual_seed(cfg.seed)
    model = SignalLSTM(x.shape[2], cfg.hidden_size, cfg.num_layers, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        state = None
        for start in range(0, x.shape[1], cfg.seq_length):
            pred, state = model(x[:, start : start + cfg.seq_length], state)
            state = tuple(s.detach() for s in state)
            loss = nn.functional.mse_loss(pred, y[:, start : start + cfg.seq_length])
            opt.zero_grad()
            loss.backward()
            _clip(cfg, model.parameters())
            opt.step()
        t1 = now()
        model.eval()
        with torch.no_grad():  # in chunks carrying the state: faster than one call over 40,000 steps
            state, sq = None, 0.0
            for start in range(0, xv.shape[1], 1000):
                pred, state = model(xv[:, start : start + 1000], state)
                sq += float(((pred - yv[:, start : start + 1000]) ** 2).sum())
            sq / yv.numel()  # val_mse
        yield t0, t1, now()


def hand_seqclf(cfg: Any, data: Any) -> Iterator[Any]:
    from sklearn.metrics import f1_score

    from sweeplab.data.ecg import CLASS_NAMES
    from sweeplab.models.recurrent import SequenceClassifier

    (x, y), (xv, yv) = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in (data["train"], data["val"])]
    torch.manual_seed(cfg.seed)
    model = SequenceClassifier(cfg.cell, len(CLASS_NAMES), cfg.hidden_dim, cfg.n_layers, cfg.bidirectional, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        order = torch.randperm(len(y))
        for start in range(0, len(y), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            loss = loss_fn(model(x[rows]), y[rows])
            opt.zero_grad()
            loss.backward()
            _clip(cfg, model.parameters())
            opt.step()
        t1 = now()
        model.eval()
        with torch.no_grad():
            f1_score(yv.numpy(), model(xv).argmax(1).numpy(), average="macro", zero_division=0)  # val_macro_f1
        yield t0, t1, now()


def hand_imdb(cfg: Any, data: Any) -> Iterator[Any]:
    from sweeplab.models.text import SentimentLSTM

    (x, y), (xv, yv) = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in (data["train"], data["val"])]
    torch.manual_seed(cfg.seed)
    model = SentimentLSTM(cfg.vocab_size, cfg.embedding_dim, cfg.units, cfg.dropout, cfg.recurrent_dropout,
                          cfg.bidirectional)
    decayed = {id(p) for p in model.l2_parameters()}  # Keras' l2 as Adam weight decay, as the config says
    opt = torch.optim.Adam([{"params": model.l2_parameters(), "weight_decay": cfg.weight_decay + 2 * cfg.l2},
                            {"params": [p for p in model.parameters() if id(p) not in decayed]}],
                           lr=cfg.lr, weight_decay=cfg.weight_decay)
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        order = torch.randperm(len(y))
        for start in range(0, len(y), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            loss = nn.functional.binary_cross_entropy_with_logits(model(x[rows]), y[rows].float())
            opt.zero_grad()
            loss.backward()
            _clip(cfg, model.parameters())
            opt.step()
        t1 = now()
        model.eval()
        with torch.no_grad():
            float(((model(xv) > 0).long() == yv).float().mean())  # val_accuracy
        yield t0, t1, now()


def hand_gan(cfg: Any, data: Any) -> Iterator[Any]:
    from sweeplab.models.gan import DigitClassifier, gan

    real = torch.from_numpy(data["train"]).reshape(len(data["train"]), -1).float().div(127.5).sub(1.0)
    classifier = DigitClassifier()
    classifier.load_state_dict(data["classifier"]["state"])
    classifier.eval()
    noise = torch.randn(1000, cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(cfg.seed)
    model = gan(cfg.latent_dim, cfg.hidden)
    g, d = model["g"], model["d"]
    betas = (cfg.beta1, cfg.beta2)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=betas, weight_decay=cfg.weight_decay)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=betas, weight_decay=cfg.weight_decay)
    bce = nn.functional.binary_cross_entropy_with_logits
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        need = cfg.report_every * cfg.d_steps * cfg.batch_size
        order = torch.cat([torch.randperm(len(real)) for _ in range(math.ceil(need / len(real)))])
        for it in range(cfg.report_every):
            for k in range(cfg.d_steps):
                start = (it * cfg.d_steps + k) * cfg.batch_size
                batch = real[order[start : start + cfg.batch_size]]
                with torch.no_grad():
                    fake = g(torch.randn(cfg.batch_size, cfg.latent_dim))
                lr_, lf = d(batch), d(fake)
                loss = bce(lr_, torch.full_like(lr_, 1.0 - cfg.label_smoothing)) + bce(lf, torch.zeros_like(lf))
                opt_d.zero_grad()
                loss.backward()
                _clip(cfg, d.parameters())
                opt_d.step()
            logits = d(g(torch.randn(cfg.batch_size, cfg.latent_dim)))
            loss = bce(logits, torch.ones_like(logits))
            opt_g.zero_grad()
            loss.backward()
            _clip(cfg, g.parameters())
            opt_g.step()
        t1 = now()
        model.eval()
        with torch.no_grad():
            float((classifier(g(noise)).softmax(1).max(1).values >= 0.9).float().mean())  # recognisable
        yield t0, t1, now()


def hand_seq2seq(cfg: Any, data: Any) -> Iterator[Any]:
    import sacrebleu

    from sweeplab.data.seqdata import PAD
    from sweeplab.models.seq2seq import Seq2seq

    src, src_len, tgt = (torch.from_numpy(a) for a in (data.splits["train"].src, data.splits["train"].src_len,
                                                       data.splits["train"].tgt))
    val = data.splits["val"]
    vs, vn = torch.from_numpy(val.src[: cfg.eval_examples]), torch.from_numpy(val.src_len[: cfg.eval_examples])
    vs = vs[:, : int(vn.max())]
    refs = [data.detokenize(r) for r in val.refs[: cfg.eval_examples]]
    torch.manual_seed(cfg.seed)
    model = Seq2seq(len(data.src_vocab), len(data.tgt_vocab), cfg.cell, cfg.embedding_dim, cfg.hidden_size, cfg.layers,
                    cfg.attention, cfg.dropout, cfg.recurrent_dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        order = torch.randperm(len(src_len))
        for start in range(0, len(src_len), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            n = src_len[rows]
            s, t = src[rows][:, : int(n.max())], tgt[rows]
            t = t[:, : int((t != PAD).sum(1).max())]  # columns that are padding in every row
            logits = model(s, n, t, teacher_forcing=cfg.teacher_forcing)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), t.flatten(), ignore_index=PAD)
            opt.zero_grad()
            loss.backward()
            _clip(cfg, model.parameters())
            opt.step()
        t1 = now()
        model.eval()
        ids = model.greedy(vs, vn, int(1.5 * int(vn.max())) + 5)
        hyps = [data.detokenize(data.tokens(row)) for row in ids.tolist()]
        sacrebleu.corpus_bleu(hyps, [refs], force=True).score  # val_bleu
        yield t0, t1, now()


def hand_videomae(cfg: Any, data: Any) -> Iterator[Any]:
    from sweeplab.models.videomae import IMAGENET_MEAN, IMAGENET_STD, build_videomae
    from sweeplab.trainables.videomae import random_resized_crop

    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    crops = torch.Generator().manual_seed(cfg.seed)

    def clips(split: str, rows: Any, train: bool) -> torch.Tensor:
        x = torch.from_numpy(np.stack([np.load(data.clips[split][i]) for i in rows])).permute(0, 1, 4, 2, 3).float() / 255
        if train and cfg.augment:
            x = random_resized_crop(x, crops, cfg.crop_scale, cfg.hflip)
        return (x - mean) / std

    y, yv = torch.from_numpy(data.labels["train"]), torch.from_numpy(data.labels["val"])
    counts = np.bincount(data.labels["train"], minlength=len(data.class_names))
    inverse = 1.0 / np.maximum(counts, 1.0)
    weight = torch.tensor(inverse / inverse.mean(), dtype=torch.float32) if cfg.class_weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)
    torch.manual_seed(cfg.seed)
    model = build_videomae(len(data.class_names), size=cfg.model_size, num_frames=cfg.num_frames,
                           image_size=cfg.image_size, dropout=cfg.dropout, class_names=data.class_names)
    params = list(model.parameters())  # AdamW, no decay on biases and norms, as the config says
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2]},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                            lr=cfg.lr, weight_decay=cfg.weight_decay)
    yield None  # set up
    while True:
        t0 = now()
        model.train()
        order = torch.randperm(len(y))
        for start in range(0, len(y), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            loss = loss_fn(model(clips("train", rows.tolist(), True)).logits, y[rows])
            opt.zero_grad()
            loss.backward()
            _clip(cfg, model.parameters())
            opt.step()
        t1 = now()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(clips("val", range(s, min(s + cfg.batch_size, len(yv))), False)).logits.argmax(1)
                              for s in range(0, len(yv), cfg.batch_size)])
            float((pred == yv).float().mean())  # val_accuracy
        yield t0, t1, now()


HAND: dict[str, Callable[[Any, Any], Iterator[Any]]] = {
    "freq": hand_freq, "seqclf": hand_seqclf, "imdb": hand_imdb, "gan": hand_gan, "seq2seq": hand_seq2seq,
    "videomae": hand_videomae,
}


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
        out.update({f"engine_{clock}_s": med["engine"], f"hand_{clock}_s": med["hand"],
                    # each engine epoch against the hand epoch run right after it: robust to drifting load
                    f"{clock}_ratio": statistics.median(float(p["engine"][i] / p["hand"][i]) for p in pairs)})
        if clock == "cpu":
            out.update({"engine_train_cpu_s": med["engine_train"], "hand_train_cpu_s": med["hand_train"],
                        "train_cpu_ratio": statistics.median(float(p["engine_train"][1] / p["hand_train"][1]) for p in pairs),
                        "engine_val_cpu_s": med["engine_val"], "hand_val_cpu_s": med["hand_val"],
                        "engine_rest_cpu_ms": 1000 * med["engine_rest"], "engine_rest_wall_ms": 1000 * float(
                            statistics.median(float(p["engine_rest"][0]) for p in pairs)), "ckpt_mb": med["ckpt_mb"]})
    out.update({"epochs_timed": len(pairs), "config": {**CASES[name], **sets, "epochs": epochs},
                "epochs_s": {f"{arm}_{clock}": [round(float(p[arm][i]), 4) for p in pairs]
                             for arm in ("engine", "hand") for clock, i in (("wall", 0), ("cpu", 1))}})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5, help="epochs a run (>= 3: the first and last are not timed)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each arm, interleaved")
    p.add_argument("--only", default=",".join(CASES), help="comma-separated trainables")
    p.add_argument("--cache", help="data cache folder (default: $SWEEPLAB_CACHE or ~/.cache/sweeplab)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every trainable run (e.g. with --only seq2seq: train_size=4000)")
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
        print(f"{name}: engine {r['engine_wall_s']:.3f} s wall / {r['engine_cpu_s']:.3f} s CPU, hand {r['hand_wall_s']:.3f} / "
              f"{r['hand_cpu_s']:.3f}, ratio {r['wall_ratio']:.3f} wall / {r['cpu_ratio']:.3f} CPU", flush=True)
    print(f"\nmedian seconds an epoch over {rows[0]['epochs_timed']} epochs an arm ({args.repeats} runs of {args.epochs} "
          "epochs, first and last left out), 1 thread; ratio = median over epochs of engine epoch / the hand epoch "
          "run right after it; goal: ratio <= 1.05")
    print(table(rows, ["trainable", "batch", "engine_wall_s", "hand_wall_s", "wall_ratio", "engine_cpu_s", "hand_cpu_s",
                       "cpu_ratio"]))
    print("\nwhere the CPU time goes (seconds an epoch, medians; rest = LR schedule, row, checkpoint written and "
          "copied, history line)")
    print(table(rows, ["trainable", "engine_train_cpu_s", "hand_train_cpu_s", "train_cpu_ratio", "engine_val_cpu_s",
                       "hand_val_cpu_s", "engine_rest_cpu_ms", "engine_rest_wall_ms", "ckpt_mb"]))
    record("throughput", {"goal_ratio": 1.05, "epochs": args.epochs, "repeats": args.repeats, "threads": 1, "note": args.note,
                          "load_average": os.getloadavg(), "rows": rows})


if __name__ == "__main__":
    main()
