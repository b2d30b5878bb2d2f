"""Recurrent models: plain nn.Modules, no training code."""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn

Cell = Literal["gru", "lstm"]
_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class SignalLSTM(nn.Module):
    """Sequence-to-sequence regressor: LSTM over [S(t), C] then a linear read-out per step.

    ``forward`` takes and returns the recurrent state so that a caller can carry it across
    chunks of one long sequence (truncated BPTT).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, state: Optional[tuple[torch.Tensor, torch.Tensor]] = None):
        out, state = self.lstm(x, state)
        return self.head(out), state


class SequenceClassifier(nn.Module):
    """GRU or LSTM over a univariate sequence; the last step's state (both directions) is
    classified by a linear layer."""

    def __init__(
        self,
        cell: Cell,
        n_classes: int,
        hidden_dim: int,
        n_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        input_size: int = 1,
    ):
        super().__init__()
        self.rnn = _CELLS[cell](
            input_size,
            hidden_dim,
            num_layers=n_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim * (2 if bidirectional else 1), n_classes)
        self.bidirectional = bidirectional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # LSTM gives (h, c)
        # h: (layers * directions, batch, hidden); take the top layer's directions
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.bidirectional else h[-1]
        return self.head(self.dropout(last))
