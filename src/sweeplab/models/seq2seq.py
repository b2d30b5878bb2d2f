"""Encoder-decoder with LSTM or GRU cells, with or without attention (report 003).

The encoder is a stacked nn.LSTM / nn.GRU over packed sources. The decoder is a stack of
cells stepped by hand, because teacher forcing chooses each step's input from the last
step's output, truncated BPTT stops and resumes mid-target, and recurrent dropout masks
the state between steps (one mask per sequence, Gal & Ghahramani), none of which a fused
RNN call allows.

Attention uses Luong's placement for every score function: after the step, the top
layer's state h_t queries the encoder outputs, and tanh(W[h_t; context]) is both what
the output layer reads and what the next step takes in beside the embedding (input
feeding). ``additive`` scores with Bahdanau's v·tanh(W_q h + W_k e), ``dot`` with h·e,
``general`` with h·W e. Without attention the decoder sees the encoder's final state only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

import torch
from torch import nn

PAD, BOS, EOS = 0, 1, 2
ATTENTIONS = ("none", "additive", "dot", "general")


def _rows_of(t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return t.index_select(0, rows)


class Attention(nn.Module):
    def __init__(self, kind: str, hidden: int):
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.w_query = nn.Linear(hidden, hidden, bias=False)
            self.w_key = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)
        elif kind == "general":
            self.w = nn.Linear(hidden, hidden, bias=False)

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """The per-source part of the score, computed once per sequence, not once per step."""
        if self.kind == "additive":
            return self.w_key(enc)
        if self.kind == "general":
            return self.w(enc)
        return enc

    def forward(self, query: torch.Tensor, keys: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query (B, H), keys / enc (B, S, H), mask (B, S) True on tokens -> context (B, H)."""
        if self.kind == "additive":
            scores = self.v(torch.tanh(keys + self.w_query(query).unsqueeze(1))).squeeze(-1)
        else:
            scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return torch.bmm(weights.unsqueeze(1), enc).squeeze(1)


@dataclass
class Memory:
    """What the encoder leaves for the decoder; rows can be repeated for a beam."""

    enc: torch.Tensor  # (B, S, H)
    keys: Optional[torch.Tensor]
    mask: torch.Tensor  # (B, S) bool
    final: list[tuple[torch.Tensor, ...]]  # per layer: (h,) or (h, c)

    def repeat(self, k: int) -> "Memory":
        rep = lambda t: t.repeat_interleave(k, dim=0)  # noqa: E731
        return Memory(
            rep(self.enc),
            None if self.keys is None else rep(self.keys),
            rep(self.mask),
            [tuple(rep(t) for t in layer) for layer in self.final],
        )


@dataclass
class DecoderState:
    """Everything a step needs from the last one, so a target can be decoded in chunks."""

    layers: list[tuple[torch.Tensor, ...]]  # per layer: (h,) or (h, c)
    feed: Optional[torch.Tensor]  # the last attentional vector (input feeding)
    prev: torch.Tensor  # (B,) the last step's predicted token (the model's own input at p = 0)
    gold: torch.Tensor  # (B,) the last step's gold token (the input at p = 1)
    masks: Optional[list[torch.Tensor]]  # recurrent dropout, one (B, H) mask per layer

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "DecoderState":
        return DecoderState(
            [tuple(fn(t) for t in layer) for layer in self.layers],
            None if self.feed is None else fn(self.feed),
            fn(self.prev),
            fn(self.gold),
            None if self.masks is None else [fn(m) for m in self.masks],
        )

    def detach(self) -> "DecoderState":
        return self.map(torch.Tensor.detach)


class Seq2seq(nn.Module):
    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 128,
        layers: int = 1,
        attention: str = "additive",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
    ):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.cell, self.hidden_size, self.attention_kind = cell, hidden_size, attention
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        cell_cls = nn.LSTMCell if cell == "lstm" else nn.GRUCell
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=PAD)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=PAD)
        self.encoder = rnn(embedding_dim, hidden_size, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        feed = hidden_size if attention != "none" else 0
        self.cells = nn.ModuleList(
            cell_cls((embedding_dim + feed) if i == 0 else hidden_size, hidden_size) for i in range(layers)
        )
        self.attention = Attention(attention, hidden_size) if attention != "none" else None
        self.combine = nn.Linear(2 * hidden_size, hidden_size) if attention != "none" else None
        self.out = nn.Linear(hidden_size, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    # -------------------------------------------------------------- encoder

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> Memory:
        """src (B, S) ids, PAD after the tokens; src_len (B,) >= 1."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.drop(self.src_embedding(src)), src_len.cpu(), batch_first=True, enforce_sorted=False
        )
        out, state = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        states = state if isinstance(state, tuple) else (state,)
        final = [tuple(s[i] for s in states) for i in range(len(self.cells))]
        keys = self.attention.keys(enc) if self.attention is not None else None
        return Memory(enc, keys, src != PAD, final)

    # -------------------------------------------------------------- decoder

    def start(self, memory: Memory) -> DecoderState:
        """The decoder starts from the encoder's final state; masks are drawn here, once a sequence."""
        batch = memory.enc.shape[0]
        like = memory.enc
        masks = None
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            masks = [torch.bernoulli(like.new_full((batch, self.hidden_size), keep)) / keep for _ in self.cells]
        feed = like.new_zeros(batch, self.hidden_size) if self.attention is not None else None
        prev = torch.full((batch,), BOS, dtype=torch.long, device=like.device)
        return DecoderState(list(memory.final), feed, prev, prev, masks)

    def step(self, memory: Memory, state: DecoderState, tokens: torch.Tensor) -> tuple[torch.Tensor, DecoderState]:
        """One target position: tokens (B,) in -> logits (B, V) and the next state."""
        x = self.drop(self.tgt_embedding(tokens))
        if state.feed is not None:
            x = torch.cat([x, state.feed], dim=-1)
        layers = []
        for i, cell in enumerate(self.cells):
            h, *c = state.layers[i]
            if state.masks is not None:
                h = h * state.masks[i]
            new = cell(x, (h, c[0])) if c else (cell(x, h),)
            layers.append(new)
            x = self.drop(new[0]) if i < len(self.cells) - 1 else new[0]
        top = layers[-1][0]
        feed = None
        if self.attention is not None and self.combine is not None:  # both or neither
            context = self.attention(top, memory.keys, memory.enc, memory.mask)
            top = feed = torch.tanh(self.combine(torch.cat([top, context], dim=-1)))
        logits = self.out(self.drop(top))
        return logits, DecoderState(layers, feed, logits.argmax(-1), tokens, state.masks)

    def decode(
        self, memory: Memory, state: DecoderState, gold: torch.Tensor, teacher_forcing: float = 1.0
    ) -> tuple[torch.Tensor, DecoderState]:
        """gold (B, T): the target positions to predict (a chunk of the target under
        truncated BPTT). Each step takes, per sequence, the previous gold token with
        probability ``teacher_forcing`` and the model's own previous prediction otherwise;
        the state carries both across chunk boundaries."""
        logits = []
        for t in range(gold.shape[1]):
            if teacher_forcing >= 1.0:
                tokens = state.gold
            elif teacher_forcing <= 0.0:
                tokens = state.prev
            else:
                coin = torch.rand(state.gold.shape, device=gold.device) < teacher_forcing
                tokens = torch.where(coin, state.gold, state.prev)
            step_logits, state = self.step(memory, state, tokens)
            state.gold = gold[:, t]
            logits.append(step_logits)
        return torch.stack(logits, dim=1), state

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, gold: torch.Tensor, teacher_forcing: float = 1.0
    ) -> torch.Tensor:
        memory = self.encode(src, src_len)
        return self.decode(memory, self.start(memory), gold, teacher_forcing)[0]

    # -------------------------------------------------------------- free-running decoding

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_len: torch.Tensor, max_steps: int) -> torch.Tensor:
        """(B, <= max_steps) token ids, each row ending at its <eos> (PAD after)."""
        memory = self.encode(src, src_len)
        state = self.start(memory)
        out, done = [], torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_steps):
            _, state = self.step(memory, state, state.prev)
            out.append(state.prev.masked_fill(done, PAD))
            done |= state.prev == EOS
            if done.all():
                break
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, src_len: torch.Tensor, beam_size: int, max_steps: int) -> torch.Tensor:
        """Batched beam search; a finished hypothesis keeps its score and emits PAD. The
        best hypothesis is chosen by mean log-probability per token (EOS included), so
        long outputs are not penalised for their length. Beam 1 is greedy decoding."""
        batch, k = src.shape[0], beam_size
        memory = self.encode(src, src_len).repeat(k)
        state = self.start(memory)
        scores = src.new_full((batch, k), float("-inf"), dtype=torch.float).index_fill_(1, src.new_zeros(1), 0.0)
        lengths = src.new_zeros(batch, k)
        done = torch.zeros(batch, k, dtype=torch.bool, device=src.device)
        history = src.new_zeros(batch, k, 0)
        for _ in range(max_steps):
            logits, state = self.step(memory, state, state.prev)
            logp = logits.float().log_softmax(-1).view(batch, k, -1)
            vocab = logp.shape[-1]
            frozen = torch.full_like(logp[0, 0], float("-inf")).index_fill_(0, src.new_tensor([PAD]), 0.0)
            logp = torch.where(done.unsqueeze(-1), frozen, logp)
            best, flat = (scores.unsqueeze(-1) + logp).view(batch, -1).topk(k, dim=-1)
            origin, token = flat // vocab, flat % vocab
            rows = (origin + torch.arange(batch, device=src.device).unsqueeze(1) * k).flatten()
            state = state.map(partial(_rows_of, rows=rows))
            state.prev = token.flatten()
            history = torch.cat(
                [history.gather(1, origin.unsqueeze(-1).expand(-1, -1, history.shape[-1])), token.unsqueeze(-1)], dim=-1
            )
            was_done = done.gather(1, origin)
            lengths = lengths.gather(1, origin) + (~was_done).long()
            done = was_done | (token == EOS)
            scores = best
            if done.all():
                break
        pick = (scores / lengths.clamp(min=1)).argmax(-1)
        return history[torch.arange(batch, device=src.device), pick]
