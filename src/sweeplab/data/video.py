"""Video clips as arrays: PyAV decoding, uniform frame sampling inside a frame range, a
square crop (around a bounding box or the frame's centre) resized with Pillow, and mp4
writing for generated data and tests. No torch here: decoding runs in worker processes.

A clip is ``uint8 (frames, size, size, 3)``, RGB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


class DecodeError(Exception):
    """The file is not a readable video (or holds no frames): skipped and counted, not fatal."""


def segment_indices(count: int, num_frames: int) -> np.ndarray:
    """``num_frames`` positions in ``range(count)``: the middle of each of ``num_frames``
    equal segments, so a clip shorter than ``num_frames`` repeats frames evenly."""
    if count < 1:
        return np.zeros(0, dtype=np.int64)
    return np.minimum(((np.arange(num_frames) + 0.5) * count / num_frames).astype(np.int64), count - 1)


def square_region(width: int, height: int, box: Optional[Sequence[float]] = None) -> Box:
    """The largest square inside the frame centred on ``box`` (the whole frame when None)
    whose side is the box's longer side: a centre crop by default, the signer with a box."""
    x0, y0, x1, y1 = (0.0, 0.0, float(width), float(height)) if box is None else map(float, box)
    x0, x1 = max(0.0, min(x0, x1)), min(float(width), max(x0, x1))
    y0, y1 = max(0.0, min(y0, y1)), min(float(height), max(y0, y1))
    if x1 - x0 < 1 or y1 - y0 < 1:  # a box outside the frame: fall back to the centre
        x0, y0, x1, y1 = 0.0, 0.0, float(width), float(height)
    side = min(max(x1 - x0, y1 - y0), width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(0.0, cx - side / 2), width - side)
    top = min(max(0.0, cy - side / 2), height - side)
    return (left, top, left + side, top + side)


def _frames(path: Path, first: int, last: Optional[int], threads: int = 0):
    """Decoded frames with 0-based index in [first, last] (last None: to the end)."""
    try:
        with _open(path) as container:
            if not container.streams.video:
                raise DecodeError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
            for i, frame in enumerate(container.decode(stream)):
                if last is not None and i > last:
                    break
                if i >= first:
                    yield frame
    except DecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure inside FFmpeg / PyAV marks the file undecodable, never the run
        raise DecodeError(f"{type(e).__name__}: {e}") from None


def _open(path: Path):
    import av

    return av.open(str(path), mode="r")


def decode_clip(
    path: Union[str, Path],
    num_frames: int,
    size: int,
    frame_start: int = 1,
    frame_end: int = -1,
    box: Optional[Sequence[float]] = None,
    threads: int = 0,
) -> tuple[np.ndarray, bool]:
    """``num_frames`` frames sampled uniformly inside [frame_start, frame_end] (1-based,
    inclusive; frame_end -1 = to the end), each cropped to ``square_region`` and resized
    to ``size`` x ``size``. Returns the clip and whether the range was used.
    ``threads``: FFmpeg's decoding threads (0: its choice; 1 in a pool of processes).

    WLASL gives ranges in the frames of the source video. A file that ends before
    ``frame_end`` is a clip that WLASL's preprocessing already cut to that range, so it
    is sampled whole (and the second value is False).
    """
    from PIL import Image

    path = Path(path)
    first = max(0, frame_start - 1)
    last = None if frame_end is None or frame_end < 0 else max(first, frame_end - 1)
    kept = list(_frames(path, first, last, threads))
    used_range = bool(kept) and (last is None or len(kept) == last - first + 1)
    if not used_range and (first > 0 or last is not None):
        kept = list(_frames(path, 0, None, threads))  # the file is shorter than the range: take it whole
    if not kept:
        raise DecodeError("no frames")
    region = square_region(kept[0].width, kept[0].height, box)
    out = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for row, i in enumerate(segment_indices(len(kept), num_frames)):
        image = kept[i].to_image()  # RGB
        out[row] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=region))
    return out, used_range


def write_video(path: Union[str, Path], frames: np.ndarray, fps: int = 25, codec: Optional[str] = None) -> None:
    """``uint8 (T, H, W, 3)`` RGB frames to an mp4: H.264 by default (MPEG-4 part 2 where
    the FFmpeg build lacks x264). ``codec="mpeg4"`` writes the same bytes on every run,
    which x264 through PyAV does not. H and W must be even (yuv420p)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        else:
            stream.bit_rate = 4_000_000  # near lossless at these sizes; FFmpeg's default blurs
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = i  # in the stream's 1/fps time base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
