"""The results store's files, wherever they live: a path of this machine or any URI
pyarrow understands (s3://, gs://, file:// for a shared mount). Files are replaced whole
(written under a temporary name, synced, renamed); JSON objects and Parquet frames are read
back whole, and a file that is damaged anyway (cut short, garbage, the wrong shape) is a
:class:`CorruptStore` naming it, in one line. What the files hold is ``store.py``'s."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from typing import Any, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from .errors import UserError
from .schema import is_remote


class CorruptStore(UserError, ValueError):
    """A store file that is not what it should be: cut short, garbage, or the wrong shape.
    Said in one line naming the file (a UserError); a ValueError too, so code that already
    treats an unreadable file as unreadable (``except (OSError, ValueError)``) still does."""

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: {what}")
        self.path, self.what = path, what


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for ``uri`` and the path on it (a path of this machine: absolute)."""
    if is_remote(uri):
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def shown(path: str) -> str:
    """A path as a command sweeplab prints names it: relative to the working directory when
    it lies under it, else absolute (a URI as it is), so the command runs as printed from
    where the user ran the last one."""
    if is_remote(path):
        return path
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return full if rel == ".." or rel.startswith(".." + os.sep) else rel


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def local_folder(uri: str) -> Optional[str]:
    """The folder of this machine a store URI names: a path, or file:///PATH (a shared mount);
    None for an object store (s3://, gs://)."""
    if not is_remote(uri):
        return uri
    return uri[len("file://") :] if uri.startswith("file://") else None


def delete(uri: str) -> None:
    fs, path = filesystem(uri)
    fs.delete_file(path)


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def write_bytes(uri: str, data: bytes) -> None:
    """Readers never see half a file, and a crash leaves the old file or the new one: the
    bytes go to a temporary name in the same folder, then replace the file in one rename."""
    fs, path = filesystem(uri)
    if isinstance(fs, pafs.LocalFileSystem):  # a local path or file://
        _write_local(path, data)
        return
    fs.create_dir(os.path.dirname(path), recursive=True)
    tmp = _tmp_name(path)
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    try:
        fs.move(tmp, path)
    except NotImplementedError:  # a store without rename: one upload is all-or-nothing anyway
        with fs.open_output_stream(path) as f:
            f.write(data)
        fs.delete_file(tmp)


def _tmp_name(path: str) -> str:
    # ".tmp-" marks what storage_checks.mark_failed clears away
    return f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"


def _write_local(path: str, data: bytes) -> None:
    """On disk before the rename, and the rename on disk after it: a power cut leaves the old
    file or the new one, never an empty one."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def fsync_dir(folder: str) -> None:
    """A new or renamed file's name survives a power cut once its folder is synced (POSIX;
    where a folder cannot be opened, Windows, this is skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_json(uri: str, obj: Any) -> None:
    write_bytes(uri, json.dumps(obj, indent=2, default=str).encode())


_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def read_json(uri: str) -> dict[str, Any]:
    """A store JSON file (sweep.json): UTF-8 text holding one object."""
    data = read_bytes(uri)
    if not data.strip():  # what a crash before the data reached the disk leaves (fsck: 0 bytes)
        raise CorruptStore(uri, f"empty ({len(data)} bytes): cut short by a crash before it reached the disk")
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CorruptStore(uri, f"not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CorruptStore(uri, f"not JSON ({e.msg}: line {e.lineno} column {e.colno})") from None
    if not isinstance(obj, dict):
        raise CorruptStore(uri, f"holds {_JSON_KINDS.get(type(obj), 'a value')}, not a JSON object")
    return obj


# a frame's attribute (kept in the Parquet file) naming its columns written as JSON text
_JSON_COLUMNS = "sweeplab_json_columns"
_UNTYPED = (pa.ArrowException, ValueError, TypeError, OverflowError, NotImplementedError)


def write_frame(uri: str, frame: pd.DataFrame) -> None:
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)
    except _UNTYPED:  # a column no Parquet type holds: see _as_json
        buf = io.BytesIO()
        _as_json(frame).to_parquet(buf, index=False)
    write_bytes(uri, buf.getvalue())


def _as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column Arrow cannot type (a string among numbers, an int past
    64 bits, a list beside a number) as JSON text of its values (as :func:`scalar` makes
    them), which read_frame turns back into those values: a trial's odd report neither
    stops the sweep nor is lost."""
    out = frame.copy()
    untyped = [c for c in frame.columns if frame[c].dtype == object and not _typed(frame[c])]
    for column in untyped:
        out[column] = pd.Series(
            [None if missing(v) else json.dumps(scalar(v)) for v in frame[column]], index=frame.index, dtype=object
        )
    out.attrs = {_JSON_COLUMNS: untyped}
    return out


def _typed(values: pd.Series) -> bool:
    try:
        pa.array(values, from_pandas=True)
    except _UNTYPED:
        return False
    return True


def missing(v: Any) -> bool:
    """None or NaN: a cell that holds no value."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def _jsonable(value: Any) -> Any:
    """numpy arrays and scalars (and tensors) as their values; anything else as its text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def read_frame(uri: str) -> pd.DataFrame:
    data = read_bytes(uri)
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as e:
        # Arrow's first sentence, without the name of the buffer it read
        reason = str(e).split("\n")[0].rsplit("': ", 1)[-1].split(". ")[0]
        raise CorruptStore(uri, f"not a Parquet file (cut short or damaged: {reason})") from None
    for column in frame.attrs.pop(_JSON_COLUMNS, []):
        frame[column] = pd.Series(
            [json.loads(v) if isinstance(v, str) else None for v in frame[column]], index=frame.index, dtype=object
        )
    return frame


def scalar(value: Any) -> Any:
    """Parquet-friendly: numbers and strings stay, everything else becomes JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    try:
        return json.dumps(value, default=_jsonable)
    except (TypeError, ValueError):  # keys JSON cannot have (a tuple), a structure that holds itself
        return str(value)
