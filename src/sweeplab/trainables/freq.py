"""``freq``: an LSTM that extracts one frequency from a mixed noisy signal (report 004)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
from torch import nn

from ..config import BaseConfig
from ..data.signals import SignalSet, make_signals
from ..engine import Session
from ..errors import UserError
from ..models.recurrent import SignalLSTM
from . import Trainable

TRAIN_SEED, TEST_SEED, VAL_SEED = 1, 2, 3  # the assignment: train seed 1, test seed 2
EVAL_CHUNK = 1000  # evaluation carries the state too, so chunk length changes nothing but speed


@dataclass(frozen=True)
class FreqConfig(BaseConfig):
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    seq_length: int = 50  # L: chunk length of truncated BPTT; the state is carried across
    epochs: int = 50
    lr: float = 5e-4
    lr_schedule: Literal["none", "plateau", "cosine"] = "plateau"
    clip_grad_norm: float = 1.0
    frequencies: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0)
    fs: float = 1000.0
    duration: float = 10.0
    amplitude_noise: float = 0.2
    phase_noise: float = 2 * math.pi

    HOT_FIELDS = (*BaseConfig.HOT_FIELDS, "dropout")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.data is not None:  # silently ignoring it would tune on other data than the user meant
            raise UserError(
                f"{type(self).__name__}: key 'data' is {self.data!r}, but freq generates its signals "
                "(frequencies, fs, duration, noise) and reads no data file"
            )


def load_data(cfg: FreqConfig) -> dict[str, SignalSet]:
    kw = {k: getattr(cfg, k) for k in TRAINABLE.data_fields}
    return {
        "train": make_signals(TRAIN_SEED, **kw),
        "val": make_signals(VAL_SEED, **kw),
        "test": make_signals(TEST_SEED, **kw),
    }


class FreqTask:
    def __init__(self, cfg: FreqConfig, data: dict[str, SignalSet], session: Session):
        self.cfg, self.session = cfg, session
        self.device = session.device()
        self.splits = {k: _tensors(v, self.device) for k, v in data.items()}
        self.zero_mse = {k: v.zero_mse for k, v in data.items()}
        # DDP: each worker owns some of the selector sequences
        self.rows = session.shard(self.splits["train"][0].shape[0])
        self.state: Optional[tuple[torch.Tensor, ...]] = None

    def build_model(self) -> nn.Module:
        n_inputs = 1 + len(self.cfg.frequencies)
        return SignalLSTM(n_inputs, self.cfg.hidden_size, self.cfg.num_layers, self.cfg.dropout)

    def on_epoch_start(self, epoch: int) -> None:
        self.state = None  # each epoch replays the sequence from t = 0

    def train_batches(self, epoch: int):
        x, y = self.splits["train"]
        x, y = x[self.rows], y[self.rows]
        for start in range(0, x.shape[1], self.cfg.seq_length):
            yield x[:, start : start + self.cfg.seq_length], y[:, start : start + self.cfg.seq_length]

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        pred, state = model(x, self.state)
        self.state = tuple(s.detach() for s in state)  # carry the state, cut the graph
        return nn.functional.mse_loss(pred, y)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        x, y = self.splits[split]
        state, errors = None, []
        for start in range(0, x.shape[1], EVAL_CHUNK):
            pred, state = model(x[:, start : start + EVAL_CHUNK], state)
            errors.append(((pred - y[:, start : start + EVAL_CHUNK]) ** 2).mean(dim=-1))
        sq = torch.cat(errors, dim=1)  # (sequences, steps)
        out: dict[str, Any] = {f"{split}_mse": float(sq.double().mean()), f"{split}_zero_mse": self.zero_mse[split]}
        if split == "val":
            out["predictions"] = self._blocks(sq, (y**2).mean(dim=-1))
        return out

    def _blocks(self, sq: torch.Tensor, zero: torch.Tensor) -> dict[str, Any]:
        """The validation MSE as equal blocks of one period of the slowest frequency per
        sequence (the samples' noise is independent, the signal is not: blocks keep its
        correlation inside a resampled unit); ``trivial``: the zero predictor's, paired."""
        steps = sq.shape[1]
        block = max(1, min(steps, int(round(self.cfg.fs / min(self.cfg.frequencies)))))
        usable = steps - steps % block  # the mean of equal blocks is the MSE; a tail would weigh less
        values = sq[:, :usable].reshape(sq.shape[0], -1, block).double().mean(dim=-1)
        trivial = zero[:, :usable].reshape(zero.shape[0], -1, block).double().mean(dim=-1)
        return {"kind": "mean", "values": values.flatten().tolist(), "trivial": trivial.flatten().tolist()}


def _tensors(s: SignalSet, device: torch.device):
    # copies: arrays from the object store are read-only views
    return torch.tensor(s.inputs, device=device), torch.tensor(s.targets, device=device)


TRAINABLE = Trainable(
    FreqConfig, FreqTask, load_data, data_fields=("frequencies", "fs", "duration", "amplitude_noise", "phase_noise")
)
