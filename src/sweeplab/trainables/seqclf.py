"""``seqclf``: GRU / LSTM heartbeat classifier on MIT-BIH-format beats (report 000)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..config import BaseConfig
from ..data.ecg import CLASS_NAMES, Splits, load_mitbih, synthetic_splits
from ..data.batching import epoch_batches
from ..data.splits import require_rows, to_device
from ..engine import Session
from ..errors import UserError
from ..metrics import class_predictions, classification_metrics, majority_class
from ..models.recurrent import SequenceClassifier
from . import Trainable

EVAL_BATCH = 1024  # evaluation only holds activations, so it takes far bigger batches


@dataclass(frozen=True)
class SeqclfConfig(BaseConfig):
    cell: Literal["gru", "lstm"] = "gru"
    hidden_dim: int = 64
    n_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.2
    label_smoothing: float = 0.0
    class_weighted: bool = False  # weights 1/count, so minority classes count as much
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 64
    synthetic_size: int = 4000  # beats generated when no data is given
    max_rows: int = 0  # > 0: a stratified subset of each file, for smoke runs
    val_fraction: float = 0.15
    test_fraction: float = 0.15  # unused with the Kaggle pair, whose test file is the test set
    # The split has its own seed so that trials that vary ``seed`` score on the same rows.
    data_seed: int = 0

    # Read when the model and loss are built, not stored in a checkpoint: PBT may change them.
    HOT_FIELDS = (*BaseConfig.HOT_FIELDS, "dropout", "label_smoothing", "class_weighted")

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if not (0 < self.val_fraction and 0 < self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise UserError(f"{name}: keys 'val_fraction' and 'test_fraction' must be > 0 and sum to < 1")
        self.require_fraction("label_smoothing")
        self.require_at_least(
            (("hidden_dim", 1), ("n_layers", 1), ("batch_size", 1), ("synthetic_size", 1), ("max_rows", 0))
        )


def load_data(cfg: SeqclfConfig) -> Splits:
    if cfg.data is None:
        splits = synthetic_splits(cfg.synthetic_size, cfg.data_seed, cfg.val_fraction, cfg.test_fraction)
    else:
        splits = load_mitbih(cfg.data, cfg.data_seed, cfg.val_fraction, cfg.test_fraction, cfg.max_rows)
    require_rows(splits, cfg.data or f"synthetic_size={cfg.synthetic_size}", "rows")
    return splits


class SeqclfTask:
    def __init__(self, cfg: SeqclfConfig, data: Splits, session: Session):
        self.cfg, self.session = cfg, session
        self.device = session.device()
        self.splits = to_device(data, self.device)
        weight = None
        if cfg.class_weighted:
            counts = np.bincount(data["train"][1], minlength=len(CLASS_NAMES)).astype(np.float64)
            inverse = 1.0 / np.maximum(counts, 1.0)  # a class absent from train has no rows to weigh
            weight = torch.tensor(inverse / inverse.mean(), dtype=torch.float32, device=self.device)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)
        self.majority = majority_class(data["train"][1], len(CLASS_NAMES))

    def build_model(self) -> nn.Module:
        c = self.cfg
        return SequenceClassifier(c.cell, len(CLASS_NAMES), c.hidden_dim, c.n_layers, c.bidirectional, c.dropout)

    def train_batches(self, epoch: int):
        x, y = self.splits["train"]
        for rows in epoch_batches(x.shape[0], self.cfg.batch_size, self.cfg.seed, epoch, self.session, self.device):
            yield x[rows], y[rows]

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(model(x), y)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        x, y = self.splits[split]
        loss, preds = 0.0, []
        for start in range(0, x.shape[0], EVAL_BATCH):
            logits = model(x[start : start + EVAL_BATCH])
            # Plain cross-entropy: comparable across trials whatever their smoothing / weights.
            loss += float(nn.functional.cross_entropy(logits, y[start : start + EVAL_BATCH], reduction="sum"))
            preds.append(logits.argmax(dim=1))
        y_pred = torch.cat(preds).cpu().numpy()
        y_true = y.cpu().numpy()
        metrics = classification_metrics(y_true, y_pred, CLASS_NAMES, prefix=f"{split}_")
        out = {f"{split}_loss": loss / max(1, x.shape[0]), **metrics}
        if split == "val":
            out["predictions"] = class_predictions(y_true, y_pred, len(CLASS_NAMES), self.majority)
        return out


TRAINABLE = Trainable(
    SeqclfConfig,
    SeqclfTask,
    load_data,
    data_fields=("synthetic_size", "max_rows", "val_fraction", "test_fraction", "data_seed"),
)
