"""VideoMAE for video classification (transformers' ``VideoMAEForVideoClassification``):
weights from a local Hugging Face folder, or random initialisation from a named size or
an explicit config. Nothing is ever downloaded.

Input: ``pixel_values`` float (batch, frames, 3, size, size), normalised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import UserError

# Named sizes: tiny is for CPU tests; small / base / large are the VideoMAE paper's ViT-S/B/L.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "patch_size": 8,
    },
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
}
# VideoMAE's image processor normalises with ImageNet's mean and std.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _hf_folder(path: str, what: str) -> Path:
    folder = Path(path).expanduser()
    if folder.is_file() and folder.name.endswith(".json") and what == "model_config":
        return folder
    if not folder.is_dir():
        raise UserError(
            f"{what}: {folder}: no such folder (a Hugging Face model folder with config.json"
            f"{' and weights' if what == 'pretrained' else ''}; nothing is downloaded)"
        )
    if not (folder / "config.json").is_file():
        raise UserError(f"{what}: {folder}: holds no config.json; not a Hugging Face model folder")
    return folder


def normalisation(pretrained: Optional[str] = None) -> tuple[Sequence[float], Sequence[float]]:
    """The mean and std the weights were trained with: the folder's preprocessor_config.json,
    else ImageNet's."""
    if pretrained:
        path = Path(pretrained).expanduser() / "preprocessor_config.json"
        if path.is_file():
            try:
                raw = json.loads(path.read_text())
                return tuple(raw["image_mean"]), tuple(raw["image_std"])
            except (ValueError, KeyError, TypeError):
                pass
    return IMAGENET_MEAN, IMAGENET_STD


def build_videomae(
    num_labels: int,
    *,
    size: str = "base",
    pretrained: Optional[str] = None,
    model_config: Optional[str] = None,
    num_frames: int = 16,
    image_size: int = 224,
    dropout: float = 0.0,
    class_names: Optional[Sequence[str]] = None,
    gradient_checkpointing: bool = False,
):
    """A VideoMAE classifier with ``num_labels`` outputs.

    ``pretrained``: a local folder in Hugging Face format (VideoMAE pre-trained or
    fine-tuned, e.g. videomae-base-finetuned-kinetics); its classifier is replaced when
    the label count differs. ``model_config``: a config.json (or a folder holding one)
    for random initialisation. Otherwise ``size`` names one of ``SIZES``. Clips must
    match the model: ``num_frames`` frames of ``image_size`` pixels.
    """
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    labels: dict[str, Any] = {"num_labels": num_labels, "hidden_dropout_prob": dropout}
    if class_names is not None:
        labels["id2label"] = {i: str(n) for i, n in enumerate(class_names)}
        labels["label2id"] = {str(n): i for i, n in enumerate(class_names)}
    if pretrained:
        folder = _hf_folder(pretrained, "pretrained")
        config = VideoMAEConfig.from_pretrained(folder, local_files_only=True)
        _check_clip_shape(config, num_frames, image_size, f"pretrained {folder}")
        try:
            model = VideoMAEForVideoClassification.from_pretrained(
                folder, local_files_only=True, ignore_mismatched_sizes=True, **labels
            )
        except OSError as e:  # config.json without weights, or unreadable weights
            raise UserError(f"pretrained: {folder}: {e}".splitlines()[0]) from None
    else:
        if model_config:
            path = _hf_folder(model_config, "model_config")
            config = VideoMAEConfig.from_json_file(path if path.is_file() else path / "config.json")
            config.update(labels)
        else:
            if size not in SIZES:
                raise UserError(f"model size {size!r}; allowed: {', '.join(SIZES)}")
            config = VideoMAEConfig(**{**SIZES[size], "num_frames": num_frames, "image_size": image_size, **labels})
        _check_clip_shape(config, num_frames, image_size, model_config or f"size {size}")
        model = VideoMAEForVideoClassification(config)
    if gradient_checkpointing:  # transformers 5 renamed it; gradient_checkpointing_enable goes in v6
        enable = getattr(model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def _check_clip_shape(config: Any, num_frames: int, image_size: int, source: str) -> None:
    if (config.num_frames, config.image_size) != (num_frames, image_size):
        raise UserError(
            f"{source} takes clips of {config.num_frames} frames of {config.image_size} px; "
            f"set num_frames={config.num_frames} image_size={config.image_size}"
        )
    if image_size % config.patch_size or num_frames % config.tubelet_size:
        raise UserError(
            f"{source}: image_size {image_size} must be a multiple of the patch size {config.patch_size} "
            f"and num_frames {num_frames} of the tubelet size {config.tubelet_size}"
        )
