"""WLASL sign-language videos (report 002): the metadata files, WLASL-K, the splits whose
videos are present, a generated stand-in, and ``load_wlasl``, which turns them into clips
of the on-disk cache (wlasl_cache.py decodes and caches them).

Metadata comes in two shapes (both from dxli94/WLASL):
  ``WLASL_v0.3.json`` (or a file of its first glosses, such as ``WLASL100.json``):
  ``[{"gloss", "instances": [{"video_id", "split", "frame_start" (1-based),
  "frame_end" (-1 = to the end), "fps", "bbox" [x0, y0, x1, y1], ...}]}]``;
  ``nslt_100.json`` / ``nslt_300.json``: ``{video_id: {"subset", "action": [class,
  start, end]}}``, with the glosses in ``wlasl_class_list.txt`` (``index<TAB>gloss``).
WLASL-K is the first K glosses. Videos live as ``<root>/videos/<video_id>.mp4``.

The decoding processes unpickle their jobs' Instances from here, so this module imports
no torch at load time (``splits`` is imported where it is used).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import UserError
from .cache import build_lock, cache_root, key_digest
from .video import write_video
from .wlasl_cache import CLIPS, ClipOptions, build_entries, entry_path, failure_path
from .wlasl_types import Instance, VideoSplits

SPLITS = ("train", "val", "test")
SYNTHETIC = "wlasl-synthetic"
FULL_METADATA = "WLASL_v0.3.json"
CLASS_LIST = "wlasl_class_list.txt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metadata:
    glosses: tuple[str, ...]
    instances: tuple[Instance, ...]
    source: str


# ------------------------------------------------------------------ metadata


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


def _split(value: Any, where: str) -> str:
    if value not in SPLITS:
        raise UserError(f"{where}: split {value!r}; allowed: {', '.join(SPLITS)}")
    return value


def _first_k(glosses: Sequence[str], num_classes: Optional[int], source: Path) -> int:
    k = len(glosses) if num_classes is None else num_classes
    if not 1 <= k <= len(glosses):
        raise UserError(f"{source}: WLASL-{k} needs {k} glosses; the file has {len(glosses)}")
    return k


def read_wlasl_json(path: Path | str, num_classes: Optional[int] = None) -> Metadata:
    """WLASL_v0.3.json (or a file of its first glosses): WLASL-K keeps the first K glosses."""
    path = Path(path)
    raw = _load_json(path)
    if not isinstance(raw, list) or not all(isinstance(g, dict) and "gloss" in g and "instances" in g for g in raw):
        raise UserError(f"{path}: expected WLASL_v0.3.json's shape: a list of {{gloss, instances: [...]}}")
    k = _first_k([g["gloss"] for g in raw], num_classes, path)
    instances = []
    for label, entry in enumerate(raw[:k]):
        for n, inst in enumerate(entry["instances"]):
            where = f"{path}: {entry['gloss']}.instances[{n}]"
            try:
                bbox = inst.get("bbox")
                instances.append(
                    Instance(
                        video_id=str(inst["video_id"]),
                        label=label,
                        split=_split(inst["split"], where),
                        frame_start=int(inst.get("frame_start", 1)),
                        frame_end=int(inst.get("frame_end", -1)),
                        bbox=_box(bbox) if bbox and len(bbox) == 4 else None,
                    )
                )
            except (KeyError, TypeError, ValueError) as e:
                raise UserError(
                    f"{where}: {type(e).__name__}: {e} (needs video_id, split, frame_start, frame_end)"
                ) from None
    return Metadata(tuple(str(g["gloss"]) for g in raw[:k]), tuple(instances), str(path))


def _box(bbox: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return x0, y0, x1, y1


def read_class_list(path: Path | str) -> list[str]:
    """wlasl_class_list.txt: ``index<TAB>gloss`` a line, indices 0, 1, 2 ... in order."""
    path = Path(path)
    glosses: list[str] = []
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        index, _, gloss = line.partition("\t")
        if not gloss or not index.strip().isdigit() or int(index) != len(glosses):
            raise UserError(f"{path}: line {n}: expected '{len(glosses)}<TAB>gloss', got {line!r}")
        glosses.append(gloss.strip())
    return glosses


def read_nslt(path: Path | str, class_list: Optional[Path | str] = None, num_classes: Optional[int] = None) -> Metadata:
    """nslt_K.json with the glosses of ``class_list`` (default: wlasl_class_list.txt beside
    it; without one the glosses are the class indices). WLASL-K keeps classes < K."""
    path = Path(path)
    raw = _load_json(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected nslt's shape: {{video_id: {{subset, action: [class, start, end]}}}}")
    rows = []
    for video_id, entry in raw.items():
        try:
            label, start, end = (int(v) for v in entry["action"])
            rows.append((str(video_id), label, _split(entry["subset"], f"{path}: {video_id}"), start, end))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(
                f"{path}: {video_id}: {type(e).__name__}: {e} (needs subset and action [class, start, end])"
            ) from None
    class_list = Path(class_list) if class_list else path.with_name(CLASS_LIST)
    n_labels = max((r[1] for r in rows), default=-1) + 1
    glosses = read_class_list(class_list) if class_list.is_file() else [str(i) for i in range(n_labels)]
    if n_labels > len(glosses):
        raise UserError(f"{path}: class {n_labels - 1} is past the {len(glosses)} glosses of {class_list}")
    k = _first_k(glosses[:n_labels], num_classes, path)  # the file's own classes bound K
    instances = tuple(Instance(v, label, split, start, end) for v, label, split, start, end in rows if label < k)
    return Metadata(tuple(glosses[:k]), instances, str(path))


def read_metadata(path: Path | str, num_classes: Optional[int] = None) -> Metadata:
    """Either shape, told apart by content."""
    path = Path(path)
    raw = _load_json(path)
    if isinstance(raw, list):
        return read_wlasl_json(path, num_classes)
    if isinstance(raw, dict) and (not raw or any(isinstance(v, dict) and "action" in v for v in raw.values())):
        return read_nslt(path, num_classes=num_classes)
    raise UserError(
        f"{path}: neither WLASL_v0.3.json's shape (a list of {{gloss, instances: [...]}}) nor nslt's "
        "({video_id: {subset, action: [class, start, end]}})"
    )


def find_metadata(data: Path | str, num_classes: int) -> tuple[Metadata, Path]:
    """The metadata of ``data`` (a JSON file, or a WLASL root holding one) and the root
    that holds ``videos/``. In a root: WLASL_v0.3.json, else WLASL{K}.json, else nslt_{K}.json."""
    data = Path(data).expanduser()
    if data.is_file():
        return read_metadata(data, num_classes), data.parent
    if not data.is_dir():
        raise UserError(f"{data}: no such file or folder (a WLASL root, WLASL_v0.3.json or nslt_K.json)")
    names = (FULL_METADATA, f"WLASL{num_classes}.json", f"nslt_{num_classes}.json")
    for name in names:
        if (data / name).is_file():
            return read_metadata(data / name, num_classes), data
    raise UserError(f"{data}: holds none of {', '.join(names)}")


# ------------------------------------------------------------------ splits as cached clips


def _pick(instances: list[Instance], max_rows: int, seed: int) -> list[Instance]:
    """A stratified subset of each split (``max_rows`` > 0), for smoke runs."""
    if max_rows <= 0:
        return instances
    # imported here: splits imports torch, which decoding processes do without
    from .splits import stratified_subset

    out = []
    for split in SPLITS:
        part = [i for i in instances if i.split == split]
        if part:
            keep = stratified_subset(np.asarray([i.label for i in part]), max_rows, seed)
            out += [part[k] for k in keep]
    return out


def load_wlasl(
    data: Path | str,
    num_classes: int,
    opts: ClipOptions = ClipOptions(),
    video_dir: Optional[str] = None,
    max_rows: int = 0,
    seed: int = 0,
    cache_dir: Optional[str] = None,
    workers: int = 0,
) -> VideoSplits:
    """WLASL-``num_classes`` of ``data`` as cached clips; missing and undecodable videos
    are left out and listed in ``skipped``."""
    meta, videos, present, missing = list_videos(data, num_classes, video_dir)
    folder = cache_root(cache_dir) / CLIPS
    present = _pick(present, max_rows, seed)
    jobs = [
        (str(videos / f"{i.video_id}.mp4"), i, opts, str(entry_path(folder, videos / f"{i.video_id}.mp4", i, opts)))
        for i in present
    ]
    decoded = build_entries(jobs, workers)
    kept, corrupt, why = [], [], {}
    for job in jobs:
        entry = Path(job[3])
        if entry.is_file():
            kept.append(job)
        else:
            corrupt.append(job[1].video_id)
            why[job[1].video_id] = failure_path(entry).read_text() if failure_path(entry).is_file() else "not decoded"
            log.debug("%s: cannot decode (%s); skipped", job[0], why[job[1].video_id])
    splits = VideoSplits(
        class_names=meta.glosses,
        clips={s: [j[3] for j in kept if j[1].split == s] for s in SPLITS},
        labels={s: np.asarray([j[1].label for j in kept if j[1].split == s], dtype=np.int64) for s in SPLITS},
        video_ids={s: [j[1].video_id for j in kept if j[1].split == s] for s in SPLITS},
        skipped={"missing": [i.video_id for i in missing], "corrupt": corrupt},
        source=f"{meta.source} (videos in {videos})",
        decoded=decoded,
        jobs=kept,
    )
    for split in SPLITS:
        if not splits.clips[split]:
            raise UserError(
                f"{meta.source}: the {split} split holds no readable video; {len(missing)} of "
                f"{len(present) + len(missing)} videos are missing under {videos}, {len(corrupt)} undecodable"
            )
    tried = [j[1] for j in jobs if j[1].split == "train"]
    readable = {j[1].label for j in kept if j[1].split == "train"}
    for label in sorted({i.label for i in tried} - readable):  # a few bad videos are skipped; a whole class is not
        n = sum(1 for i in tried if i.label == label)
        raise UserError(
            f"{meta.source}: gloss {meta.glosses[label]!r} (class {label}): none of its {n} training "
            f"videos under {videos} can be decoded (first: {next(i.video_id for i in tried if i.label == label)}.mp4)"
        )
    if missing or corrupt:  # going on without them: one line, not one per video (WLASL misses hundreds)
        first = f" (first undecodable: {corrupt[0]}.mp4, {why[corrupt[0]]})" if corrupt else ""
        log.warning(
            "%s: %d of %d videos missing under %s, %d undecodable%s; training without them",
            meta.source,
            len(missing),
            len(present) + len(missing),
            videos,
            len(corrupt),
            first,
        )
    return splits


def list_videos(
    data: Path | str, num_classes: int, video_dir: str | None = None
) -> tuple[Metadata, Path, list[Instance], list[Instance]]:
    """The metadata of WLASL-``num_classes``, its videos folder, and its instances whose
    video is there / missing. A few missing videos are normal for WLASL (dead links); a
    split, or a gloss's training videos, all missing is an error, found without decoding."""
    meta, root = find_metadata(data, num_classes)
    videos = Path(video_dir).expanduser() if video_dir else root / "videos"
    present: list[Instance] = []
    missing: list[Instance] = []
    for inst in meta.instances:
        (present if (videos / f"{inst.video_id}.mp4").is_file() else missing).append(inst)
    for split in SPLITS:
        if not any(i.split == split for i in present):
            raise UserError(
                f"{meta.source}: the {split} split holds no readable video; {len(missing)} of "
                f"{len(present) + len(missing)} videos are missing under {videos}, 0 undecodable"
            )
    train = [i for i in meta.instances if i.split == "train"]
    have = {i.label for i in present if i.split == "train"}
    for label, gloss in enumerate(meta.glosses):
        listed = sum(1 for i in train if i.label == label)
        if not listed:
            raise UserError(
                f"{meta.source}: gloss {gloss!r} (class {label}) lists no training video; each of the "
                f"{len(meta.glosses)} glosses of WLASL-{len(meta.glosses)} needs some"
            )
        if label not in have:
            raise UserError(
                f"{meta.source}: gloss {gloss!r} (class {label}): all {listed} of its training videos "
                f"are missing under {videos}"
            )
    return meta, videos, present, missing


# ------------------------------------------------------------------ generated stand-in


def _synthetic_clip(label: int, classes: int, frames: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """A bright disc moving out from near the centre in the class's direction, over a
    noisy background of random brightness."""
    angle = 2 * np.pi * label / classes
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    base = rng.uniform(40, 110)
    colour = rng.uniform(170, 255, size=3)
    start = side / 2 + rng.normal(0, side * 0.04, size=2)
    travel = side * rng.uniform(0.28, 0.36)
    radius = side * 0.12
    out = np.empty((frames, side, side, 3), dtype=np.uint8)
    for t in range(frames):
        cx, cy = start + travel * t / max(1, frames - 1) * np.array([np.cos(angle), np.sin(angle)])
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) <= radius**2
        frame = base + rng.normal(0, 12, size=(side, side, 3))
        frame[disc] = colour
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def synthetic_wlasl(
    size: int,
    classes: int,
    seed: int = 0,
    cache_dir: Optional[str] = None,
    frames: int = 20,
    side: int = 64,
    pad: int = 4,
) -> Path:
    """A WLASL root (WLASL_v0.3.json + videos/*.mp4) of ``size`` generated clips, made once
    per cache folder. Every other clip has ``pad`` still frames before and after its
    motion, which its frame_start / frame_end leave out, as WLASL's ranges do."""
    key = {"version": 2, "size": size, "classes": classes, "seed": seed, "frames": frames, "side": side, "pad": pad}
    parent = cache_root(cache_dir) / SYNTHETIC
    root = parent / key_digest(key)[:20]
    if (root / FULL_METADATA).is_file():
        return root
    tmp = None
    try:
        with build_lock(parent):
            if (root / FULL_METADATA).is_file():
                return root
            # imported here: splits imports torch, which decoding processes do without
            from .splits import stratified_split

            rng = np.random.default_rng(seed)
            labels = np.arange(size) % classes
            split_of = np.empty(size, dtype=object)
            for name, rows in zip(SPLITS, stratified_split(labels, (0.7, 0.15, 0.15), seed)):
                split_of[rows] = name
            tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".build-"))
            glosses = [{"gloss": f"motion-{c:02d}", "instances": []} for c in range(classes)]
            for n in range(size):
                clip = _synthetic_clip(int(labels[n]), classes, frames, side, rng)
                padded = n % 2 == 1
                if padded:
                    still = np.repeat(np.full((1, side, side, 3), 90, dtype=np.uint8), pad, axis=0)
                    clip = np.concatenate([still, clip, still])
                video_id = f"{n:05d}"
                write_video(tmp / "videos" / f"{video_id}.mp4", clip, codec="mpeg4")  # repeatable
                glosses[labels[n]]["instances"].append(
                    {
                        "video_id": video_id,
                        "split": split_of[n],
                        "frame_start": pad + 1 if padded else 1,
                        "frame_end": pad + frames if padded else -1,
                        "fps": 25,
                        "bbox": [0, 0, side, side],
                        "signer_id": 0,
                        "instance_id": n,
                        "source": "synthetic",
                        "url": "",
                        "variation_id": 0,
                    }
                )
            (tmp / FULL_METADATA).write_text(json.dumps(glosses))
            os.replace(tmp, root)
    except OSError as e:
        raise UserError(
            f"{parent}: cannot write the generated videos ({e.strerror}); set SWEEPLAB_CACHE or cache_dir"
        ) from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
