"""``imdb``: Embedding + LSTM sentiment classifier on IMDb reviews (report 001, part A)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, cast

import torch
from torch import nn

from ..config import BaseConfig
from ..data.text import CLASS_NAMES, Splits, load_imdb
from ..data.batching import epoch_batches
from ..data.splits import require_rows, to_device
from ..engine import Session
from ..errors import UserError
from ..metrics import class_predictions, classification_metrics, majority_class
from ..models.text import SentimentLSTM
from . import Trainable

EVAL_BATCH = 512  # evaluation only holds activations, so it takes bigger batches


@dataclass(frozen=True)
class ImdbConfig(BaseConfig):
    """Defaults are the report's recipe (preset ``report`` in imdb.yaml)."""

    embedding_dim: int = 128
    units: int = 64
    bidirectional: bool = False
    dropout: float = 0.5  # Keras LSTM(dropout=...): on the LSTM's inputs, one mask per sequence
    recurrent_dropout: float = 0.3  # on h between steps, one mask per sequence
    l2: float = 1e-4  # Keras l2(...) on the LSTM kernels and the dense kernel
    lr: float = 2e-4
    epochs: int = 10
    batch_size: int = 64
    clip_grad_norm: float = 1.0
    lr_schedule: Literal["none", "plateau", "cosine"] = "plateau"
    plateau_patience: int = 1
    early_stop_patience: int = 3
    # The report does not give them; these are the usual course values.
    vocab_size: int = 10000  # embedding rows: 0 = padding, 1 = <unk>, then the top vocab_size - 2 words
    maxlen: int = 200
    padding: Literal["pre", "post"] = "pre"  # Keras' defaults
    truncating: Literal["pre", "post"] = "pre"
    val_fraction: float = 0.2  # of aclImdb's train folder (the CSV has its own is_valid rows)
    test_fraction: float = 0.2  # of the CSV's non-validation rows, or of the synthetic set
    data_seed: int = 0  # splits keep their rows while trials vary ``seed``
    max_rows: int = 0  # > 0: a stratified subset of each file / folder, for smoke runs
    synthetic_size: int = 2000  # reviews generated when no data is given
    cache_dir: Optional[str] = None  # token cache; None: $SWEEPLAB_CACHE or ~/.cache/sweeplab

    # Shape-neutral: read when the model and its optimizer groups are built (a restore
    # keeps this config's weight decay over the checkpoint's).
    HOT_FIELDS = (*BaseConfig.HOT_FIELDS, "dropout", "recurrent_dropout", "l2")
    PATH_FIELDS = {**BaseConfig.PATH_FIELDS, "cache_dir": False}

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        self.require_fraction("dropout", "recurrent_dropout")
        if not (0 < self.val_fraction and 0 < self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise UserError(f"{name}: keys 'val_fraction' and 'test_fraction' must be > 0 and sum to < 1")
        if self.l2 < 0:
            raise UserError(f"{name}: key 'l2' must be >= 0, got {self.l2}")
        self.require_at_least(
            (
                ("embedding_dim", 1),
                ("units", 1),
                ("vocab_size", 3),
                ("maxlen", 1),
                ("batch_size", 1),
                ("synthetic_size", 10),
                ("max_rows", 0),
            )
        )


def load_data(cfg: ImdbConfig) -> Splits:
    splits = load_imdb(
        cfg.data,
        vocab_size=cfg.vocab_size,
        maxlen=cfg.maxlen,
        padding=cfg.padding,
        truncating=cfg.truncating,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.data_seed,
        max_rows=cfg.max_rows,
        synthetic_size=cfg.synthetic_size,
        cache_dir=cfg.cache_dir,
    )
    require_rows(splits, cfg.data or f"synthetic_size={cfg.synthetic_size}", "reviews")
    return splits


class ImdbTask:
    def __init__(self, cfg: ImdbConfig, data: Splits, session: Session):
        self.cfg, self.session = cfg, session
        self.device = session.device()
        self.splits = to_device(data, self.device)
        self.loss_fn = nn.BCEWithLogitsLoss()  # the logit, not the sigmoid: stable for confident reviews
        self._train_hits = torch.zeros(2, device=self.device)  # correct, seen

    def build_model(self) -> nn.Module:
        c = self.cfg
        return SentimentLSTM(c.vocab_size, c.embedding_dim, c.units, c.dropout, c.recurrent_dropout, c.bidirectional)

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """Keras' l2(λ) adds λ·Σw² to the loss, a gradient of 2λw; Adam's weight_decay adds
        wd·w to the gradient, so the weight matrices get wd = 2·l2 (on top of weight_decay)."""
        weights = cast(SentimentLSTM, getattr(model, "module", model)).l2_parameters()  # DDP wraps it in .module
        chosen = {id(p) for p in weights}
        rest = [p for p in model.parameters() if id(p) not in chosen]
        return [{"params": weights, "weight_decay": self.cfg.weight_decay + 2 * self.cfg.l2}, {"params": rest}]

    def on_epoch_start(self, epoch: int) -> None:
        self._train_hits.zero_()

    def train_batches(self, epoch: int):
        x, y = self.splits["train"]
        for rows in epoch_batches(x.shape[0], self.cfg.batch_size, self.cfg.seed, epoch, self.session, self.device):
            yield x[rows], y[rows]

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        logits = model(x)
        with torch.no_grad():  # train accuracy as Keras shows it: over the epoch's batches, dropout on
            self._train_hits[0] += ((logits > 0).long() == y).sum()
            self._train_hits[1] += len(y)
        return self.loss_fn(logits.float(), y.float())

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        x, y = self.splits[split]
        loss, preds = 0.0, []
        for start in range(0, x.shape[0], EVAL_BATCH):
            logits = model(x[start : start + EVAL_BATCH]).float()
            target = y[start : start + EVAL_BATCH].float()
            loss += float(nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
            preds.append((logits > 0).long())
        y_pred, y_true = torch.cat(preds).cpu().numpy(), y.cpu().numpy()
        metrics = classification_metrics(y_true, y_pred, CLASS_NAMES, prefix=f"{split}_")
        out = {f"{split}_loss": loss / max(1, x.shape[0]), **metrics}
        if split == "val":
            majority = majority_class(self.splits["train"][1].cpu().numpy(), len(CLASS_NAMES))
            out["predictions"] = class_predictions(y_true, y_pred, len(CLASS_NAMES), majority)
            hits = self._train_hits.clone()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(hits)  # every worker saw its own shard
            out["train_accuracy"] = float(hits[0] / hits[1].clamp(min=1))
        return out


TRAINABLE = Trainable(
    ImdbConfig,
    ImdbTask,
    load_data,
    # cache_dir is left out: it moves the cache, not the data.
    data_fields=(
        "vocab_size",
        "maxlen",
        "padding",
        "truncating",
        "val_fraction",
        "test_fraction",
        "data_seed",
        "max_rows",
        "synthetic_size",
    ),
)
