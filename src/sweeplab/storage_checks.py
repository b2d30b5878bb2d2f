"""The sweep's storage: checked before Ray starts (made, written, room left; on resume, Ray's
own state there whole), and marked failed when it fills up or turns read-only under a
running sweep, so that ``resume`` refuses it with the reason instead of continuing from a
half-written state."""

from __future__ import annotations

import os
import pickletools
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from . import files, settings
from .errors import UserError, causes
from .schema import is_remote


def check_ray_state(sweep_uri: str) -> None:
    """Ray's experiment state is whole before Ray starts on it: tuner.pkl and the newest
    searcher-state-*.pkl and search_gen_state-*.json (the searcher's state and its wrapper's,
    both pickles, whatever the name says: the newest by name is what Tune restores) run to
    their end as pickles (read, not unpickled, which would import what they name), and the
    newest experiment_state-*.json is a JSON object."""
    fs, path = files.filesystem(sweep_uri)
    names = [i.base_name for i in fs.get_file_info(pafs.FileSelector(path))]
    newest = {
        prefix: max((n for n in names if n.startswith(prefix) and n.endswith(suffix)), default=None)
        for prefix, suffix in (
            ("experiment_state-", ".json"),
            ("searcher-state-", ".pkl"),
            ("search_gen_state-", ".json"),
        )
    }
    for name in ("tuner.pkl", newest["searcher-state-"], newest["search_gen_state-"]):
        if name is None:
            continue
        pkl = files.join(sweep_uri, name)
        try:
            for _ in pickletools.genops(files.read_bytes(pkl)):
                pass
        except ValueError as e:
            what = "experiment" if name == "tuner.pkl" else "searcher"
            raise files.CorruptStore(pkl, f"Ray's {what} state is damaged (not a whole pickle: {e})") from None
    if newest["experiment_state-"]:
        files.read_json(files.join(sweep_uri, newest["experiment_state-"]))


def check_storage(storage: str) -> None:
    """Before Ray starts: the storage folder can be made and written, and has room. A
    folder made for the probe is removed again, so a refused sweep leaves nothing."""
    if is_remote(storage):
        return  # an object store: Ray's own upload says what is wrong
    import errno
    import tempfile

    path, missing = Path(storage), []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    if not path.is_dir():
        raise UserError(f"--storage {storage}: cannot create it ({path} is a file)")
    made, free, floor = [], None, settings.get().min_free_mb
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
        fd, probe = tempfile.mkstemp(dir=storage, prefix=".sweeplab-probe-")
        try:
            os.write(fd, b"\0" * 65536)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
        st = os.statvfs(storage)
        free = st.f_bavail * st.f_frsize / 2**20
    except OSError as e:
        if e.errno == errno.ENOSPC:
            free = 0.0
        else:
            raise UserError(f"--storage {storage}: cannot write there ({e.strerror})") from None
    finally:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
    if free is not None and free < floor:
        raise UserError(
            f"--storage {storage}: no space left ({free:.1f} MiB free; a sweep needs {floor:g} MiB "
            "or more for its results and checkpoints; SWEEPLAB_MIN_FREE_MB sets the floor)"
        )


FAILED = "FAILED"  # in a sweep folder: the sweep cannot be resumed; the file says why
# the storage itself gave out: full, over quota, or remounted read-only
_STORAGE_ERRNOS = {28: "no space left on device", 122: "disk quota exceeded", 30: "read-only file system"}


def storage_failure(storage: str, uri: str, error: BaseException | None = None, results: Any = None) -> None:
    """After Tune ran (``results``, its ResultGrid) or raised (``error``): where the storage
    filled up or went read-only under the sweep (checkpoints, Ray's state, the store), mark
    the sweep folder failed and raise the one-line UserError; otherwise return. Ray's
    experiment state may be half-written then, so the sweep is refused by ``resume``.
    ``storage``: the --storage folder; ``uri``: the sweep's folder in it."""
    errors = [error, *(getattr(r, "error", None) for r in (results or []))]
    found = next(
        (
            _STORAGE_ERRNOS[e.errno]
            for err in errors
            for e in causes(err)
            if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS
        ),
        None,
    )
    if found is None:
        # The fallback, for errors that reach here as text only: Ray turns a trial's exception
        # it cannot pickle into a message (its cause a plain RayError), and a TuneError holds
        # text too; there the errno is all the message keeps of the OSError.
        texts = [str(e) for e in errors if e is not None]
        found = next(
            (why for code, why in _STORAGE_ERRNOS.items() for t in texts if f"[Errno {code}]" in t or why in t.lower()),
            None,
        )
    if found is None:
        return
    fix = "make it writable" if found == _STORAGE_ERRNOS[30] else "free space"
    if mark_failed(uri, f"{found} under {storage} while the sweep ran"):
        raise UserError(
            f"--storage {storage}: {found} while the sweep ran (trial checkpoints, results); "
            f"{uri} is marked failed and cannot be resumed: {fix}, then start the sweep again"
        )
    raise UserError(
        f"--storage {storage}: {found} while the sweep ran (trial checkpoints, results); "
        f"{uri} could not be marked failed (nothing can be written there): do not resume it; "
        f"{fix}, then start the sweep again"
    )


def mark_failed(uri: str, reason: str) -> bool:
    """Write ``FAILED`` (the reason) into a local sweep folder, after removing the store's
    half-written temporary files; on a disk too full even for that, an empty ``FAILED``.
    On URI storage, the marker alone. False where no marker could be written."""
    if is_remote(uri):
        try:
            files.write_bytes(files.join(uri, FAILED), (reason + "\n").encode())
            return True
        except Exception:  # pyarrow's filesystems raise their own errors; the marker is best effort
            return False
    if not os.path.isdir(uri):
        return False
    for name in os.listdir(uri):
        if ".tmp-" in name:
            try:
                os.unlink(os.path.join(uri, name))
            except OSError:
                pass
    path = os.path.join(uri, FAILED)
    try:
        files.write_bytes(path, (reason + "\n").encode())
    except OSError:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))  # a name needs no data blocks
        except OSError:
            return False
    return True


def refuse_failed(uri: str) -> None:
    """A sweep marked failed is not resumed: say why, in one line."""
    if not files.exists(files.join(uri, FAILED)):
        return
    try:
        reason = files.read_bytes(files.join(uri, FAILED)).decode(errors="replace").strip()
    except OSError:
        reason = ""
    reason = reason or "its storage gave out, full or read-only, while it ran"  # an empty marker: no room for more
    raise UserError(
        f"{uri}: the sweep is marked failed ({reason}); it cannot be resumed: "
        "start a new sweep (its recorded trials stay readable by analyze)"
    )
