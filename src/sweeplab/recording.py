"""The Tune callbacks a sweep runs in the driver: what it records beside Ray's own files
(the results store, store.py, fed from Tune's events; TensorBoard files), the checkpoint
pruner, sweeplab's progress display, the epoch budget, and the reliability tests' driver
kill. This module imports Ray: tuning.py imports it only as a sweep starts (sweep.json is
record.py's)."""

from __future__ import annotations

import math
import os
from collections import deque
import socket
import struct
import time
from pathlib import Path
from typing import Any, Optional

import pyarrow.fs as pafs
from ray.tune import Callback
from ray.tune.stopper import Stopper
from ray.tune.utils import flatten_dict
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.summary import hparams, scalar

from . import faults, store
from .progress import Display
from .errors import causes
from .schema import ALREADY_DONE, FAILURE_KIND, ITERATIONS, Status, epochs_trained


class StoreCallback(Callback):
    """Feeds the results store from Tune's events, in the driver. ``known``: configs an
    earlier sweep measured (known.py), into the store before any trial starts."""

    def __init__(self, recorder: store.SweepRecorder, known: tuple = ()):
        self.recorder, self.known, self.reconciled = recorder, known, False

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info):
        self.recorder.open()
        for measured in self.known:  # not again on resume: the store has them (and Tune restores no `known`)
            self.recorder.measured(measured)
        self.reconciled = False

    def on_step_begin(self, iteration, trials, **info):
        if not self.reconciled:  # the first step of a resumed sweep knows every trial Tune restored
            self.reconciled = True
            lost = self.recorder.reconcile({t.trial_id for t in trials})
            if lost:
                print(
                    f"note: {len(lost)} trial(s) started after Ray's last saved experiment state and died "
                    f"with the driver ({', '.join(lost)}); the searcher suggests them again"
                )

    def on_trial_start(self, iteration, trials, trial, **info):
        self.recorder.started(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.recorder.result(trial.trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.recorder.ended(trial.trial_id, Status.TERMINATED)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.recorder.recovered(trial.trial_id, _error_text(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.recorder.ended(trial.trial_id, Status.ERROR, _error_text(trial), _failure(trial))

    def on_experiment_end(self, trials, **info):
        dropped = self.recorder.close({t.trial_id: t.status for t in trials})
        if dropped:
            print(
                f"note: {len(dropped)} trial(s) finished after Ray's last saved experiment state "
                f"({', '.join(dropped)}); their searcher suggestions ran again under other ids, which "
                "the results show in their place"
            )


_TB_SKIPPED = {"config", "pid", "timestamp", "time_total_s", "training_iteration"}


def _framed(event: Event) -> bytes:
    """One TensorBoard record: the event with its length and checksums."""
    data = event.SerializeToString()
    header = struct.pack("Q", len(data))
    return header + struct.pack("I", masked_crc32c(header)) + data + struct.pack("I", masked_crc32c(data))


class TensorBoardCallback(Callback):
    """TensorBoard event files, one a trial in its folder, with the tags and steps of Tune's
    own TBXLoggerCallback (``ray/tune/<metric>``, step = training_iteration, the hparams tab
    at the trial's end, over the ``searched`` parameters).

    Tune's logger starts a writer thread for every trial, fsyncs after every result, and
    writes into the driver's staging folder, which Tune copies whole to storage at every
    experiment-state save: on a sweep of short trials that was a third of the driver's time,
    which every trial waits on (the driver is one thread). These are plain appends, flushed
    to the OS after each result, into the trial's folder on storage itself where that is a
    file system; the results store, not these files, is the sweep's record."""

    def __init__(self, searched: list[str]):
        self.searched = set(searched)
        self.files: dict[str, Any] = {}  # trial id -> its open event file
        self.last: dict[str, dict[str, float]] = {}  # trial id -> its latest scalars

    def _file(self, trial):
        f = self.files.get(trial.trial_id)
        if f is None:
            # straight into the trial's folder where storage is a file system here (NFS
            # too); else the driver's staging copy, which Tune uploads with its own files
            local = isinstance(trial.storage.storage_filesystem, pafs.LocalFileSystem)
            folder = trial.path if local else trial.local_path
            os.makedirs(folder, exist_ok=True)
            name = f"events.out.tfevents.{time.time():.0f}.{socket.gethostname()}"
            f = self.files[trial.trial_id] = open(os.path.join(folder, name), "ab")
            f.write(_framed(Event(wall_time=time.time(), file_version="brain.Event:2")))
        return f

    def on_trial_result(self, iteration, trials, trial, result, **info):
        step = result.get("timesteps_total") or result.get("training_iteration") or 0
        flat = flatten_dict({k: v for k, v in result.items() if k not in _TB_SKIPPED}, delimiter="/")
        scalars = {
            f"ray/tune/{k}": float(v)
            for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        now = time.time()
        f = self._file(trial)
        f.write(
            b"".join(_framed(Event(wall_time=now, step=int(step), summary=scalar(k, v))) for k, v in scalars.items())
        )
        f.flush()
        self.last[trial.trial_id] = scalars

    def _close(self, trial):
        f = self.files.pop(trial.trial_id, None)
        metrics = self.last.pop(trial.trial_id, None)
        if f is None:
            return
        params = {
            k: v for k, v in trial.config.items() if k in self.searched and isinstance(v, (str, bool, int, float))
        }
        if params and metrics:
            f.write(b"".join(_framed(Event(wall_time=time.time(), summary=s)) for s in hparams(params, metrics)))
        f.close()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._close(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._close(trial)

    def on_experiment_end(self, trials, **info):
        for trial in trials:
            self._close(trial)


class CheckpointPruner(Callback):
    """Keeps each trial's newest checkpoints, deleting older ones only when it is safe.

    Tune's own pruning (CheckpointConfig.num_to_keep) deletes an old checkpoint the moment a
    newer one registers, before its next experiment-state save points past it: a driver killed
    in between leaves a saved state naming a deleted checkpoint, and that trial cannot resume.
    So Tune keeps them all, and this callback deletes a checkpoint only once two experiment-state
    saves made after a newer one have begun (the state on storage is at most one save behind)."""

    def __init__(self):
        self.kept: dict[str, list] = {}  # trial id -> its checkpoints, oldest first
        self.saves: deque = deque(maxlen=3)  # what each recent state save pointed at

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self.kept.setdefault(trial.trial_id, []).append(checkpoint)

    def get_state(self):  # Tune is saving its experiment state now
        self.saves.append({t: ckpts[-1].path for t, ckpts in self.kept.items() if ckpts})
        if len(self.saves) == self.saves.maxlen:
            for trial_id, safe in self.saves[0].items():
                ckpts = self.kept[trial_id]
                paths = [c.path for c in ckpts]
                if safe in paths:
                    for old in ckpts[: paths.index(safe)]:
                        _delete(old)
                    self.kept[trial_id] = ckpts[paths.index(safe) :]
        return None

    def on_experiment_end(self, trials, **info):
        # Tune has saved its final state, naming each trial's newest checkpoint: keep only those
        for ckpts in self.kept.values():
            for old in ckpts[:-1]:
                _delete(old)
        self.kept = {t: ckpts[-1:] for t, ckpts in self.kept.items()}


class ProgressCallback(Callback):
    """Redraws sweeplab's progress display (progress.py) from the results store after each step."""

    def __init__(self, recorder: store.SweepRecorder, display: Display):
        self.recorder, self.display = recorder, display

    def on_step_end(self, iteration, trials, **info):
        self.display.tick(self.recorder.trials)

    def on_experiment_end(self, trials, **info):
        self.display.tick(self.recorder.trials, final=True)


class KillCallback(Callback):
    """Kills the sweep at a driver-side point (faults.py: the reliability tests); ``kills``:
    point -> at which occurrence."""

    def __init__(self, kills: dict[str, int], num_samples: int):
        self.kills, self.num_samples = kills, num_samples
        self.seen = {point: 0 for point in kills}
        self.finished = self.checkpoints = 0

    def _reached(self, point: str) -> None:
        self.seen[point] += 1
        if self.seen[point] == self.kills[point]:
            faults.kill_sweep()

    def on_trial_start(self, iteration, trials, trial, **info):
        if "trial-start" in self.kills:
            self._reached("trial-start")

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self.checkpoints += 1
        if "checkpoint" in self.kills:
            self._reached("checkpoint")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.finished += 1
        if "near-end" in self.kills and self.finished == self.num_samples - self.kills["near-end"]:
            faults.kill_sweep()

    def get_state(self):  # called while Tune writes its experiment state
        if "experiment-state" in self.kills and self.checkpoints >= self.kills["experiment-state"]:
            faults.kill_sweep()
        return None


class EpochBudget(Stopper):
    """--epoch-budget: a Tune stopper that ends the sweep once its trials have trained
    ``budget`` epochs (training iterations) in total: every epoch a trial trains counts,
    those it trains again after a restart or from an older checkpoint included (they cost
    as much). Trials running when the budget is reached may each report the one epoch they
    were training.

    Tune saves this stopper in its experiment state and a resumed sweep gets that copy back
    (not the one passed in), counting as of Tune's last state save; so an unpickled stopper
    first takes each trial's epochs from the results store, which records every report."""

    def __init__(self, budget: int, sweep_uri: str, metric: str, mode: str):
        self.sweep_uri, self.metric, self.mode = sweep_uri, metric, mode
        self.budget, self.announced, self.from_store = budget, False, False
        self.reported: dict[str, int] = {}  # trial id -> the epochs it trained
        self.reached: dict[str, int] = {}  # trial id -> its highest iteration
        self.last: dict[str, int] = {}  # trial id -> the iteration it reported last

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.from_store = True

    def total(self) -> int:
        if self.from_store:
            self.from_store = False
            recorded = store.SweepRecorder(self.sweep_uri, None, self.metric, self.mode)
            recorded.load()  # reads only: the Parquet files and the journal
            self.reported = {t: epochs_trained(row) for t, row in recorded.trials.items()}
            self.reached = {t: int(row.get(ITERATIONS) or 0) for t, row in recorded.trials.items()}
            self.last = dict(self.reached)
        return sum(self.reported.values())

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        it = int(result.get("training_iteration", 0) or 0)
        reached = self.__dict__.setdefault("reached", {})  # a stopper pickled by an older sweeplab has none
        last = self.__dict__.setdefault("last", {})
        before = reached.get(trial_id, 0)
        if result.get(ALREADY_DONE):  # a finished trial telling a resumed Tune how it ended: no epoch
            return self.stop_all()
        if it != last.get(trial_id):  # Tune hands a function trainable's last result in again as it ends
            self.reported[trial_id] = self.reported.get(trial_id, 0) + (it - before if it > before else 1)
        reached[trial_id], last[trial_id] = max(it, before), it
        return self.stop_all()

    def stop_all(self) -> bool:
        reached = self.total() >= self.budget
        if reached and not self.announced:
            self.announced = True
            print(
                f"note: --epoch-budget {self.budget}: the trials have reported {self.total()} epochs; "
                "stopping the sweep"
            )
        return reached


def _delete(checkpoint) -> None:
    try:
        checkpoint.filesystem.delete_dir(checkpoint.path)
    except (FileNotFoundError, OSError):
        pass  # gone already (a resumed sweep's older copy), or storage refused: it only costs space


def _failure(trial) -> Optional[dict[str, Any]]:
    """The trial's error as fields (``schema.FAILURE_COLUMNS``) where it is one the engine
    knows: carried by the exception itself (a TrialDiverged's ``failure``), which Tune has
    pickled beside the error text, wrapped in Ray's RayTaskError (or Train's WorkerGroupError).
    None where there is no such exception, or it cannot be read back here."""
    path = trial.pickled_error_file
    if not path or not os.path.exists(path):
        return None
    try:
        from ray import cloudpickle

        with open(path, "rb") as f:
            error = cloudpickle.load(f)
    except Exception:  # a class this driver cannot import, a file cut short: the text alone is kept
        return None
    for e in causes(error):
        failure = getattr(e, "failure", None)
        if isinstance(failure, dict) and failure.get(FAILURE_KIND):
            return dict(failure)
    return None


def _error_text(trial) -> str:
    path = trial.error_file
    if path and os.path.exists(path):
        text = Path(path).read_text()
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        return _process_death(text) or (lines[-1][:2000] if lines else "unknown error")
    return "unknown error"


def _process_death(text: str) -> Optional[str]:
    """Ray's account of a trial whose worker process died (two tracebacks ending in 'connection
    error code 2'), said as what it most likely was; None for an error the trainable raised."""
    if "OutOfMemoryError" in text:
        return (
            "OutOfMemory: Ray's memory monitor killed the trial's worker: the node ran low on memory "
            "(a smaller model or batch, or fewer trials at once: --max-concurrent)"
        )
    if any(
        sign in text
        for sign in ("ActorDiedError", "connection error code", "died unexpectedly", "worker process has died")
    ):
        return (
            "WorkerDied: the trial's worker process was killed without an error of its own; the usual cause is "
            "the kernel's OOM killer (out of memory: a smaller model or batch, or fewer trials at once: "
            "--max-concurrent), else a crash in native code or a kill from outside"
        )
    return None
