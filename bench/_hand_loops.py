"""The hand arm of bench/throughput.py: for each trainable, a minimal hand-written loop of
the same model class (same init seed) on the same data arrays, batch size, loss,
optimizer and clipping, validating each epoch with only the metric the sweep follows
(``HAND[experiment](cfg, data)``); and ``now()``, the clock both arms read."""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn


def now() -> np.ndarray:
    """(wall, CPU) seconds. CPU time is this process's (user + system): with one thread it
    is the work done, which other jobs on a shared machine stretch far less than the wall."""
    return np.array([time.perf_counter(), time.process_time()])


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
    model = SentimentLSTM(
        cfg.vocab_size, cfg.embedding_dim, cfg.units, cfg.dropout, cfg.recurrent_dropout, cfg.bidirectional
    )
    decayed = {id(p) for p in model.l2_parameters()}  # Keras' l2 as Adam weight decay, as the config says
    opt = torch.optim.Adam(
        [
            {"params": model.l2_parameters(), "weight_decay": cfg.weight_decay + 2 * cfg.l2},
            {"params": [p for p in model.parameters() if id(p) not in decayed]},
        ],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
    )
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

    src, src_len, tgt = (
        torch.from_numpy(a) for a in (data.splits["train"].src, data.splits["train"].src_len, data.splits["train"].tgt)
    )
    val = data.splits["val"]
    vs, vn = torch.from_numpy(val.src[: cfg.eval_examples]), torch.from_numpy(val.src_len[: cfg.eval_examples])
    vs = vs[:, : int(vn.max())]
    refs = [data.detokenize(r) for r in val.refs[: cfg.eval_examples]]
    torch.manual_seed(cfg.seed)
    model = Seq2seq(
        len(data.src_vocab),
        len(data.tgt_vocab),
        cfg.cell,
        cfg.embedding_dim,
        cfg.hidden_size,
        cfg.layers,
        cfg.attention,
        cfg.dropout,
        cfg.recurrent_dropout,
    )
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
        _ = sacrebleu.corpus_bleu(hyps, [refs], force=True).score  # val_bleu: computed for its time, not kept
        yield t0, t1, now()


def hand_videomae(cfg: Any, data: Any) -> Iterator[Any]:
    from sweeplab.models.videomae import IMAGENET_MEAN, IMAGENET_STD, build_videomae
    from sweeplab.trainables.videomae import random_resized_crop

    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    crops = torch.Generator().manual_seed(cfg.seed)

    def clips(split: str, rows: Any, train: bool) -> torch.Tensor:
        x = (
            torch.from_numpy(np.stack([np.load(data.clips[split][i]) for i in rows])).permute(0, 1, 4, 2, 3).float()
            / 255
        )
        if train and cfg.augment:
            x = random_resized_crop(x, crops, cfg.crop_scale, cfg.hflip)
        return (x - mean) / std

    y, yv = torch.from_numpy(data.labels["train"]), torch.from_numpy(data.labels["val"])
    counts = np.bincount(data.labels["train"], minlength=len(data.class_names))
    inverse = 1.0 / np.maximum(counts, 1.0)
    weight = torch.tensor(inverse / inverse.mean(), dtype=torch.float32) if cfg.class_weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)
    torch.manual_seed(cfg.seed)
    model = build_videomae(
        len(data.class_names),
        size=cfg.model_size,
        num_frames=cfg.num_frames,
        image_size=cfg.image_size,
        dropout=cfg.dropout,
        class_names=data.class_names,
    )
    params = list(model.parameters())  # AdamW, no decay on biases and norms, as the config says
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2]},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
    )
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
            pred = torch.cat(
                [
                    model(clips("val", range(s, min(s + cfg.batch_size, len(yv))), False)).logits.argmax(1)
                    for s in range(0, len(yv), cfg.batch_size)
                ]
            )
            float((pred == yv).float().mean())  # val_accuracy
        yield t0, t1, now()


HAND: dict[str, Callable[[Any, Any], Iterator[Any]]] = {
    "freq": hand_freq,
    "seqclf": hand_seqclf,
    "imdb": hand_imdb,
    "gan": hand_gan,
    "seq2seq": hand_seq2seq,
    "videomae": hand_videomae,
}
