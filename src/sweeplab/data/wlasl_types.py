"""WLASL's records, shared by the metadata module (wlasl.py) and the decoding cache
(wlasl_cache.py, whose worker processes unpickle Instances): no torch, nothing else of
sweeplab's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Instance:
    video_id: str
    label: int  # index of the gloss
    split: str
    frame_start: int = 1  # 1-based, inclusive
    frame_end: int = -1  # inclusive; -1 = to the end
    bbox: Optional[tuple[float, float, float, float]] = None


@dataclass
class VideoSplits:
    """What trials share: small (paths and labels), so it ships cheaply to every trial;
    the clips themselves stay in the on-disk cache."""

    class_names: tuple[str, ...]
    clips: dict[str, list[str]]  # split -> cache entries (.npy, uint8 (frames, size, size, 3))
    labels: dict[str, np.ndarray]  # split -> int64 class indices
    video_ids: dict[str, list[str]]
    skipped: dict[str, list[str]]  # "missing" / "corrupt" -> video ids
    source: str
    decoded: int = 0  # clips decoded by this load (0 when the cache held them all)
    jobs: list[tuple] = field(default_factory=list, repr=False)  # to rebuild entries on another node
