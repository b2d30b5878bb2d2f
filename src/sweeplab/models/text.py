"""Text models: plain nn.Modules, no training code.

``VariationalLSTM`` is an LSTM layer with Keras' ``dropout`` and ``recurrent_dropout``,
which torch's nn.LSTM lacks (its ``dropout`` acts between stacked layers only).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

PAD = 0


def _sequence_mask(rows: int, features: int, p: float, like: torch.Tensor) -> torch.Tensor:
    """Inverted-dropout mask, one row per sequence: reused at every step it is variational."""
    return torch.bernoulli(like.new_full((rows, features), 1.0 - p)) / (1.0 - p)


class VariationalLSTM(nn.Module):
    """One LSTM layer that loops over time, with Gal & Ghahramani's variational dropout as
    Keras applies it: each sequence draws one mask over the input features (``dropout``)
    and one over the hidden state (``recurrent_dropout``) per forward pass, and the same
    masks multiply x_t and h_{t-1} at every step, before the gate matrices. Masks are
    drawn in training mode only.

    The input half of the gates (W_ih x_t + b) is computed for all steps in one matmul;
    the loop only does the recurrent matmul and the gate arithmetic. Where ``mask`` is
    False (padding) the state carries over unchanged, so padding on either side, or none,
    gives the same final state.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reverse: bool = False,
    ):
        super().__init__()
        self.hidden_size, self.reverse = hidden_size, reverse
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        # gate order: input, forget, output (sigmoids, one slice), then the cell candidate
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' LSTM initialisers (the report's model): glorot kernel, orthogonal
        recurrent kernel, zero bias with the forget gate's at 1."""
        h = self.hidden_size
        nn.init.xavier_uniform_(self.weight_ih)
        nn.init.orthogonal_(self.weight_hh)
        with torch.no_grad():
            self.bias.zero_()
            self.bias[h : 2 * h] = 1.0

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (batch, steps, features), mask (batch, steps) bool -> last state h (batch, hidden)."""
        batch, steps, features = x.shape
        h3 = 3 * self.hidden_size
        if self.training and self.dropout > 0:
            x = x * _sequence_mask(batch, features, self.dropout, x).unsqueeze(1)
        gates_x = nn.functional.linear(x, self.weight_ih, self.bias)
        h = x.new_zeros(batch, self.hidden_size)
        c = torch.zeros_like(h)
        h_mask = None
        if self.training and self.recurrent_dropout > 0:
            h_mask = _sequence_mask(batch, self.hidden_size, self.recurrent_dropout, x)
        w_hh = self.weight_hh.t()
        for t in reversed(range(steps)) if self.reverse else range(steps):
            gates = torch.addmm(gates_x[:, t], h if h_mask is None else h * h_mask, w_hh)
            i, f, o = torch.sigmoid(gates[:, :h3]).chunk(3, dim=1)
            c_new = f * c + i * torch.tanh(gates[:, h3:])
            h_new = o * torch.tanh(c_new)
            keep = mask[:, t, None]
            c = torch.where(keep, c_new, c)
            h = torch.where(keep, h_new, h)
        return h


class SentimentLSTM(nn.Module):
    """Embedding -> (Bi)LSTM with variational dropout -> one logit (sigmoid gives P(pos)).

    Token 0 is padding: masked out of the recurrence, and columns that are padding in
    every row of a batch are cut before the loop, which with 'pre' padding skips most
    of the steps of a batch of short reviews.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 128,
        units: int = 64,
        dropout: float = 0.5,
        recurrent_dropout: float = 0.3,
        bidirectional: bool = False,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        directions = (False, True) if bidirectional else (False,)
        self.lstms = nn.ModuleList(
            VariationalLSTM(embedding_dim, units, dropout, recurrent_dropout, reverse) for reverse in directions
        )
        self.head = nn.Linear(units * len(directions), 1)
        with torch.no_grad():  # Keras' initialisers: uniform(-0.05, 0.05) embeddings, glorot dense
            nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
            self.embedding.weight[PAD].zero_()
            nn.init.xavier_uniform_(self.head.weight)
            self.head.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (batch, steps) int -> logits (batch,)."""
        present = tokens != PAD
        used = present.any(dim=0).nonzero().flatten()
        if len(used):
            first, last = int(used[0]), int(used[-1]) + 1
            tokens, present = tokens[:, first:last], present[:, first:last]
        x = self.embedding(tokens)
        h = torch.cat([lstm(x, present) for lstm in self.lstms], dim=-1)
        return self.head(h).squeeze(-1)

    def l2_parameters(self) -> list[torch.Tensor]:
        """The weight matrices Keras' kernel regularisers cover: not biases, not the embedding."""
        lstms = cast("list[VariationalLSTM]", list(self.lstms))  # a ModuleList's items are typed nn.Module
        return [p for lstm in lstms for p in (lstm.weight_ih, lstm.weight_hh)] + [self.head.weight]
