"""Row batches for an epoch, the same on a restored trial and across DDP workers."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, session, device: torch.device
) -> Iterator[torch.Tensor]:
    """Row indices, ``batch_size`` at a time, of a shuffle seeded by (seed, epoch) alone:
    a restored trial replays the same order, and every DDP worker draws the same
    permutation and takes its own slice (``session.shard``). The permutation is padded by
    wrapping so that every worker gets as many batches (DDP waits on each one)."""
    state = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    order = torch.randperm(n, generator=torch.Generator().manual_seed(state))
    padded = math.ceil(n / session.world_size) * session.world_size
    order = torch.cat([order, order[: padded - n]])[session.shard(padded)].to(device)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
