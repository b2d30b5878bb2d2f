"""The results store: what analysis and the dashboard read, written while a sweep runs.

Beside Ray's own files each sweep folder holds
  ``sweep.json``       experiment, the space file's text, scheduler, searcher, seed, versions
  ``trials.parquet``   one row per trial: id, status, preset, config/*, last metrics,
                       best of the sweep metric, iterations, wall time, error text
  ``history.parquet``  every reported row of every trial
  ``decisions.parquet`` what the scheduler decided at each rung, and on what scores
  ``journal.jsonl``    trial events since the Parquet files were last rewritten
This module imports no Ray: the Tune callback that feeds it lives in ``recording.py``.
Paths may be local or any URI pyarrow understands (s3://, gs://, ...); how a file is
written, read and found damaged is ``files.py``'s, the tables' column names ``schema.py``'s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from typing import Any, Optional, TextIO

import pandas as pd
import pyarrow.fs as pafs

from . import files
from . import record as sweep_record
from .record import SWEEP_JSON, SweepRecord
from .errors import UserError
from .secrets import redact
from .files import CorruptStore, delete, exists, fsync_dir, join, local_folder, read_bytes, read_frame
from .files import missing, scalar, write_frame
from .schema import (
    BEST_ITERATION,
    CONFIG_PREFIX,
    ENDED,
    EPOCHS_TRAINED,
    ERROR,
    FAILURE_COLUMNS,
    ITERATION,
    ITERATIONS,
    LAST_ERROR,
    MEASURED_IN,
    PREDICTIONS,
    PRESET,
    RESTARTS,
    STATUS,
    STOPPED_AT_RUNG,
    TIME_TOTAL,
    TRIAL_ID,
    TUNE_BOOKKEEPING,
    WALL_TIME,
    Status,
    best_column,
    epochs_trained,
    is_remote,
    is_store_column,
    reported_column,
)

TRIALS, HISTORY = "trials.parquet", "history.parquet"
DECISIONS = "decisions.parquet"  # the scheduler's decisions: trial, rung, epoch, action, the rung's scores
JOURNAL = "journal.jsonl"  # events since the Parquet files were last rewritten (see SweepRecorder)
JOURNAL_SEGMENTS = "journal"  # the same, one object per event, on an object store


def check_shared(storage: str, nodes: int) -> None:
    """Since Ray 2.7 every node writes its trials' results to the storage itself: on more
    than one node a folder of one machine would scatter them. A URI (s3://, gs://) reaches
    every node; so does a shared mount, which the user declares by writing it file:///..."""
    if nodes > 1 and not is_remote(storage):
        raise UserError(
            f"--storage {storage}: a folder of this node, but the cluster has {nodes} nodes and Ray needs "
            "storage every node reaches: s3://bucket/sweeps, gs://bucket/sweeps, or a shared (NFS) "
            "mount written as file:///mnt/shared/sweeps"
        )


def read_tables(
    sweep_uri: str, metric: str = "", mode: str = "min"
) -> tuple[Optional[pd.DataFrame], Optional[pd.DataFrame]]:
    """(trials, history) as stored, the journal's newer events included (a running sweep's
    last seconds, or a killed one's: ``metric`` keeps their best values up to date); None
    for a table with no rows. Writes nothing."""
    rec = SweepRecorder(sweep_uri, None, metric, mode)
    rec.load()
    trials = pd.DataFrame(list(rec.trials.values())) if rec.trials else None
    history = pd.DataFrame(list(rec.history.values())) if rec.history else None
    return trials, history


def _segment_events(folder: Optional[str]) -> list[tuple[str, Optional[dict[str, Any]]]]:
    """An object store's journal: (object, event), one event an object, in the order their
    names sort (the time they were written). An object cut short was never acknowledged:
    skipped (and deleted with the others at the next flush)."""
    if not folder:
        return []
    fs, path = files.filesystem(folder)
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


def _rows(uri: str, required: tuple[str, ...] = (), unique: bool = False) -> list[dict[str, Any]]:
    """A store table's rows, its shape checked first: a table this store did not write (a
    copy of another over it, a column gone) is refused before anything is written over it."""
    frame = read_frame(uri)
    for column in (TRIAL_ID, *required):
        if column not in frame.columns:
            raise CorruptStore(uri, f"has no {column} column: not a table this store wrote")
    ids = frame[TRIAL_ID]
    not_text = [i for i, t in enumerate(ids) if not isinstance(t, str)]
    if not_text:
        raise CorruptStore(uri, f"row {not_text[0] + 1}: trial_id is not text")
    if ITERATION in required:
        if STATUS in frame.columns and ITERATIONS in frame.columns:
            raise CorruptStore(uri, "holds a trials table (status, iterations), not every reported row")
        its = pd.to_numeric(frame[ITERATION], errors="coerce")
        bad = its.isna() | (its < 0) | (its != its.round())
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise CorruptStore(uri, f"row {row + 1}: {ITERATION} {frame[ITERATION].iloc[row]} is not an iteration")
        pairs = frame[[TRIAL_ID]].assign(_i=its).duplicated()
        if pairs.any():
            row = int(pairs.to_numpy().argmax())
            raise CorruptStore(uri, f"row {row + 1}: trial {ids.iloc[row]} iteration {int(its.iloc[row])} stored twice")
    if unique and ids.duplicated().any():
        raise CorruptStore(uri, f"trial {ids[ids.duplicated()].iloc[0]} has two rows")
    return frame.to_dict("records")


class SweepRecorder:
    """The store's writer, in the driver. Every event (a trial starts, reports, restarts,
    ends) is appended to ``journal.jsonl`` and flushed to the OS before Tune can act on it
    (save a checkpoint past it, start the next trial), so a killed driver loses nothing; the
    Parquet files are rewritten from memory at most every ``flush_every`` seconds and at the
    end, and the journal is emptied once they hold it. A resumed sweep replays the journal.
    Object-store URIs cannot append: there every start and end rewrites the Parquet instead."""

    def __init__(
        self,
        sweep_uri: str,
        record: Optional[SweepRecord],
        metric: str,
        mode: str,
        presets: Optional[dict[str, dict]] = None,
        flush_every: float = 5.0,
    ):
        self.uri, self.record, self.metric, self.mode = sweep_uri, record, metric, mode
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
        self._journal: Optional[TextIO] = None
        self._loaded = False
        self._orphans: set[str] = set()  # finished trials Tune's restored state does not know (reconcile)
        self._renamed: set[str] = set()  # reported names the store keeps for itself (said once each)

    def open(self) -> None:
        """Write sweep.json; on a resumed sweep, pick up what was already stored.

        sweep.json is written once: Tune copies the top-level .json files of a folder it
        resumes and uploads them again later, so a rewrite would be undone anyway."""
        if not self._loaded:  # ``resume`` has read the store already, to find the finished trials
            self.load()
        if self.record and not exists(join(self.uri, SWEEP_JSON)):
            sweep_record.write(self.uri, self.record)
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
            for row in _rows(join(self.uri, TRIALS), unique=True):
                self.trials[row[TRIAL_ID]] = row
        if exists(join(self.uri, HISTORY)):
            for row in _rows(join(self.uri, HISTORY), (ITERATION,)):
                self.history[(row[TRIAL_ID], int(row.get(ITERATION, 0)))] = row
        segments = _segment_events(self._segments)
        self._written = [name for name, _ in segments]  # folded into the Parquet at the next flush
        # (the file or object it came from, where in it, the event): an error names the one that holds it
        events = [(self._journal_path or "", f"line {n}: ", entry) for n, entry in _journal(self._journal_path)]
        events += [(name, "", entry) for name, entry in segments if entry]
        for where, line, entry in events:
            try:
                self._apply(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise CorruptStore(
                    where, f"{line}not a {entry.get('event', 'result')} event ({type(e).__name__}: {e})"
                ) from None
        self._loaded = True

    def preset_of(self, config: dict[str, Any]) -> Optional[str]:
        return preset_of(self.presets, config)

    # ---- events: journalled, then applied

    def started(self, trial_id: str, config: dict[str, Any]) -> None:
        self._event(
            {
                "event": "start",
                "trial_id": trial_id,
                "preset": self.preset_of(config),
                "config": {k: scalar(v) for k, v in config.items()},
            },
            durable=True,
        )

    def measured(self, known) -> None:
        """A config an earlier sweep measured (``known.Known``): its rows go in as they were
        stored, the trial finished, no epoch trained here."""
        if known.trial_id in self.trials:  # a resumed sweep has it already
            return
        self._event(
            {
                "event": "measured",
                "trial_id": known.trial_id,
                "source": known.source,
                "preset": self.preset_of(known.params),
                "config": dict(known.config),
                "rows": [dict(r) for r in known.rows],
                "predictions": known.predictions,
            },
            durable=True,
        )

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        metrics = {}
        for k, v in result.items():
            if k in TUNE_BOOKKEEPING:
                continue
            if is_store_column(k):  # the store's own name: kept apart, never over its column
                if k not in self._renamed:
                    self._renamed.add(k)
                    print(
                        f"note: trial {trial_id} reports {k!r}, a name the results store keeps for its own "
                        f"column; stored as {reported_column(k)!r} (rename it in the trainable)"
                    )
                k = reported_column(k)
            metrics[k] = scalar(v)
        # n: the trial's epochs trained with this one, so an event replayed twice (a kill
        # between a flush and the journal's truncation) counts once
        n = epochs_trained(self.trials.get(trial_id, {})) + 1
        self._event({"event": "result", "trial_id": trial_id, "result": metrics, "n": n})

    def ended(
        self, trial_id: str, status: str, error: Optional[str] = None, failure: Optional[dict[str, Any]] = None
    ) -> None:
        """``failure``: the error as fields (``schema.FAILURE_COLUMNS``), where it is one the engine knows."""
        entry = {"event": "end", "trial_id": trial_id, "status": status, "error": redact(error)}
        if failure:
            entry["failure"] = {k: scalar(v) for k, v in failure.items()}
        self._event(entry, durable=True)

    def decided(self, trial_id: str, rung: int, epoch: int, action: str, scores: dict[str, Any]) -> None:
        """The scheduler's decision about a trial at a rung (continue, pause, promote, stop),
        with the rung's scores as they stood: why a trial went on or did not."""
        self._event(
            {
                "event": "decision",
                "trial_id": trial_id,
                "rung": int(rung),
                "epoch": int(epoch),
                "action": action,
                "scores": json.dumps(scores),
                "at": time.time(),
            },
            durable=action in ("pause", "stop"),
        )

    def recovered(self, trial_id: str, error: Optional[str]) -> None:
        """A trial failed and Tune restarts it from its last checkpoint (--max-failures)."""
        self._event({"event": "recover", "trial_id": trial_id, "error": redact(error)}, durable=True)

    def _event(self, entry: dict[str, Any], durable: bool = False) -> None:
        if self._segments:
            name = join(self._segments, f"{time.time_ns():020d}-{os.getpid()}-{len(self._written):06d}.json")
            fs, path = files.filesystem(name)  # one upload: an object appears whole or not at all, and a reader
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
        stored = self.trials.get(trial_id)
        if (
            kind == "start"
            and stored is not None
            and stored.get(STATUS) == Status.TERMINATED
            and not same_config(config_of(stored), entry["config"])
        ):
            self._forget(trial_id)  # Tune's saved state predates this finished trial; its id went to another config
        row = self.trials.setdefault(trial_id, {TRIAL_ID: trial_id, ITERATIONS: 0, WALL_TIME: 0.0})
        self._dirty = True
        if kind == "measured":
            row.update(
                {
                    PRESET: entry["preset"],
                    MEASURED_IN: entry["source"],
                    EPOCHS_TRAINED: 0,
                    **{CONFIG_PREFIX + k: v for k, v in entry["config"].items()},
                }
            )
            for metrics in entry["rows"]:
                self._result(row, {k: v for k, v in metrics.items() if k != PREDICTIONS})
            if entry.get("predictions"):
                row[PREDICTIONS] = entry["predictions"]
            row[STATUS], row[WALL_TIME] = Status.TERMINATED, 0.0  # its hours were spent by the earlier sweep
            return
        if kind == "start":
            if row.get(STATUS) != Status.TERMINATED:  # Tune restarts a finished trial only to be told it is done
                row.update({STATUS: Status.RUNNING, ERROR: None})
                for column in FAILURE_COLUMNS:  # a restarted trial's earlier failure is not its end
                    row.pop(column, None)
            row[PRESET] = entry["preset"]
            row.update({CONFIG_PREFIX + k: v for k, v in entry["config"].items()})
        elif kind == "end":
            row[STATUS], row[ERROR] = entry["status"], entry["error"]
            row.update(entry.get("failure") or {})
        elif kind == "recover":
            restarts = row.get(RESTARTS)
            row[RESTARTS] = 1 + (
                int(restarts) if isinstance(restarts, (int, float)) and not math.isnan(restarts) else 0
            )
            row[STATUS], row[LAST_ERROR] = Status.RESTARTING, entry["error"]
        elif row.get(STATUS) != Status.TERMINATED or self._stopped_by(row, entry["result"]):
            # a finished trial's rows are final (see runner.run_trial), but for the result a
            # scheduler stopped it at: Tune asks the scheduler before it tells the callbacks
            n = entry.get("n")
            if isinstance(n, int) and n <= epochs_trained(row) and EPOCHS_TRAINED in row:
                return  # applied already
            row[EPOCHS_TRAINED] = n if isinstance(n, int) else epochs_trained(row) + 1
            self._result(row, entry["result"])

    def _decision(self, entry: dict[str, Any]) -> None:
        self.decisions.append({k: v for k, v in entry.items() if k != "event"})
        self._dirty = True
        row = self.trials.get(entry["trial_id"])
        if row is None or row.get(STATUS) in ENDED:
            return
        if entry["action"] == "pause":
            row[STATUS] = Status.PAUSED
        elif entry["action"] == "stop":  # cut at a rung: it ends here, and a resume does not rerun it
            row[STATUS], row[STOPPED_AT_RUNG] = Status.TERMINATED, entry["rung"]

    def _result(self, row: dict[str, Any], metrics: dict[str, Any]) -> None:
        it = int(metrics.get(ITERATION, 0))
        predictions = metrics.get(PREDICTIONS)
        if predictions is not None:  # a new best epoch's: one a trial, in its row (not in the history)
            metrics = {k: v for k, v in metrics.items() if k != PREDICTIONS}
            row[PREDICTIONS] = predictions
        if it <= int(row.get(ITERATIONS) or 0):
            self._restarted(row, it)
        self.history[(row[TRIAL_ID], it)] = {TRIAL_ID: row[TRIAL_ID], **metrics}
        row.setdefault(STATUS, Status.RUNNING)
        row.update(metrics)
        row[ITERATIONS] = it
        row[WALL_TIME] = float(metrics.get(TIME_TOTAL, row.get(WALL_TIME, 0.0)))
        self._best(row, metrics.get(self.metric), it)

    def _stopped_by(self, row: dict[str, Any], metrics: dict[str, Any]) -> bool:
        """Whether ``metrics`` is the result a rung decision stopped the trial at, not yet stored."""
        rung, it = row.get(STOPPED_AT_RUNG), metrics.get(ITERATION)
        return (
            isinstance(rung, (int, float))
            and isinstance(it, (int, float))
            and int(it) == rung
            and (row[TRIAL_ID], int(it)) not in self.history
        )

    def _restarted(self, row: dict[str, Any], it: int) -> None:
        """The trial trains from an earlier epoch again (restored from an older checkpoint, or
        restarted from scratch): its rows from ``it`` on belong to the run it left, so they
        go, and its best value is that of the rows it keeps. The epochs stay counted."""
        trial_id = row[TRIAL_ID]
        for key in [k for k in self.history if k[0] == trial_id and k[1] >= it]:
            del self.history[key]
        row.pop(best_column(self.metric), None)
        row.pop(BEST_ITERATION, None)
        for (_, kept), earlier in sorted((k, v) for k, v in self.history.items() if k[0] == trial_id):
            self._best(row, earlier.get(self.metric), kept)

    def _best(self, row: dict[str, Any], value: Any, it: int) -> None:
        if (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ):  # inf: recorded, never best
            best = row.get(best_column(self.metric))
            if (
                best is None
                or (isinstance(best, float) and math.isnan(best))
                or (value < best if self.mode == "min" else value > best)
            ):
                row[best_column(self.metric)] = float(value)
                row[BEST_ITERATION] = it

    # ---- the sweep as a whole

    def finished(self) -> set[str]:
        """Trials that completed (or a scheduler stopped): a resumed sweep must not rerun them."""
        return {t for t, row in self.trials.items() if row.get(STATUS) == Status.TERMINATED}

    def reconcile(self, known: set[str]) -> list[str]:
        """Drop trials Tune does not know after a resume: they started after its last saved
        experiment state, died with the driver, and their searcher suggestion is made again.

        One of them that finished keeps its rows: Tune's restored searcher suggests its config
        again under the same id, and the trial is not trained twice (``run_trial``); where the
        id goes to another config, its start event makes it a new trial (``_apply``), and one
        that Tune never makes again goes when the sweep ends (``close``)."""
        unknown = [t for t in self.trials if t not in known and not self.trials[t].get(MEASURED_IN)]
        self._orphans = {t for t in unknown if self.trials[t].get(STATUS) == Status.TERMINATED}
        lost = [t for t in unknown if t not in self._orphans]
        for trial_id in lost:
            self._forget(trial_id)
        if lost:
            self.flush(force=True)
        return lost

    def _forget(self, trial_id: str) -> None:
        del self.trials[trial_id]
        for key in [k for k in self.history if k[0] == trial_id]:
            del self.history[key]
        self._dirty = True

    def close(self, tune_status: dict[str, str]) -> list[str]:
        """The sweep ended or was interrupted. Tune calls a trial cut off by Ctrl-C
        TERMINATED without completing it; it reruns on resume, so call it INTERRUPTED.

        Returns the finished trials Tune's restored state did not know and never made again
        (their configs ran under other ids), dropped once the sweep is complete; an
        interrupted sweep keeps them for the next resume's Tune to make again."""
        for trial_id, status in tune_status.items():
            row = self.trials.get(trial_id)
            if row is None or row.get(STATUS) in ENDED:
                continue
            if row.get(STATUS) == Status.PAUSED:  # waiting at a rung when the sweep ended: a resume goes on with it
                continue
            row[STATUS] = Status.INTERRUPTED if status in (Status.TERMINATED, Status.RUNNING) else status
            self._dirty = True
        dropped = []
        if all(self.trials.get(t, {}).get(STATUS) in ENDED for t in tune_status):
            dropped = sorted(t for t in self._orphans - set(tune_status) if t in self.trials)
            for trial_id in dropped:
                self._forget(trial_id)
        self.flush(force=True)
        ACTIVE.pop(self.uri, None)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        return dropped

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


def relabel(sweep_uri: str, old: str, new: str) -> int:
    """Call the closed sweep's trials of status ``old`` ``new`` (what ended them is known only
    once Tune has returned: its time budget, say); how many."""
    path = join(sweep_uri, TRIALS)
    if not exists(path):
        return 0
    frame = read_frame(path)
    hit = frame[STATUS] == old
    if hit.any():
        frame.loc[hit, STATUS] = new
        write_frame(path, frame)
    return int(hit.sum())


def preset_of(presets: dict[str, dict[str, Any]], config: dict[str, Any]) -> Optional[str]:
    """The name of the preset ``config`` runs, if any (every value of the preset matches)."""
    for name, values in presets.items():
        if all(same(config.get(k), v) for k, v in values.items()):
            return name
    return None


def config_of(row: dict[str, Any]) -> dict[str, Any]:
    """A stored trial row's config (its config/ columns that hold a value)."""
    return {k[len(CONFIG_PREFIX) :]: v for k, v in row.items() if k.startswith(CONFIG_PREFIX) and not missing(v)}


def same_config(stored: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a trial's ``config`` is the ``stored`` one (as ``config_of`` reads it back)."""
    given = {k: scalar(v) for k, v in config.items() if not missing(scalar(v))}
    return stored.keys() == given.keys() and all(same(stored[k], given[k]) for k in stored)


def same(a: Any, b: Any) -> bool:
    """Whether two config values are the same value (numbers to rounding; a list and a tuple alike)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b
