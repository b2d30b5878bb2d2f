"""``videomae``: VideoMAE fine-tuning on WLASL100 / WLASL300 sign-language videos (report 002).

Defaults are the report's WLASL100 baseline: AdamW, lr 1e-4, weight decay 0.05, batch 16,
30 epochs, label smoothing 0.1, class weights, 10% warmup then cosine decay, clipping at
1.0, patience 5. ``batch_size`` is the batch of one optimizer step; ``grad_accum_steps``
cuts it into that many forward / backward passes when it does not fit on the device.

Clips come from the on-disk cache that ``load_data`` fills (data/wlasl.py reads the
metadata, data/wlasl_cache.py decodes and caches the clips): each trial reads uint8
frames from it, then augments (a random resized crop shared by a clip's frames; flips
only on request: handedness carries meaning in sign language) and normalises on the
trial's device.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch
from torch import nn

from .. import engine
from ..config import BaseConfig
from ..data import wlasl, wlasl_cache
from ..data.batching import epoch_batches
from ..data.splits import tensor
from ..engine import Session
from ..errors import UserError
from ..metrics import class_predictions, classification_metrics, majority_class
from ..models.videomae import build_videomae, normalisation
from . import Trainable

TOP_K = (5,)


@dataclass(frozen=True)
class VideomaeConfig(BaseConfig):
    # model
    pretrained: Optional[str] = None  # a local Hugging Face folder; None: random initialisation
    model_config: Optional[str] = None  # a config.json (or its folder) for random initialisation
    model_size: Literal["tiny", "small", "base", "large"] = "base"  # without pretrained / model_config
    dropout: float = 0.0  # hidden_dropout_prob of the transformer
    gradient_checkpointing: bool = False  # on a GPU: activations recomputed in backward, less memory
    # training: the report's WLASL100 baseline
    epochs: int = 30
    batch_size: int = 16
    grad_accum_steps: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.05  # not on biases and norms
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    lr_schedule: Literal["none", "plateau", "cosine", "linear"] = "cosine"
    warmup_ratio: float = 0.1  # of the epochs (rounded): sets warmup_epochs; 0 leaves warmup_epochs as given
    label_smoothing: float = 0.1
    class_weighted: bool = True  # weights 1/count, divided by their mean
    clip_grad_norm: float = 1.0
    early_stop_patience: int = 5
    amp: bool = True  # bf16 autocast where the trial holds a GPU
    # data: WLASL-K of ``data`` (a WLASL root or metadata file); None: generated clips
    subset: int = 100
    video_dir: Optional[str] = None  # default: <root>/videos
    num_frames: int = 16
    image_size: int = 224
    frame_range: bool = True  # sample inside each video's [frame_start, frame_end]
    bbox_crop: bool = False  # square crop around the signer's box instead of the frame's centre
    augment: bool = True  # random resized crop while training
    crop_scale: float = 0.6  # smallest share of the frame's area that crop keeps
    hflip: bool = False
    max_rows: int = 0  # > 0: a stratified subset of each split, for smoke runs
    synthetic_size: int = 400  # generated clips when no data is given
    synthetic_classes: int = 10
    data_seed: int = 0
    decode_workers: int = 0  # processes decoding into the cache; 0 = one per CPU
    cache_dir: Optional[str] = None  # clip cache; None: $SWEEPLAB_CACHE or ~/.cache/sweeplab

    # Read when the loss, optimizer groups, model and batches are built: PBT may change them.
    HOT_FIELDS = (
        *BaseConfig.HOT_FIELDS,
        "label_smoothing",
        "class_weighted",
        "grad_accum_steps",
        "dropout",
        "crop_scale",
    )
    PATH_FIELDS = {
        **BaseConfig.PATH_FIELDS,
        "video_dir": True,
        "pretrained": True,
        "model_config": True,
        "cache_dir": False,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        self.require_fraction("label_smoothing", "warmup_ratio", "dropout")
        self.require_at_least(
            (
                ("batch_size", 1),
                ("grad_accum_steps", 1),
                ("subset", 1),
                ("num_frames", 1),
                ("image_size", 8),
                ("max_rows", 0),
                ("synthetic_size", 3),
                ("synthetic_classes", 2),
                ("decode_workers", 0),
                ("warmup_epochs", 0),
            )
        )
        if self.grad_accum_steps > self.batch_size:
            raise UserError(
                f"{name}: key 'grad_accum_steps' ({self.grad_accum_steps}) must be <= batch_size ({self.batch_size})"
            )
        if not 0 < self.crop_scale <= 1:
            raise UserError(f"{name}: key 'crop_scale' must be in (0, 1], got {self.crop_scale}")
        if self.warmup_ratio > 0:
            # the report counts warmup in epochs (10% of 30 = 3, 15% of 50 = "7-8"): half rounds up
            derived = math.floor(self.warmup_ratio * self.epochs + 0.5)
            if self.warmup_epochs not in (0, derived):
                raise UserError(
                    f"{name}: warmup_ratio {self.warmup_ratio} gives {derived} warmup epochs of {self.epochs}, "
                    f"but warmup_epochs is {self.warmup_epochs}; set one of them (warmup_ratio=0 to use warmup_epochs)"
                )
            object.__setattr__(self, "warmup_epochs", derived)


def load_data(cfg: VideomaeConfig) -> wlasl.VideoSplits:
    opts = wlasl_cache.ClipOptions(cfg.num_frames, cfg.image_size, cfg.frame_range, cfg.bbox_crop)
    root: Path | str
    if cfg.data is None:
        root = wlasl.synthetic_wlasl(cfg.synthetic_size, cfg.synthetic_classes, cfg.data_seed, cfg.cache_dir)
        subset = min(cfg.subset, cfg.synthetic_classes)
    else:
        root, subset = cfg.data, cfg.subset
    return wlasl.load_wlasl(
        root,
        subset,
        opts,
        video_dir=cfg.video_dir if cfg.data else None,
        max_rows=cfg.max_rows,
        seed=cfg.data_seed,
        cache_dir=cfg.cache_dir,
        workers=cfg.decode_workers,
    )


def check_data(cfg: VideomaeConfig) -> None:
    """The driver's check before Ray starts where trials decode their own clips (a data
    field is searched): the metadata, and that every split and gloss has videos, without
    decoding any."""
    if cfg.data is not None:
        wlasl.list_videos(cfg.data, cfg.subset, cfg.video_dir)


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, min_scale: float, flip: bool) -> torch.Tensor:
    """(batch, frames, channels, h, w): per clip, one crop of area share in [min_scale, 1]
    and aspect ratio in [3/4, 4/3] (the same for all its frames), resized back to h x w;
    with ``flip``, half of the clips mirrored."""
    b, t, c, h, w = x.shape
    area = torch.empty(b).uniform_(min_scale, 1.0, generator=generator)
    ratio = torch.exp(torch.empty(b).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator))
    cw, ch = torch.sqrt(area * ratio).clamp(max=1.0), torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(b, generator=generator) * 2 - 1) * (1 - cw)
    cy = (torch.rand(b, generator=generator) * 2 - 1) * (1 - ch)
    sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(b)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = cw * sign, cx, ch, cy
    theta = theta.to(x.device, x.dtype)
    grid = nn.functional.affine_grid(theta, [b, t * c, h, w], align_corners=False)
    out = nn.functional.grid_sample(
        x.reshape(b, t * c, h, w), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.reshape(b, t, c, h, w)


class VideomaeTask:
    def __init__(self, cfg: VideomaeConfig, data: wlasl.VideoSplits, session: Session):
        self.cfg, self.data, self.session = cfg, data, session
        self.device = session.device()
        wlasl_cache.ensure_cached(data, cfg.decode_workers)  # a no-op on the node that loaded the data
        self.labels = {s: tensor(data.labels[s]) for s in wlasl.SPLITS}
        n_classes = len(data.class_names)
        self.majority = majority_class(data.labels["train"], n_classes)
        self.weight = None
        if cfg.class_weighted:
            counts = np.bincount(data.labels["train"], minlength=n_classes).astype(np.float64)
            inverse = 1.0 / np.maximum(counts, 1.0)  # a class absent from train has no rows to weigh
            self.weight = torch.tensor(inverse / inverse.mean(), dtype=torch.float32, device=self.device)
        # summed, then divided by the whole batch's weight: micro-batches add up to the batch's mean
        self.loss_fn = nn.CrossEntropyLoss(weight=self.weight, label_smoothing=cfg.label_smoothing, reduction="sum")
        mean, std = normalisation(cfg.pretrained)
        self.mean = torch.tensor(mean, device=self.device).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 1, 3, 1, 1)
        self.micro = math.ceil(cfg.batch_size / cfg.grad_accum_steps)
        self._hits = torch.zeros(2, device=self.device)  # correct, seen
        self._generator = torch.Generator()
        self._last_val: Optional[tuple[np.ndarray, np.ndarray]] = None

    def build_model(self) -> nn.Module:
        c = self.cfg
        return build_videomae(
            len(self.data.class_names),
            size=c.model_size,
            pretrained=c.pretrained,
            model_config=c.model_config,
            num_frames=c.num_frames,
            image_size=c.image_size,
            dropout=c.dropout,
            class_names=self.data.class_names,
            gradient_checkpointing=c.gradient_checkpointing and self.device.type == "cuda",
        )

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """Weight decay on weight matrices only, not on biases and norms (as ViT recipes do)."""
        params = [p for p in model.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.ndim >= 2]},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        # one optimizer, as the engine would build it; the task steps it to accumulate gradients
        return {"": engine.make_optimizer(self.cfg, self.param_groups(model))}

    def on_epoch_start(self, epoch: int) -> None:
        self._hits.zero_()
        state = np.random.SeedSequence([self.cfg.seed, epoch, self.session.rank]).generate_state(1)[0]
        self._generator.manual_seed(int(state))  # the same crops on a restored trial

    def train_batches(self, epoch: int):
        n = len(self.data.clips["train"])
        yield from epoch_batches(n, self.cfg.batch_size, self.cfg.seed, epoch, self.session, torch.device("cpu"))

    def clips(self, split: str, rows: torch.Tensor, train: bool = False) -> torch.Tensor:
        """Normalised float clips (batch, frames, 3, size, size) on the device."""
        paths = self.data.clips[split]
        x = torch.from_numpy(wlasl_cache.read_clips(paths[i] for i in rows.tolist())).to(self.device, non_blocking=True)
        x = x.permute(0, 1, 4, 2, 3).float().div_(255)
        if train and self.cfg.augment:
            x = random_resized_crop(x, self._generator, self.cfg.crop_scale, self.cfg.hflip)
        return (x - self.mean) / self.std

    def _micro_loss(self, model: nn.Module, rows: torch.Tensor, total_weight: torch.Tensor) -> torch.Tensor:
        y = self.labels["train"][rows].to(self.device)
        logits = model(self.clips("train", rows, train=True)).logits.float()
        with torch.no_grad():
            self._hits[0] += (logits.argmax(dim=1) == y).sum()
            self._hits[1] += len(y)
        return self.loss_fn(logits, y) / total_weight

    def manual_step(self, model: nn.Module, batch: torch.Tensor, optimizers: dict) -> dict[str, float]:
        y = self.labels["train"][batch].to(self.device)
        total_weight = (
            self.weight[y].sum() if self.weight is not None else torch.tensor(float(len(y)), device=self.device)
        )
        parts = torch.split(batch, self.micro)
        loss = engine.accumulated_step(
            optimizers[""],
            [partial(self._micro_loss, model, part, total_weight) for part in parts],
            model.parameters(),
            self.cfg.clip_grad_norm,
            no_sync=getattr(model, "no_sync", None),
        )
        return {"loss": loss}

    def _predict(self, model: nn.Module, split: str) -> tuple[np.ndarray, np.ndarray, float]:
        y = self.labels[split]
        scores, loss = [], 0.0
        amp = self.cfg.amp and self.device.type == "cuda"
        for start in range(0, len(y), self.micro):
            rows = torch.arange(start, min(start + self.micro, len(y)))
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(self.clips(split, rows)).logits.float()
            # plain cross-entropy: comparable across trials whatever their smoothing / weights
            loss += float(nn.functional.cross_entropy(logits, y[rows].to(self.device), reduction="sum"))
            scores.append(logits.cpu())
        return y.numpy(), torch.cat(scores).numpy(), loss / max(1, len(y))

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        names = self.data.class_names
        y_true, scores, loss = self._predict(model, split)
        y_pred = scores.argmax(axis=1)
        final = split == "test"  # the engine scores test only on a new best epoch's weights
        out = {
            f"{split}_loss": loss,
            **classification_metrics(
                y_true,
                y_pred,
                names,
                prefix=f"{split}_",
                scores=scores,
                top_k=TOP_K,
                precision_recall=True,
                per_class="json" if final else "none",
                confusion=final,
            ),
        }
        if split == "val":
            self._last_val = (y_true, y_pred)
            out["predictions"] = class_predictions(y_true, y_pred, len(names), self.majority)
            hits = self._hits.clone()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(hits)  # every worker saw its own shard
            out["train_accuracy"] = float(hits[0] / hits[1].clamp(min=1))
            out["videos_missing"] = len(self.data.skipped["missing"])
            out["videos_corrupt"] = len(self.data.skipped["corrupt"])
        else:
            if self._last_val is not None:  # the per-class view of this best epoch's validation, beside its test
                full = classification_metrics(*self._last_val, names, prefix="val_", per_class="json", confusion=True)
                out.update({k: full[k] for k in ("val_per_class_accuracy", "val_confusion_matrix")})
            out["videos_skipped"] = json.dumps(self.data.skipped)
        return out


TRAINABLE = Trainable(
    VideomaeConfig,
    VideomaeTask,
    load_data,
    check_data=check_data,
    # cache_dir and decode_workers are left out: they move or speed up the cache, not the data.
    data_fields=(
        "subset",
        "video_dir",
        "num_frames",
        "image_size",
        "frame_range",
        "bbox_crop",
        "max_rows",
        "synthetic_size",
        "synthetic_classes",
        "data_seed",
    ),
)
