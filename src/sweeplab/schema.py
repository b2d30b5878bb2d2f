"""Names the engine, the results store and analysis agree on (no heavy imports): the
store's column names, metric-name helpers, a trial's :class:`Status`, a trial's failure as
columns, and whether a storage location is a URI."""

from __future__ import annotations

import enum
import json
import math
import numbers
from typing import Any, Iterable, Optional

# A row of a new best epoch (by the sweep's validation metric) says so; only such rows
# carry the test split's metrics, computed on exactly those weights.
IS_BEST = "is_best"
# That row's validation predictions, as JSON text: the per-row outcomes the metric is made
# of, which analysis resamples for its intervals. One of
#   {"kind": "classes", "y_true": [...], "y_pred": [...], "n_classes": C, "majority": m}
#   {"kind": "mean", "values": [...], "trivial": [...]}   (the metric is the mean of values)
# The store keeps the latest one in the trial's row, not in the per-epoch history.
PREDICTIONS = "val_predictions"

# --- the store's columns -------------------------------------------------------------------
# trials.parquet: one row a trial (store.SweepRecorder writes them; analysis, the dashboard
# and the progress display read them)
TRIAL_ID = "trial_id"  # in every table: history and decisions too
STATUS = "status"  # a Status value
PRESET = "preset"  # the name of the preset the config runs, if any
ERROR = "error"  # the error's last line (secrets masked), for a trial that failed
LAST_ERROR = "last_error"  # the error a restarted trial (--max-failures) recovered from
RESTARTS = "restarts"
ITERATIONS = "iterations"  # iterations reported: the trial's last training_iteration
MEASURED_IN = "measured_in"  # a config an earlier sweep measured (same seed and code): "sweep/trial"; see known.py
EPOCHS_TRAINED = "epochs_trained"  # every epoch the trial ran: repeats after a restart or a restore included
# decisions.parquet: a stop decision's "why" (in its scores) when promotion could not pause the
# trial, which had saved no checkpoint to resume from
NO_CHECKPOINT = "no checkpoint"
WALL_TIME = "wall_time_s"
BEST_ITERATION = "best_iteration"  # the iteration of the best value of the sweep metric
STOPPED_AT_RUNG = "stopped_at_rung"  # a scheduler cut the trial at this rung
CONFIG_PREFIX = "config/"  # config/<key>: the trial's config, one column a key
BEST_PREFIX = "best/"  # best/<metric>: the trial's best value of the sweep metric
# history.parquet: every reported row; Tune's columns and the engine's
ITERATION = "training_iteration"
TIME_TOTAL = "time_total_s"
TIMESTAMP = "timestamp"
EPOCH = "epoch"
EARLY_STOPPED = "early_stopped"
NODE_ID = "node_id"  # the Ray node a trial ran on (in its first row)

# in the one result of a trial a resumed sweep finds finished already (runner.run_trial): no epoch trained
ALREADY_DONE = "already_done"

# Tune's bookkeeping fields in a result that say nothing about the model: never stored
TUNE_BOOKKEEPING = frozenset(
    {
        ALREADY_DONE,
        "config",
        "done",
        TRIAL_ID,
        "date",
        "checkpoint_dir_name",
        "should_checkpoint",
        "time_since_restore",
        "iterations_since_restore",
        "timesteps_total",
        "episodes_total",
        "timesteps_since_restore",
        "experiment_tag",
    }
)


def epochs_trained(row: dict[str, Any]) -> int:
    """A trial row's epochs trained; a store written before the column counts its iterations."""
    for key in (EPOCHS_TRAINED, ITERATIONS):
        value = row.get(key)
        if isinstance(value, numbers.Number) and not (isinstance(value, float) and math.isnan(value)):
            # typeshed's numbers.Number declares no __int__; the numbers a row holds (int, float, numpy's) have one
            return int(value)  # type: ignore[call-overload]
    return 0


def config_column(key: str) -> str:
    """``lr`` -> ``config/lr``."""
    return CONFIG_PREFIX + key


def is_config_column(column: Any) -> bool:
    return isinstance(column, str) and column.startswith(CONFIG_PREFIX)


def param_name(column: str) -> str:
    """``config/lr`` -> ``lr`` (any other column unchanged)."""
    return column.removeprefix(CONFIG_PREFIX)


def config_columns(columns: Iterable[Any]) -> list[str]:
    """The ``config/*`` columns among ``columns``, in their order."""
    return [c for c in columns if is_config_column(c)]


def best_column(metric: str) -> str:
    """The trials table's column of a trial's best value of ``metric``."""
    return BEST_PREFIX + metric


# --- a trial's status ------------------------------------------------------------------------


class Status(str, enum.Enum):
    """A trial's status as the store keeps it: Tune's names, and sweeplab's RESTARTING,
    INTERRUPTED and TIME_UP. A ``str``: stored values and comparisons with plain strings keep working."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # waiting at a rung for a promotion, or by a scheduler
    TERMINATED = "TERMINATED"  # completed, or cut by a scheduler (see STOPPED_AT_RUNG)
    ERROR = "ERROR"
    RESTARTING = "RESTARTING"  # failed; Tune restarts it from its last checkpoint
    INTERRUPTED = "INTERRUPTED"  # cut off when the sweep ended (Ctrl-C, a kill): a resume reruns it
    TIME_UP = "TIME_UP"  # cut off when the sweep's time budget ran out: it ended as planned, nothing reruns it

    # the value itself wherever it is written out (str() of a mixed-in Enum is "Status.ERROR"),
    # and hashed as it, so sets and dict keys mix members and the plain strings a table holds
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __hash__(self) -> int:
        return hash(self.value)


ENDED = (Status.TERMINATED, Status.ERROR, Status.TIME_UP)  # a trial that will not run again

# how the summary and the dashboard say a status: why the trial is where it is
STATUS_WORDS = {
    Status.PAUSED: "paused at a rung",
    Status.TIME_UP: "cut off by the time budget",
    Status.INTERRUPTED: "interrupted (a resume runs them again)",
}


# --- metric names ----------------------------------------------------------------------------
# A reported metric is <split>_<base> (val_macro_f1, test_accuracy, train_loss) or a bare
# name (recognisable, epoch_seconds).
TRAIN, VAL, TEST = "train", "val", "test"
SPLITS = (TRAIN, VAL, TEST)


def split_metric(name: str) -> tuple[str, str]:
    """``val_macro_f1`` -> ``("val", "macro_f1")``; a name without a split's prefix ->
    ``("", name)``."""
    head, sep, base = name.partition("_")
    return (head, base) if sep and head in SPLITS else ("", name)


def metric_name(split_: str, base: str) -> str:
    """``("test", "accuracy")`` -> ``test_accuracy``; no split: the base as is."""
    return f"{split_}_{base}" if split_ else base


def test_name_for(metric: str) -> str:
    """The held-out split's column of a (validation) metric: ``val_accuracy`` -> ``test_accuracy``."""
    return metric_name(TEST, split_metric(metric)[1])


def is_test(name: Any) -> bool:
    """A held-out (test split) metric: never a selection criterion."""
    return isinstance(name, str) and split_metric(name)[0] == TEST


# --- a trial's failure as columns ------------------------------------------------------------
# A trial that fails in a way the engine knows (its loss became NaN or infinite) has these
# in its trials row beside the error text, so analysis reads them rather than the text.
FAILURE_KIND = "failure_kind"  # "diverged"
FAILURE_EPOCH = "failure_epoch"  # the engine's epoch it failed in (from 1)
FAILURE_STEP = "failure_step"  # the optimizer step of that epoch (from 1)
FAILURE_VALUE = "failure_value"  # the loss then: nan, inf or -inf
FAILURE_LRS = (
    "failure_lrs"  # JSON text: each optimizer's learning rate then, {"lr": 0.03} or {"lr_g": ..., "lr_d": ...}
)
FAILURE_COLUMNS = (FAILURE_KIND, FAILURE_EPOCH, FAILURE_STEP, FAILURE_VALUE, FAILURE_LRS)
DIVERGED = "diverged"


def diverged(value: float, epoch: int, step: int, lrs: dict[str, float]) -> dict[str, Any]:
    """A divergence's failure fields, as an exception carries them and the store keeps them."""
    return {
        FAILURE_KIND: DIVERGED,
        FAILURE_EPOCH: int(epoch),
        FAILURE_STEP: int(step),
        FAILURE_VALUE: float(value),
        FAILURE_LRS: json.dumps(lrs),
    }


def failure_text(failure: dict[str, Any]) -> Optional[str]:
    """``loss became nan at epoch 8, step 4 (lr=0.0333)`` from a failure's fields (as
    :func:`diverged` makes them or a trials row holds them); None when they name no known
    failure. The engine's error message is this text, so the two always agree."""
    if failure.get(FAILURE_KIND) != DIVERGED:
        return None
    try:
        lrs = json.loads(failure.get(FAILURE_LRS) or "{}")
    except (TypeError, ValueError):
        lrs = {}
    rates = ", ".join(f"{k}={v:.3g}" for k, v in lrs.items() if _number(v))
    raw: Any = failure.get(FAILURE_VALUE)
    value = float(raw) if _number(raw) else math.nan
    text = f"loss became {value} at epoch {_int(failure.get(FAILURE_EPOCH))}, step {_int(failure.get(FAILURE_STEP))}"
    return f"{text} ({rates})" if rates else text


def _number(v: Any) -> bool:  # numpy's too, as a table's row holds them
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(v: Any) -> Any:
    return int(v) if _number(v) and math.isfinite(v) else "?"


# --- where a store lives ---------------------------------------------------------------------


def is_remote(uri: str) -> bool:
    """A URI (s3://, gs://, file://) rather than a path of this machine: what pyarrow opens
    by its scheme, and what every node of a cluster reaches (file:// names a shared mount)."""
    return "://" in uri


def absolute(uri: str) -> str:
    """A URI as it is; a path of this machine made absolute (trials and resume run elsewhere)."""
    import os

    return uri if is_remote(uri) else os.path.abspath(uri)


# --- a report's names beside the store's own ----------------------------------------------------
# The trials table's columns the store writes itself; a trainable that reports one of these
# names (or a config/... or best/... name) has it stored as reported/<name>, so a report
# never rewrites a trial's status, config, best value or preset.
STORE_COLUMNS = frozenset(
    {
        STATUS,
        PRESET,
        ERROR,
        LAST_ERROR,
        RESTARTS,
        ITERATIONS,
        EPOCHS_TRAINED,
        WALL_TIME,
        BEST_ITERATION,
        STOPPED_AT_RUNG,
        MEASURED_IN,
        *FAILURE_COLUMNS,
    }
)
REPORTED_PREFIX = "reported/"


def is_store_column(name: str) -> bool:
    """Whether a reported ``name`` is one the store keeps for itself."""
    return name in STORE_COLUMNS or name.startswith((CONFIG_PREFIX, BEST_PREFIX, REPORTED_PREFIX))


def reported_column(name: str) -> str:
    """Where a reported metric of a name the store keeps for itself is stored."""
    return REPORTED_PREFIX + name
