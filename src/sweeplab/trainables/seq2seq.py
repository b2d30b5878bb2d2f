"""``seq2seq``: LSTM / GRU encoder-decoder with or without attention (report 003).

Teacher forcing with a linear decay, truncated BPTT, recurrent dropout on the decoder
state, greedy and beam decoding, on generated tasks (copy, reverse, sort, addition) or
aligned parallel text. Teacher-forced loss and perplexity are scored on the whole split;
BLEU, edit distance and exact match on free-running output, where exposure bias shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, cast

import torch
from torch import nn

from ..config import BaseConfig
from ..data.batching import epoch_batches
from ..data.seqdata import PAD, SeqData, Split, generated_task, load_parallel
from ..data.splits import tensor
from ..engine import NonFiniteLoss, Session, make_optimizer
from ..errors import UserError
from ..metrics import sequence_metrics
from ..models.seq2seq import Seq2seq
from . import Trainable

EVAL_BATCH = 256


@dataclass(frozen=True)
class Seq2seqConfig(BaseConfig):
    """Defaults: the generated reverse task, lengths 10-30, a one-layer LSTM with additive
    attention; a real but short run on a CPU."""

    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = 32
    hidden_size: int = 128
    layers: int = 1
    attention: Literal["none", "additive", "dot", "general"] = "additive"
    dropout: float = 0.1  # on embeddings, between stacked layers and before the output layer
    recurrent_dropout: float = 0.0  # one mask per sequence on the decoder state between steps
    teacher_forcing: float = 1.0  # p: the chance that a step's input is the gold token
    tf_decay_to: Optional[float] = None  # p goes linearly from teacher_forcing (epoch 1) to this (last epoch)
    tbptt_length: int = 0  # > 0: the target in chunks of this many steps, one backward each
    beam_size: int = 1  # > 1: beam search for the free-running metrics
    eval_examples: int = 200  # validation rows decoded each epoch (test decodes all its rows)
    lr: float = 3e-3
    epochs: int = 8
    batch_size: int = 64
    clip_grad_norm: float = 1.0
    # generated task (data = None)
    task: Literal["copy", "reverse", "sort", "addition"] = "reverse"
    n_symbols: int = 10
    min_len: int = 10
    max_len: int = 30
    train_size: int = 4000
    val_size: int = 500
    test_size: int = 500
    # parallel text (data = a folder of {train,val[,test]}.{src_lang,tgt_lang}[.gz])
    src_lang: str = "de"
    tgt_lang: str = "en"
    tokens: Literal["word", "char"] = "word"
    min_count: int = 2  # rarer training tokens become <unk>
    max_rows: int = 0  # > 0: the first rows of each file only, for smoke runs
    data_seed: int = 0  # data and splits keep their rows while trials vary ``seed``
    cache_dir: Optional[str] = None  # token cache; None: $SWEEPLAB_CACHE or ~/.cache/sweeplab

    # None changes a parameter's shape, so a PBT restore still fits the model.
    HOT_FIELDS = (
        *BaseConfig.HOT_FIELDS,
        "dropout",
        "recurrent_dropout",
        "teacher_forcing",
        "tf_decay_to",
        "tbptt_length",
        "beam_size",
        "eval_examples",
    )
    PATH_FIELDS = {**BaseConfig.PATH_FIELDS, "cache_dir": False}

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        self.require_fraction("dropout", "recurrent_dropout")
        for key in ("teacher_forcing", "tf_decay_to"):
            value = getattr(self, key)
            if value is not None and not 0 <= value <= 1:
                raise UserError(f"{name}: key '{key}' must be in [0, 1], got {value}")
        self.require_at_least(
            (
                ("embedding_dim", 1),
                ("hidden_size", 1),
                ("layers", 1),
                ("batch_size", 1),
                ("tbptt_length", 0),
                ("beam_size", 1),
                ("eval_examples", 1),
                ("n_symbols", 2),
                ("min_len", 3 if self.task == "addition" else 1),
                ("train_size", 1),
                ("val_size", 1),
                ("test_size", 1),
                ("min_count", 1),
                ("max_rows", 0),
            )
        )
        if self.max_len < self.min_len:
            raise UserError(f"{name}: key 'max_len' must be >= min_len ({self.min_len}), got {self.max_len}")


def load_data(cfg: Seq2seqConfig) -> SeqData:
    if cfg.data is None:
        sizes = {"train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size}
        return generated_task(
            cfg.task, sizes=sizes, min_len=cfg.min_len, max_len=cfg.max_len, n_symbols=cfg.n_symbols, seed=cfg.data_seed
        )
    data = load_parallel(
        cfg.data,
        src_lang=cfg.src_lang,
        tgt_lang=cfg.tgt_lang,
        unit=cfg.tokens,
        min_count=cfg.min_count,
        max_rows=cfg.max_rows,
        seed=cfg.data_seed,
        cache_dir=cfg.cache_dir,
    )
    for split, rows in data.splits.items():
        if len(rows) == 0:
            raise UserError(f"{cfg.data}: the {split} split is empty; give more sentence pairs")
    return data


def _unwrap(model: nn.Module) -> Seq2seq:
    return cast(Seq2seq, getattr(model, "module", model))  # DDP wraps it in .module


class Seq2seqTask:
    """Trains through the engine's manual path: truncated BPTT needs one backward per chunk
    and one optimizer step per batch, which a single returned loss cannot express."""

    def __init__(self, cfg: Seq2seqConfig, data: SeqData, session: Session):
        if session.world_size > 1:
            raise UserError(
                "seq2seq: runs on one worker (it calls the model's encode/decode, "
                "which DDP's gradient sync does not see); set workers: 1"
            )
        self.cfg, self.data, self.session = cfg, data, session
        self.device = session.device()
        self.splits = {name: self._tensors(split) for name, split in data.splits.items()}
        self.teacher_forcing = cfg.teacher_forcing

    def _tensors(self, split: Split) -> tuple[torch.Tensor, ...]:
        return tuple(tensor(a).to(self.device) for a in (split.src, split.src_len, split.tgt))

    def build_model(self) -> nn.Module:
        c = self.cfg
        return Seq2seq(
            len(self.data.src_vocab),
            len(self.data.tgt_vocab),
            c.cell,
            c.embedding_dim,
            c.hidden_size,
            c.layers,
            c.attention,
            c.dropout,
            c.recurrent_dropout,
        )

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"": make_optimizer(self.cfg, model.parameters())}  # "": the engine reports it as plain lr

    def on_epoch_start(self, epoch: int) -> None:
        c = self.cfg
        if c.tf_decay_to is None or c.epochs == 1:
            self.teacher_forcing = c.teacher_forcing
        else:
            self.teacher_forcing = c.teacher_forcing + (c.tf_decay_to - c.teacher_forcing) * (epoch - 1) / (
                c.epochs - 1
            )

    def train_batches(self, epoch: int):
        src, src_len, tgt = self.splits["train"]
        for rows in epoch_batches(src.shape[0], self.cfg.batch_size, self.cfg.seed, epoch, self.session, self.device):
            yield _trim(src[rows], src_len[rows], tgt[rows])

    def manual_step(
        self, model: nn.Module, batch: Any, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        """Truncated BPTT: the decoder state is detached between chunks, so no backward
        reaches further back than one chunk of the decoder. The encoder is run once and
        its outputs stay attached: each chunk's loss backpropagates through the attention
        into the encoder (``retain_graph`` keeps the encoder's graph alive until the last
        chunk), so the encoder gets the gradient of every target position, and the
        accumulated gradients are clipped and applied in one step per batch. Stepping per
        chunk instead would change the encoder's weights under a graph that later chunks
        still need. Each chunk's loss is its token sum over the batch's token count, so
        the chunks add up to the batch's mean token loss (the untruncated loss exactly)."""
        src, src_len, tgt = batch
        optimizer = optimizers[""]
        optimizer.zero_grad(set_to_none=True)
        net = _unwrap(model)
        memory = net.encode(src, src_len)
        state = net.start(memory)
        tokens = (tgt != PAD).sum().clamp(min=1)
        width = self.cfg.tbptt_length or tgt.shape[1]
        total = 0.0
        for start in range(0, tgt.shape[1], width):
            gold = tgt[:, start : start + width]
            logits, state = net.decode(memory, state, gold, self.teacher_forcing)
            loss = (
                nn.functional.cross_entropy(
                    logits.float().flatten(0, 1), gold.flatten(), ignore_index=PAD, reduction="sum"
                )
                / tokens
            )
            value = loss.item()  # one read serves the check and the total
            if not math.isfinite(value):
                raise NonFiniteLoss(value)
            loss.backward(retain_graph=start + width < tgt.shape[1])
            state = state.detach()
            total += value
        if self.cfg.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), self.cfg.clip_grad_norm)
        optimizer.step()
        return {"loss": total}

    def decode(self, model: nn.Module, src: torch.Tensor, src_len: torch.Tensor) -> list[tuple[str, ...]]:
        """Greedy, or beam search when beam_size > 1; up to 1.5x the longest source + 5 tokens."""
        net, out = _unwrap(model), []
        for start in range(0, src.shape[0], EVAL_BATCH):
            s, n = src[start : start + EVAL_BATCH], src_len[start : start + EVAL_BATCH]
            s = s[:, : int(n.max())]
            steps = int(1.5 * int(n.max())) + 5
            ids = (
                net.greedy(s, n, steps) if self.cfg.beam_size == 1 else net.beam_search(s, n, self.cfg.beam_size, steps)
            )
            out += [self.data.tokens(row) for row in ids.tolist()]
        return out

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        src, src_len, tgt = self.splits[split]
        net = _unwrap(model)
        nll, count = 0.0, 0
        for start in range(0, src.shape[0], EVAL_BATCH):
            s, n, t = _trim(
                src[start : start + EVAL_BATCH], src_len[start : start + EVAL_BATCH], tgt[start : start + EVAL_BATCH]
            )
            logits = net(s, n, t, teacher_forcing=1.0)
            nll += float(
                nn.functional.cross_entropy(
                    logits.float().flatten(0, 1), t.flatten(), ignore_index=PAD, reduction="sum"
                )
            )
            count += int((t != PAD).sum())
        loss = nll / max(1, count)
        rows = min(src.shape[0], self.cfg.eval_examples) if split == "val" else src.shape[0]
        hyps = self.decode(model, src[:rows], src_len[:rows])
        refs = self.data.splits[split].refs[:rows]
        out = {
            f"{split}_loss": loss,
            f"{split}_perplexity": math.exp(min(loss, 50.0)),
            **sequence_metrics(hyps, refs, self.data.detokenize, prefix=f"{split}_"),
        }
        if split == "val":
            out["teacher_forcing"] = self.teacher_forcing
        return out


def _trim(src: torch.Tensor, src_len: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cut the columns that are padding in every row: the arrays are padded to the longest
    sequence of the whole split, and each column is a step of the recurrence."""
    tgt_len = int((tgt != PAD).sum(1).max())
    return src[:, : int(src_len.max())], src_len, tgt[:, :tgt_len]


TRAINABLE = Trainable(
    Seq2seqConfig,
    Seq2seqTask,
    load_data,
    # cache_dir is left out: it moves the cache, not the data.
    data_fields=(
        "task",
        "n_symbols",
        "min_len",
        "max_len",
        "train_size",
        "val_size",
        "test_size",
        "src_lang",
        "tgt_lang",
        "tokens",
        "min_count",
        "max_rows",
        "data_seed",
    ),
)
