"""Sweeps from files, without Ray: the results store (sweep.json, trials.parquet,
history.parquet) or, for a sweep made by plain Ray Tune, Ray's own trial folders
(params.json, result.json, error.txt).

A :class:`Sweep` holds its trial table in start order with a ``run`` number, the history
sorted by trial and iteration, and per-trial arrays of any history column on demand.

A trial's figures are those of its best epoch by the sweep's (validation) metric. Sweeps
made since the engine marks best epochs (``is_best``) carry the test split's metrics in
exactly those rows; older ones tested only at a trial's last epoch, and
:meth:`Sweep.held_out` says which epoch its test figures come from."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from .. import record, registry, schema, store
from ..record import SweepRecord
from ..errors import UserError
from . import ray_files
from ..schema import IS_BEST, PREDICTIONS, STATUS, TRIAL_ID, Status, config_columns, is_remote, param_name

ITER = schema.ITERATION
META_COLUMNS = ("sweep", "experiment", "space", "scheduler", "searcher", "seed")
_MIN_WORDS = ("loss", "mse", "mae", "rmse", "error", "perplexity", "distance", "seconds", "time")


def guess_mode(metric: str) -> str:
    """The direction of a metric a sweep did not declare: losses and errors go down."""
    return "min" if any(w in metric.lower() for w in _MIN_WORDS) else "max"


@dataclass
class Sweep:
    uri: str
    record: SweepRecord  # sweep.json (an empty record for a plain Ray Tune folder)
    trials: pd.DataFrame  # one row per trial, in start order, ``run`` = 1, 2, ...
    history: pd.DataFrame  # every reported row, sorted by trial and iteration
    metric: str  # what analysis ranks by: the sweep's metric, or --metric
    mode: str
    declared_metric: Optional[str] = None  # the metric the sweep searched (its stored predictions are of it)
    _positions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.record.name or os.path.basename(self.uri.rstrip("/"))

    @cached_property
    def experiment(self) -> Optional[registry.Experiment]:
        """The registry's entry, with the table the sweep recorded (sweep.json's ``table``)."""
        exp = registry.EXPERIMENTS.get(self.record.experiment or "")
        return registry.as_recorded(exp, self.record.table) if exp else None

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """The metrics the sweep searched together, first the one it ranks by; [] for one."""
        return list(self.record.objectives.items())

    @property
    def presets(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.record.presets.items()}

    @cached_property
    def params(self) -> list[str]:
        """Config keys that differ between trials: what the sweep searched."""
        cols = config_columns(self.trials.columns)
        return [param_name(c) for c in cols if self.trials[c].astype(str).nunique() > 1]

    def config(self, trial_id: str) -> dict[str, Any]:
        return dict(self._configs[trial_id])

    @cached_property
    def _configs(self) -> dict[str, dict[str, Any]]:
        cols = config_columns(self.trials.columns)
        records = self.trials[cols].astype(object).to_dict("records")
        return {
            t: {param_name(c): _plain(v) for c, v in r.items() if not _missing(v)}
            for t, r in zip(self.trials[TRIAL_ID], records)
        }

    def at_best(self, trial_id: str) -> dict[str, Any]:
        """The trial's row of :attr:`best_rows` as a dict (empty if it reported nothing)."""
        return self._best_records.get(trial_id, {})

    @cached_property
    def _best_records(self) -> dict[str, dict[str, Any]]:
        rows = self.best_rows
        return dict(zip(rows.index, rows.astype(object).to_dict("records")))

    def curve(self, trial_id: str, column: str) -> np.ndarray:
        """One trial's values of a history column, by iteration (NaN where not reported)."""
        if not self._positions and not self.history.empty:
            self._positions = {
                k: np.asarray(v) for k, v in self.history.groupby("trial_id", sort=False).indices.items()
            }
        pos = self._positions.get(trial_id)
        if pos is None or column not in self.history.columns:
            return np.array([], dtype=float)
        return self._column(column)[pos]

    def _column(self, column: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_columns", {})
        if column not in cache:
            values = self.history[column]
            cache[column] = values.to_numpy(dtype=float, na_value=np.nan) if _numeric(values) else values.to_numpy()
        return cache[column]

    @property
    def marks_best(self) -> bool:
        """Whether the sweep's rows say which epochs were new bests (and tested those)."""
        return IS_BEST in self.history.columns

    @cached_property
    def best_rows(self) -> pd.DataFrame:
        """Each trial's history row at its best iteration of the sweep metric (its first such
        row on a tie; its last row if the metric never came), indexed by trial id. A sweep
        that marks best epochs has the test metrics of those weights in that row; an older
        one reported them with the last epoch only, so there columns missing at the best row
        are taken from the last one (:meth:`held_out` tells the two apart)."""
        h = self.history
        if h.empty:
            return pd.DataFrame(index=self.trials["trial_id"])
        value = pd.to_numeric(h[self.metric], errors="coerce") if self.metric in h else pd.Series(np.nan, index=h.index)
        value = value.where(np.isfinite(value))  # an infinite value is recorded, never a trial's best
        # among a trial's rows without the metric, the latest comes first (if it never came)
        ranked = h.assign(_v=value if self.mode == "max" else -value, _o=np.where(value.isna(), np.arange(len(h)), 0))
        best = ranked.sort_values(["_v", "_o"], ascending=False, na_position="last", kind="stable").drop_duplicates(
            "trial_id"
        )
        best = best.drop(columns=["_v", "_o"]).set_index("trial_id")
        if self.marks_best:
            return best
        last = h.drop_duplicates("trial_id", keep="last").set_index("trial_id")
        return best.combine_first(last)

    def best_until(self, trial_id: str, iteration: int) -> Optional[int]:
        """The position in the trial's history of its best row of the sweep metric among its
        first ``iteration`` iterations (None if the metric never came by then): what the
        trial had reached with as much training as another."""
        values, iters = self.curve(trial_id, self.metric), self.curve(trial_id, ITER)
        if not len(values) or values.dtype.kind != "f":
            return None
        ok = np.isfinite(values) & (iters <= iteration)
        if not ok.any():
            return None
        masked = np.where(ok, values if self.mode == "max" else -values, -np.inf)
        return int(masked.argmax())

    def row(self, trial_id: str, position: int) -> dict[str, Any]:
        """One trial's history row by position (as :meth:`best_until` gives it)."""
        if not self._positions:
            self.curve(trial_id, ITER)
        pos = self._positions.get(trial_id)
        return self.history.iloc[int(pos[position])].to_dict() if pos is not None else {}

    def held_out(self, trial_id: str) -> Optional["HeldOut"]:
        """The trial's test-split figures and the epoch whose weights they come from: its
        best epoch in a sweep that marks best epochs; in an older one, wherever they came
        (the last epoch). None if it reported none."""
        if not self._positions and not self.history.empty:
            self.curve(trial_id, ITER)
        pos = self._positions.get(trial_id)
        cols = [c for c in self.history.columns if schema.is_test(c)]
        if pos is None or not cols:
            return None
        rows = self.history.iloc[pos]
        tested = rows[cols].notna().any(axis=1).to_numpy()
        if not tested.any():
            return None
        best_iter = int(self.facts.set_index("trial_id").at[trial_id, "best_iteration"])
        iters = rows[ITER].to_numpy()
        at_best = tested & (iters == best_iter)
        i = int(np.flatnonzero(at_best)[0]) if at_best.any() else int(np.flatnonzero(tested)[-1])
        row = rows.iloc[i]
        epoch = row.get(schema.EPOCH)
        epoch = (
            int(epoch) if isinstance(epoch, (int, float, np.number)) and not _missing(float(epoch)) else int(row[ITER])
        )
        values = {c: _plain(row[c]) for c in cols if not _missing(_plain(row[c]))}
        return HeldOut(epoch=epoch, iteration=int(row[ITER]), at_best=bool(at_best.any()), values=values)

    @cached_property
    def facts(self) -> pd.DataFrame:
        """Per trial, what tables and observations reason with: label, best value and
        iteration, iterations run against the budget, who stopped it, capacity, hours."""
        t = self.trials
        best = self.best_rows.reindex(t["trial_id"])
        exp = self.experiment
        budget = _budget(self)
        rows = []
        for (_, trial), (_, at_best) in zip(t.iterrows(), best.iterrows()):
            trial_id = trial["trial_id"]
            config = self.config(trial_id)
            iterations = int(trial.get(schema.ITERATIONS) or 0) if not _missing(trial.get(schema.ITERATIONS)) else 0
            value = _float(at_best.get(self.metric))
            best_iter = int(at_best[ITER]) if not _missing(at_best.get(ITER)) and not math.isnan(value) else 0
            stopped_itself = (
                bool(self.curve(trial_id, schema.EARLY_STOPPED)[-1:].any())
                if schema.EARLY_STOPPED in self.history
                else False
            )
            trial_budget = int(config.get("epochs", budget) or budget)
            finished = trial.get(STATUS) == Status.TERMINATED
            preset = trial.get(schema.PRESET) if isinstance(trial.get(schema.PRESET), str) else None
            rows.append(
                {
                    "trial_id": trial_id,
                    "run": int(trial["run"]),
                    "label": _label(exp.label(config) if exp else None, preset, int(trial["run"])),
                    "preset": preset,
                    "status": trial.get(STATUS),
                    # an earlier sweep's figures, taken as they are (known.py): "sweep/trial"
                    "measured_in": trial.get(schema.MEASURED_IN)
                    if isinstance(trial.get(schema.MEASURED_IN), str)
                    else None,
                    "error": trial.get(schema.ERROR) if isinstance(trial.get(schema.ERROR), str) else None,
                    # the failure from its columns ("loss became nan at epoch 8, step 4 (lr=0.03)"); None in a
                    # store from before them, or for a failure the engine does not know
                    "failure": schema.failure_text(trial),
                    "best": value,
                    "best_iteration": best_iter,
                    "iterations": iterations,
                    # every epoch it ran, repeats after a restart included (a store from before the column: iterations)
                    "epochs_trained": max(iterations, schema.epochs_trained(dict(trial))),
                    "budget": trial_budget,
                    "stopped_itself": stopped_itself,
                    "scheduler_stopped": finished and not stopped_itself and 0 < iterations < trial_budget,
                    # stopped by the scheduler, or left paused at a rung below its budget when the sweep ended
                    "cut_early": (
                        (finished or trial.get(STATUS) == Status.PAUSED)
                        and not stopped_itself
                        and 0 < iterations < trial_budget
                    ),
                    "capacity": _capacity(exp, config),
                    "hours": _float(trial.get(schema.WALL_TIME)) / 3600,
                }
            )
        return pd.DataFrame(rows)

    def epoch_at_best(self, trial_id: str) -> int:
        """The engine's epoch of the trial's best row (its best iteration where rows carry no epoch)."""
        row = self.at_best(trial_id)
        epoch = row.get(schema.EPOCH)
        if isinstance(epoch, (int, float, np.number)) and not math.isnan(float(epoch)):
            return int(epoch)
        return int(self.facts.set_index("trial_id").at[trial_id, "best_iteration"])

    def ranked(self) -> pd.DataFrame:
        """``facts`` best first by the sweep metric; trials without it last, in run order."""
        return self.facts.sort_values("best", ascending=self.mode == "min", na_position="last", kind="stable")


@dataclass(frozen=True)
class HeldOut:
    """A trial's test-split figures: of the weights of ``epoch`` (``at_best``: its best epoch)."""

    epoch: int
    iteration: int
    at_best: bool
    values: dict[str, Any]  # test_* column -> value (numbers, and the confusion matrix as JSON text)


def _budget(sweep: Sweep) -> int:
    """Iterations a trial may run when its config does not say: the scheduler's max_t, else
    the most any trial ran."""
    if sweep.record.scheduler and sweep.record.scheduler.max_t:
        return int(sweep.record.scheduler.max_t)
    its = pd.to_numeric(sweep.trials.get("iterations", pd.Series(dtype=float)), errors="coerce")
    return int(its.max()) if len(its) and not math.isnan(its.max()) else 0


def _capacity(exp: Optional[registry.Experiment], config: dict[str, Any]) -> float:
    if not exp or not exp.capacity or any(k not in config for k in exp.capacity):
        return math.nan
    size = 1.0
    for key in exp.capacity:
        value = config[key]
        size *= (2.0 if value else 1.0) if isinstance(value, bool) else float(value)
    return size


def find_sweeps(path: str) -> list[str]:
    """``path`` itself if it is a sweep, else the sweeps directly inside it (a storage folder)."""
    if _is_sweep(path):
        return [path]
    if not is_remote(path) and not os.path.exists(path):
        raise UserError(f"{path}: no such folder")
    if not is_remote(path) and os.path.isdir(path):
        inside = sorted(os.path.join(path, d) for d in os.listdir(path) if _is_sweep(os.path.join(path, d)))
        if inside:
            return inside
    raise UserError(
        f"{path}: not a sweep folder (no {store.TRIALS}, no Ray trial folders with result.json) and holds none"
    )


def _is_sweep(path: str) -> bool:
    if store.exists(store.join(path, store.TRIALS)):
        return True
    return not is_remote(path) and os.path.isdir(path) and any(ray_files.trial_dirs(path))


def load(
    paths: list[str],
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    note: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Sweep]:
    """Every sweep named by ``paths`` (sweep folders or storage folders holding sweeps). A
    damaged sweep found in a storage folder is left out, said in one ``note``, so that the
    others are still analysed; a damaged sweep named itself, or nothing else left, is an error."""
    sweeps, damaged = [], []
    for path in paths:
        found = find_sweeps(path)
        for uri in found:
            try:
                sweeps.append(load_sweep(uri, metric, mode))
            except store.CorruptStore as e:
                if found == [path]:
                    raise
                damaged.append(e)
    if damaged and not sweeps:
        raise damaged[0]
    for error in damaged:
        note(f"note: {error}; that sweep is left out")
    return sweeps


def load_sweep(uri: str, metric: Optional[str] = None, mode: Optional[str] = None) -> Sweep:
    rec = record.read_if_any(uri)
    if store.exists(store.join(uri, store.TRIALS)):
        trials, history = store.read_tables(uri, rec.metric or "", rec.mode or "min")
        if trials is None:  # a table of no rows: none of this store's own writes leaves one
            raise store.CorruptStore(store.join(uri, store.TRIALS), "holds no trial")
        if history is None:
            history = pd.DataFrame(columns=["trial_id", ITER])
    else:
        trials, history = ray_files.read(uri)
    declared = rec.metric
    metric = metric or declared
    if not metric:
        raise UserError(f"{uri}: the sweep names no metric (made by plain Ray Tune?); pass --metric NAME")
    if schema.is_test(metric):
        raise UserError(
            f"{uri}: {metric}: the test split is held out and never ranks trials; "
            f"pass --metric with a validation metric (val_...)"
        )
    if metric not in trials.columns and metric not in history.columns:
        known = sorted(c for c in history.columns if _numeric(history[c]) and c not in (TRIAL_ID, ITER))
        raise UserError(f"{uri}: no trial reported metric '{metric}'; reported: {', '.join(known) or '(nothing)'}")
    mode = mode or (rec.mode if metric == rec.metric else None) or guess_mode(metric)
    trials = trials.reset_index(drop=True)
    trials.insert(1, "run", np.arange(1, len(trials) + 1))
    if ITER in history.columns and len(history):
        order = {t: i for i, t in enumerate(trials["trial_id"])}
        history = (
            history.assign(_o=history["trial_id"].map(order))
            .sort_values(["_o", ITER], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
    return Sweep(
        uri=uri, record=rec, trials=trials, history=history, metric=metric, mode=mode, declared_metric=declared
    )


def tidy(sweeps: list[Sweep]) -> pd.DataFrame:
    """All trials of all sweeps in one table, with the sweep's metadata as columns."""
    frames = []
    for s in sweeps:
        columns = {
            "sweep": s.name,
            "experiment": s.record.experiment or "-",
            "space": os.path.basename(s.record.space_file or "-"),
            "scheduler": s.record.scheduler_name,
            "searcher": s.record.searcher_name,
            "seed": s.record.seed,
        }
        frames.append(s.trials.drop(columns=[PREDICTIONS], errors="ignore").assign(**columns))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[[*META_COLUMNS, *[c for c in out.columns if c not in META_COLUMNS]]] if frames else out


# --- values ------------------------------------------------------------------------------


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _plain(v: Any) -> Any:
    """numpy scalars to Python ones, so configs print and dump as YAML cleanly."""
    return v.item() if hasattr(v, "item") else v


def _label(model: Optional[str], preset: Optional[str], run: int) -> str:
    """A trial's name in tables and sentences: the model and its preset or run ("LSTM
    (initial)", "GRU (run #4)"); a user's trainable has no model name: "initial", "run #4"."""
    name = preset or f"run #{run}"
    return f"{model} ({name})" if model else name
