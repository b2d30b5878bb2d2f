"""The on-disk cache that trials on a node share: tokenized corpora, trained scorers.

Entries are keyed by a hash of what they were built from (files' identity, options), and
written to a temporary name then renamed, so trials that build the same entry at once
never read half a file. A cache that cannot be written is a warning, not a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Optional

import numpy as np

log = logging.getLogger(__name__)


def cache_root(cache_dir: Optional[str] = None) -> Path:
    """``cache_dir``, else $SWEEPLAB_CACHE, else ~/.cache/sweeplab (settings.py)."""
    from .. import settings

    return Path(cache_dir).expanduser() if cache_dir else settings.get().cache_dir


def file_stamps(paths: Iterable[Path]) -> list:
    """What identifies a file's content cheaply: path, size, modification time."""
    return [[str(p.resolve()), (st := p.stat()).st_size, st.st_mtime_ns] for p in paths]


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def cached_arrays(
    kind: str, key: dict, build: Callable[[], dict[str, np.ndarray]], cache_dir: Optional[str] = None
) -> dict[str, np.ndarray]:
    """The arrays ``build()`` makes for ``key``, built at most once per cache folder."""
    folder = cache_root(cache_dir) / kind
    path = folder / f"{kind}-{key_digest(key)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            log.warning("%s: unreadable cache entry; rebuilding it", path)
    arrays = build()
    try:
        # allow_pickle named (its default): an array named "allow_pickle" cannot take its place
        write_atomically(path, lambda f: np.savez(f, allow_pickle=True, **arrays))
    except OSError as e:
        warnings.warn(f"{folder}: cannot write the cache ({e.strerror}); going on without it", stacklevel=2)
    return arrays


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it to ``path``:
    a reader sees the whole entry or none. Raises OSError (nothing is left behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".tmp", delete=False) as f:
            tmp = f.name
            write(f)
        os.chmod(tmp, 0o644)  # NamedTemporaryFile makes it private; the cache is shared
        os.replace(tmp, path)
    except BaseException:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Held while entries of ``folder`` are built: a second process that would build the
    same entries waits, then finds them made. Without a lock (no fcntl, read-only folder)
    both build, which the atomic writes keep correct."""
    try:
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".build.lock", os.O_CREAT | os.O_WRONLY, 0o666)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
