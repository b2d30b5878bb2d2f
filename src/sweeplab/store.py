"""The results store: what analysis and the dashboard read, written while a sweep runs.

Beside Ray's own files each sweep folder holds
  ``sweep.json``       experiment, the space file's text, scheduler, searcher, seed, versions
  ``trials.parquet``   one row per trial: id, status, preset, config/*, last metrics,
                       best of the sweep metric, iterations, wall time, error text
  ``history.parquet``  every reported row of every trial
  ``decisions.parquet`` what the scheduler decided at each rung, and on what scores
  ``journal.jsonl``    trial events since the Parquet files were last rewritten
This module imports no Ray: the Tune callback that feeds it lives in ``tuning.py``.
Paths may be local or any URI pyarrow understands (s3://, gs://, ...). Files are replaced
whole (written under a temporary name, synced, renamed); a file that is damaged anyway
(cut short, garbage, the wrong shape) is a :class:`CorruptStore` naming it, in one line.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import pickletools
import time
from typing import Any, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from .errors import UserError
from .secrets import redact
from .schema import PREDICTIONS

SWEEP_JSON, TRIALS, HISTORY = "sweep.json", "trials.parquet", "history.parquet"
DECISIONS = "decisions.parquet"  # the scheduler's decisions: trial, rung, epoch, action, the rung's scores
JOURNAL = "journal.jsonl"  # events since the Parquet files were last rewritten (see SweepRecorder)
JOURNAL_SEGMENTS = "journal"  # the same, one object per event, on an object store
# Tune's bookkeeping fields that say nothing about the model
_DROP = {
    "config", "done", "trial_id", "date", "checkpoint_dir_name",
    "should_checkpoint", "time_since_restore", "iterations_since_restore", "timesteps_total",
    "episodes_total", "timesteps_since_restore", "experiment_tag",
}


class CorruptStore(UserError, ValueError):
    """A store file that is not what it should be: cut short, garbage, or the wrong shape.
    Said in one line naming the file (a UserError); a ValueError too, so code that already
    treats an unreadable file as unreadable (``except (OSError, ValueError)``) still does."""

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: {what}")
        self.path, self.what = path, what


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def check_shared(storage: str, nodes: int) -> None:
    """Since Ray 2.7 every node writes its trials' results to the storage itself: on more
    than one node a folder of one machine would scatter them. A URI (s3://, gs://) reaches
    every node; so does a shared mount, which the user declares by writing it file:///..."""
    if nodes > 1 and "://" not in storage:
        raise UserError(
            f"--storage {storage}: a folder of this node, but the cluster has {nodes} nodes and Ray needs "
            "storage every node reaches: s3://bucket/sweeps, gs://bucket/sweeps, or a shared (NFS) "
            "mount written as file:///mnt/shared/sweeps")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def local_folder(uri: str) -> Optional[str]:
    """The folder of this machine a store URI names: a path, or file:///PATH (a shared mount);
    None for an object store (s3://, gs://)."""
    if not is_remote(uri):
        return uri
    return uri[len("file://"):] if uri.startswith("file://") else None


def is_remote(uri: str) -> bool:
    """A URI (s3://, gs://, file://) rather than a local path."""
    return "://" in uri


def delete(uri: str) -> None:
    fs, path = _fs(uri)
    fs.delete_file(path)


def exists(uri: str) -> bool:
    fs, path = _fs(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def write_bytes(uri: str, data: bytes) -> None:
    """Readers never see half a file, and a crash leaves the old file or the new one: the
    bytes go to a temporary name in the same folder, then replace the file in one rename."""
    fs, path = _fs(uri)
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
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_json(uri: str, obj: Any) -> None:
    write_bytes(uri, json.dumps(obj, indent=2, default=str).encode())


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def read_json(uri: str) -> dict[str, Any]:
    """A store JSON file (sweep.json): UTF-8 text holding one object."""
    try:
        obj = json.loads(read_bytes(uri).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CorruptStore(uri, f"not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CorruptStore(uri, f"not JSON ({e.msg}: line {e.lineno} column {e.colno})") from None
    if not isinstance(obj, dict):
        raise CorruptStore(uri, f"holds {_JSON_KINDS.get(type(obj), 'a value')}, not a JSON object")
    return obj


# sweep.json's keys that analysis and resume use, and the JSON type each must have (or null)
_META_TYPES = {"experiment": str, "metric": str, "mode": str, "name": str, "scheduler": str, "searcher": str,
               "presets": dict, "options": dict, "scheduler_options": dict}


def read_meta(sweep_uri: str) -> dict[str, Any]:
    """A sweep's sweep.json, its keys of the types analysis and resume rely on."""
    uri = join(sweep_uri, SWEEP_JSON)
    meta = read_json(uri)
    for key, kind in _META_TYPES.items():
        value = meta.get(key)
        if value is not None and not isinstance(value, kind):
            expected = "text" if kind is str else "an object"
            raise CorruptStore(uri, f"{key}: expected {expected}, got {json.dumps(value)[:60]}")
    return meta


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
        out[column] = pd.Series([None if _missing(v) else json.dumps(scalar(v)) for v in frame[column]],
                                index=frame.index, dtype=object)
    out.attrs = {_JSON_COLUMNS: untyped}
    return out


def _typed(values: pd.Series) -> bool:
    try:
        pa.array(values, from_pandas=True)
    except _UNTYPED:
        return False
    return True


def _missing(v: Any) -> bool:
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
        frame[column] = pd.Series([json.loads(v) if isinstance(v, str) else None for v in frame[column]],
                                  index=frame.index, dtype=object)
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


def check_ray_state(sweep_uri: str) -> None:
    """Ray's experiment state is whole before Ray starts on it: tuner.pkl's pickle runs to its
    end (read, not unpickled, which would import what it names) and the newest
    experiment_state-*.json is a JSON object."""
    pkl = join(sweep_uri, "tuner.pkl")
    try:
        for _ in pickletools.genops(read_bytes(pkl)):
            pass
    except ValueError as e:
        raise CorruptStore(pkl, f"Ray's experiment state is damaged (not a whole pickle: {e})") from None
    fs, path = _fs(sweep_uri)
    states = [i.base_name for i in fs.get_file_info(pafs.FileSelector(path))
              if i.base_name.startswith("experiment_state-") and i.base_name.endswith(".json")]
    if states:
        read_json(join(sweep_uri, max(states)))


def read_tables(sweep_uri: str, metric: str = "", mode: str = "min") -> tuple[Optional[pd.DataFrame], Optional[pd.DataFrame]]:
    """(trials, history) as stored, the journal's newer events included (a running sweep's
    last seconds, or a killed one's: ``metric`` keeps their best values up to date); None
    for a table with no rows. Writes nothing."""
    rec = SweepRecorder(sweep_uri, {}, metric, mode)
    rec.load()
    trials = pd.DataFrame(list(rec.trials.values())) if rec.trials else None
    history = pd.DataFrame(list(rec.history.values())) if rec.history else None
    return trials, history


def _segment_events(folder: Optional[str]) -> list[tuple[str, dict[str, Any]]]:
    """An object store's journal: (object, event), one event an object, in the order their
    names sort (the time they were written). An object cut short was never acknowledged:
    skipped (and deleted with the others at the next flush)."""
    if not folder:
        return []
    fs, path = _fs(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    out = []
    for info in sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.base_name):
        name = join(folder, info.base_name)
        try:
            entry = json.loads(read_bytes(name).decode("utf-8"))
        except (ValueError, OSError):
            entry = None
        out.append((name, entry if isinstance(entry, dict) and isinstance(entry.get("trial_id"), str) else None))
    return out


def _journal(path: Optional[str]) -> list[tuple[int, dict[str, Any]]]:
    """The journal's events, by line number. Its last line may be torn (a driver killed while
    writing it, whose event was never acknowledged, or one being written now): that line
    is skipped. A line before it that is not an event means the file was damaged."""
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        lines = [(n, line) for n, line in enumerate(f.read().split(b"\n"), start=1) if line.strip()]
    entries = []
    for n, line in lines:
        try:
            entry = json.loads(line.decode("utf-8"))
            if not isinstance(entry, dict) or not isinstance(entry.get("trial_id"), str):
                raise ValueError("not an event: no trial_id")
        except ValueError as e:  # JSON, UTF-8 (both ValueErrors) or the entry's shape
            if n == lines[-1][0]:
                break
            raise CorruptStore(path, f"line {n}: {_line_error(e)}") from None
        entries.append((n, entry))
    return entries


def _line_error(e: ValueError) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text (byte {e.start})"
    if isinstance(e, json.JSONDecodeError):
        return f"not JSON ({e.msg}: column {e.colno})"
    return str(e)


def _rows(uri: str) -> list[dict[str, Any]]:
    frame = read_frame(uri)
    if "trial_id" not in frame.columns:
        raise CorruptStore(uri, "has no trial_id column: not a table this store wrote")
    return frame.to_dict("records")


class SweepRecorder:
    """The store's writer, in the driver. Every event (a trial starts, reports, restarts,
    ends) is appended to ``journal.jsonl`` and flushed to the OS before Tune can act on it
    (save a checkpoint past it, start the next trial), so a killed driver loses nothing; the
    Parquet files are rewritten from memory at most every ``flush_every`` seconds and at the
    end, and the journal is emptied once they hold it. A resumed sweep replays the journal.
    Object-store URIs cannot append: there every start and end rewrites the Parquet instead."""

    def __init__(self, sweep_uri: str, meta: dict[str, Any], metric: str, mode: str,
                 presets: Optional[dict[str, dict]] = None, flush_every: float = 5.0):
        self.uri, self.meta, self.metric, self.mode = sweep_uri, meta, metric, mode
        self.presets = presets or {}
        self.flush_every = flush_every
        self.trials: dict[str, dict[str, Any]] = {}
        self.history: dict[tuple[str, int], dict[str, Any]] = {}  # (trial, iteration) -> row
        self.decisions: list[dict[str, Any]] = []
        self._dirty, self._last_flush = False, -math.inf  # the first event is written through
        folder = local_folder(sweep_uri)
        # the write-ahead record: one file appended to where the store is a folder of this
        # machine (a path or file://), else one object per event under journal/ (object stores
        # cannot append); either is folded into the Parquet files at each flush
        self._journal_path = os.path.join(folder, JOURNAL) if folder else None
        self._segments = None if folder else join(sweep_uri, JOURNAL_SEGMENTS)
        self._written: list[str] = []  # segment objects written or read since the last flush
        self._journal = None
        self._loaded = False

    def open(self) -> None:
        """Write sweep.json; on a resumed sweep, pick up what was already stored.

        sweep.json is written once: Tune copies the top-level .json files of a folder it
        resumes and uploads them again later, so a rewrite would be undone anyway."""
        if not self._loaded:  # ``resume`` has read the store already, to find the finished trials
            self.load()
        if self.meta and not exists(join(self.uri, SWEEP_JSON)):
            write_json(join(self.uri, SWEEP_JSON), redact(self.meta))
        ACTIVE[self.uri] = self
        if self._journal_path and os.path.exists(self._journal_path) and os.path.getsize(self._journal_path):
            self._dirty = True  # fold it in and empty it: a torn last line left there would swallow the next event
        self.flush(force=True)

    def load(self) -> None:
        """What is stored: the Parquet files, then the journal's events over them."""
        self.trials, self.history, self.decisions = {}, {}, []
        if exists(join(self.uri, DECISIONS)):
            self.decisions = _rows(join(self.uri, DECISIONS))
        if exists(join(self.uri, TRIALS)):
            for row in _rows(join(self.uri, TRIALS)):
                self.trials[row["trial_id"]] = row
        if exists(join(self.uri, HISTORY)):
            for row in _rows(join(self.uri, HISTORY)):
                self.history[(row["trial_id"], int(row.get("training_iteration", 0)))] = row
        segments = _segment_events(self._segments)
        self._written = [name for name, _ in segments]  # folded into the Parquet at the next flush
        for n, entry in _journal(self._journal_path) + [(i, e) for i, (_, e) in enumerate(segments, 1) if e]:
            try:
                self._apply(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise CorruptStore(self._journal_path, f"line {n}: not a {entry.get('event', 'result')} event "
                                   f"({type(e).__name__}: {e})") from None
        self._loaded = True

    def preset_of(self, config: dict[str, Any]) -> Optional[str]:
        return preset_of(self.presets, config)

    # ---- events: journalled, then applied

    def started(self, trial_id: str, config: dict[str, Any]) -> None:
        self._event({"event": "start", "trial_id": trial_id, "preset": self.preset_of(config),
                     "config": {k: scalar(v) for k, v in config.items()}}, durable=True)

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        metrics = {k: scalar(v) for k, v in result.items() if k not in _DROP}
        self._event({"event": "result", "trial_id": trial_id, "result": metrics})

    def ended(self, trial_id: str, status: str, error: Optional[str] = None) -> None:
        self._event({"event": "end", "trial_id": trial_id, "status": status, "error": redact(error)}, durable=True)

    def decided(self, trial_id: str, rung: int, epoch: int, action: str, scores: dict[str, float]) -> None:
        """The scheduler's decision about a trial at a rung (continue, pause, promote, stop),
        with the rung's scores as they stood: why a trial went on or did not."""
        self._event({"event": "decision", "trial_id": trial_id, "rung": int(rung), "epoch": int(epoch),
                     "action": action, "scores": json.dumps(scores), "at": time.time()},
                    durable=action in ("pause", "stop"))

    def recovered(self, trial_id: str, error: Optional[str]) -> None:
        """A trial failed and Tune restarts it from its last checkpoint (--max-failures)."""
        self._event({"event": "recover", "trial_id": trial_id, "error": redact(error)}, durable=True)

    def _event(self, entry: dict[str, Any], durable: bool = False) -> None:
        if self._segments:
            name = join(self._segments, f"{time.time_ns():020d}-{os.getpid()}-{len(self._written):06d}.json")
            fs, path = _fs(name)  # one upload: an object appears whole or not at all, and a reader
            with fs.open_output_stream(path) as f:  # skips one cut short, so no temporary name and move
                f.write(json.dumps(entry, default=str).encode())
            self._written.append(name)
        if self._journal_path:
            if self._journal is None:
                folder = os.path.dirname(self._journal_path)
                os.makedirs(folder, exist_ok=True)
                self._journal = open(self._journal_path, "a", encoding="utf-8")
                fsync_dir(folder)
            self._journal.write(json.dumps(entry, default=str) + "\n")
            self._journal.flush()  # in the OS's hands: survives the driver being killed
            if durable:  # on the disk: survives the machine going down too
                os.fsync(self._journal.fileno())
        self._apply(entry)
        self.flush()

    def _apply(self, entry: dict[str, Any]) -> None:
        trial_id, kind = entry["trial_id"], entry.get("event", "result")
        if kind == "decision":
            self._decision(entry)
            return
        row = self.trials.setdefault(trial_id, {"trial_id": trial_id, "iterations": 0, "wall_time_s": 0.0})
        self._dirty = True
        if kind == "start":
            if row.get("status") != "TERMINATED":  # Tune restarts a finished trial only to be told it is done
                row.update({"status": "RUNNING", "error": None})
            row["preset"] = entry["preset"]
            row.update({f"config/{k}": v for k, v in entry["config"].items()})
        elif kind == "end":
            row["status"], row["error"] = entry["status"], entry["error"]
        elif kind == "recover":
            restarts = row.get("restarts")
            row["restarts"] = 1 + (int(restarts) if isinstance(restarts, (int, float)) and not math.isnan(restarts) else 0)
            row["status"], row["last_error"] = "RESTARTING", entry["error"]
        elif row.get("status") != "TERMINATED":  # a finished trial's rows are final (see runner.run_trial)
            self._result(row, entry["result"])

    def _decision(self, entry: dict[str, Any]) -> None:
        self.decisions.append({k: v for k, v in entry.items() if k != "event"})
        self._dirty = True
        row = self.trials.get(entry["trial_id"])
        if row is None or row.get("status") in ("TERMINATED", "ERROR"):
            return
        if entry["action"] == "pause":
            row["status"] = "PAUSED"
        elif entry["action"] == "stop":  # cut at a rung: it ends here, and a resume does not rerun it
            row["status"], row["stopped_at_rung"] = "TERMINATED", entry["rung"]

    def _result(self, row: dict[str, Any], metrics: dict[str, Any]) -> None:
        it = int(metrics.get("training_iteration", 0))
        predictions = metrics.get(PREDICTIONS)
        if predictions is not None:  # a new best epoch's: one a trial, in its row (not in the history)
            metrics = {k: v for k, v in metrics.items() if k != PREDICTIONS}
            row[PREDICTIONS] = predictions
        # a trial restored from a checkpoint reports its later iterations again: keep the newest
        self.history[(row["trial_id"], it)] = {"trial_id": row["trial_id"], **metrics}
        row.setdefault("status", "RUNNING")
        row.update(metrics)
        row["iterations"] = it
        row["wall_time_s"] = float(metrics.get("time_total_s", row.get("wall_time_s", 0.0)))
        value = metrics.get(self.metric)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            best = row.get(f"best/{self.metric}")
            if best is None or (isinstance(best, float) and math.isnan(best)) or (
                    value < best if self.mode == "min" else value > best):
                row[f"best/{self.metric}"] = float(value)
                row["best_iteration"] = it

    # ---- the sweep as a whole

    def finished(self) -> set[str]:
        """Trials that completed (or a scheduler stopped): a resumed sweep must not rerun them."""
        return {t for t, row in self.trials.items() if row.get("status") == "TERMINATED"}

    def reconcile(self, known: set[str]) -> list[str]:
        """Drop trials Tune does not know after a resume: they started after its last saved
        experiment state, died with the driver, and their searcher suggestion is made again."""
        lost = [t for t in self.trials if t not in known]
        for trial_id in lost:
            del self.trials[trial_id]
        for key in [k for k in self.history if k[0] in lost]:
            del self.history[key]
        if lost:
            self._dirty = True
            self.flush(force=True)
        return lost

    def close(self, tune_status: dict[str, str]) -> None:
        """The sweep ended or was interrupted. Tune calls a trial cut off by Ctrl-C
        TERMINATED without completing it; it reruns on resume, so call it INTERRUPTED."""
        for trial_id, status in tune_status.items():
            row = self.trials.get(trial_id)
            if row is None or row.get("status") in ("TERMINATED", "ERROR"):
                continue
            if row.get("status") == "PAUSED":  # waiting at a rung when the sweep ended: a resume goes on with it
                continue
            row["status"] = "INTERRUPTED" if status in ("TERMINATED", "RUNNING") else status
            self._dirty = True
        self.flush(force=True)
        ACTIVE.pop(self.uri, None)
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def flush(self, force: bool = False) -> None:
        if not self._dirty or (not force and time.monotonic() - self._last_flush < self.flush_every):
            return
        if self.trials:
            write_frame(join(self.uri, TRIALS), pd.DataFrame(list(self.trials.values())))
        if self.history:
            write_frame(join(self.uri, HISTORY), pd.DataFrame(list(self.history.values())))
        if self.decisions:
            write_frame(join(self.uri, DECISIONS), pd.DataFrame(self.decisions))
        if self._segments:  # the Parquet holds them now; a kill before this replays them, harmlessly
            for name in self._written:
                with contextlib.suppress(OSError):
                    delete(name)
            self._written = []
        if self._journal_path and os.path.exists(self._journal_path):
            # the Parquet holds every journalled event now (a kill before this line replays them, harmlessly)
            if self._journal is not None:
                self._journal.truncate(0)
            else:
                open(self._journal_path, "w").close()
        self._dirty, self._last_flush = False, time.monotonic()


# The recorder of each sweep this driver runs, by sweep folder: the scheduler, in the same
# process, records its decisions through it (Tune pickles schedulers; a recorder holds files)
ACTIVE: dict[str, "SweepRecorder"] = {}


def preset_of(presets: dict[str, dict[str, Any]], config: dict[str, Any]) -> Optional[str]:
    """The name of the preset ``config`` runs, if any (every value of the preset matches)."""
    for name, values in presets.items():
        if all(_same(config.get(k), v) for k, v in values.items()):
            return name
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b
