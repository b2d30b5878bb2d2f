"""The on-disk cache of decoded WLASL clips (report 002), which every trial on a node reads
instead of the mp4 files, and the pool of decoding processes that fills it.

Each clip is decoded once (PyAV), sampled, cropped and resized into
``<cache>/wlasl-clips/<video_id>-<digest>.npy``; the digest covers the video file's
identity (path, size, mtime), the frame count, the size, the frame range and the crop.
Clips not cached yet are decoded by parallel worker processes while a lock keeps other
trials from decoding the same ones; a video that cannot be decoded leaves a ``.err``
entry (delete it to retry), so a second sweep over the same data decodes nothing at all.

A job is ``(video path, Instance, ClipOptions, entry path)``. The decoding processes
import this module alone (``_worker``), and wlasl_types.py when they unpickle a
job's Instance; neither imports torch.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..errors import UserError
from ..progress import Ticker
from .cache import build_lock, file_stamps, key_digest, write_atomically
from .video import DecodeError, decode_clip
from .wlasl_types import Instance, VideoSplits

FORMAT_VERSION = 1  # bump when decoding, sampling, cropping or the entry layout changes
CLIPS = "wlasl-clips"


@dataclass(frozen=True)
class ClipOptions:
    num_frames: int = 16
    size: int = 224
    frame_range: bool = True  # sample inside [frame_start, frame_end]; False: the whole file
    bbox_crop: bool = False  # square crop around the signer's box; False: the centre square


def entry_path(folder: Path, video: Path, inst: Instance, opts: ClipOptions) -> Path:
    key = {
        "format": FORMAT_VERSION,
        "video_id": inst.video_id,
        "file": file_stamps([video])[0],
        "frames": opts.num_frames,
        "size": opts.size,
        "range": [inst.frame_start, inst.frame_end] if opts.frame_range else None,
        "box": list(inst.bbox) if opts.bbox_crop and inst.bbox else None,
    }
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", inst.video_id)[:64]
    return folder / f"{safe}-{key_digest(key)[:20]}.npy"


def failure_path(entry: Path) -> Path:
    return entry.with_suffix(".err")


def _record_failure(entry: Path, reason: str) -> None:
    write_atomically(failure_path(entry), lambda f: f.write(reason.encode()))


def build_entry(job: tuple, threads: int = 0) -> Optional[str]:
    """Decode one clip into its cache entry; None, or why it could not be decoded (which
    is recorded beside the entry). ``threads``: FFmpeg's decoding threads (0: its choice)."""
    video, inst, opts, entry = job
    video, entry = Path(video), Path(entry)
    if not video.is_file():  # gone since it was listed (or absent on this node): record nothing
        return "missing"
    try:
        start, end = (inst.frame_start, inst.frame_end) if opts.frame_range else (1, -1)
        clip, _ = decode_clip(
            video, opts.num_frames, opts.size, start, end, inst.bbox if opts.bbox_crop else None, threads=threads
        )
    except DecodeError as e:
        _record_failure(entry, str(e))
        return str(e)
    write_atomically(entry, lambda f: np.save(f, clip))
    return None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _done(job: tuple) -> bool:
    entry = Path(job[3])
    return entry.is_file() or failure_path(entry).is_file()


def build_entries(jobs: Sequence[tuple], workers: int = 0) -> int:
    """Decode the clips of ``jobs`` whose entries are not cached yet, in ``workers``
    processes (0: one per CPU). Returns how many were decoded here."""
    todo = [j for j in jobs if not _done(j)]
    if not todo:
        return 0
    folder = Path(todo[0][3]).parent
    try:
        with build_lock(folder):
            todo = [j for j in todo if not _done(j)]  # another process may have built them meanwhile
            workers = min(workers or _cpus(), len(todo))
            tick = Ticker("decoding clips:", len(todo))
            if workers <= 1:
                for n, job in enumerate(todo, 1):
                    build_entry(job)
                    tick(n)
            else:
                _decode_in_processes(todo, workers, folder, tick)
    except OSError as e:
        raise UserError(
            f"{folder}: cannot write the clip cache ({e.strerror}); set SWEEPLAB_CACHE or cache_dir"
        ) from None
    return len(todo)


def _decode_in_processes(todo: list[tuple], workers: int, folder: Path, tick: Ticker) -> None:
    """Fresh interpreters (not multiprocessing's fork or spawn: the caller may be a Ray
    worker with threads, or a script without a ``__main__`` guard), each decoding every
    ``workers``-th clip. One that dies inside FFmpeg has the clip it was on recorded as
    undecodable; the clips after it go to the next round."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    while todo:
        running = []
        with tempfile.TemporaryDirectory(dir=folder, prefix=".progress-") as progress:
            for n in range(min(workers, len(todo))):
                chunk = todo[n::workers]
                log_path = Path(progress) / f"{n}.txt"
                with open(log_path, "wb") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-c", "from sweeplab.data.wlasl_cache import _worker; _worker()"],
                        stdin=subprocess.PIPE,
                        stdout=out,
                        env=env,
                    )
                assert proc.stdin is not None  # stdin=PIPE
                try:
                    proc.stdin.write(pickle.dumps(chunk))
                    proc.stdin.close()
                except BrokenPipeError:  # it died at once; its exit code tells below
                    pass
                running.append((proc, chunk, log_path))
            done_before = tick.total - len(todo)  # decoded in earlier rounds
            while any(proc.poll() is None for proc, _, _ in running):  # each says which job it starts
                tick(done_before + sum(max(0, len(log.read_text().split()) - 1) for _, _, log in running))
                time.sleep(0.5)
            codes = []
            for proc, chunk, log_path in running:
                codes.append(proc.wait())
                started = log_path.read_text().split()
                if codes[-1] != 0 and started and not _done(chunk[int(started[-1])]):
                    _record_failure(
                        Path(chunk[int(started[-1])][3]), f"the decoding process died on it (exit code {codes[-1]})"
                    )
        left = [j for j in todo if not _done(j) and Path(j[0]).is_file()]
        if len(left) == len(todo):
            raise UserError(
                f"the video decoding processes exited with codes {codes} before decoding anything; "
                f"their messages are above"
            )
        todo = left


def _worker() -> None:
    """A decoding process: jobs (pickled) on stdin; the index of each job it starts on stdout."""
    jobs = pickle.load(sys.stdin.buffer)
    for i, job in enumerate(jobs):
        print(i, flush=True)
        build_entry(job, threads=1)


def ensure_cached(splits: VideoSplits, workers: int = 0) -> None:
    """On a node other than the one that loaded ``splits``, decode what its cache lacks
    (nothing where the cache folder is shared or already filled)."""
    build_entries(splits.jobs, workers)
    absent = [j[0] for j in splits.jobs if not Path(j[3]).is_file()]
    if absent:
        raise UserError(
            f"{len(absent)} cached clips are absent on this node and their videos cannot be decoded here "
            f"(first: {absent[0]}); put the videos or the cache (SWEEPLAB_CACHE / cache_dir) on storage every node sees"
        )


def read_clips(paths: Iterable[str]) -> np.ndarray:
    """Cached clips stacked: uint8 (n, frames, size, size, 3)."""
    return np.stack([np.load(p) for p in paths])
