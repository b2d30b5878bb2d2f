"""How sure a sweep's ranking is: paired bootstrap intervals of the validation metric, from
the predictions each trial stored at its best epoch (``schema.PREDICTIONS``).

All trials of a sweep score the same rows, so one set of B resamples serves every trial
and every comparison between trials is paired. The resampling and the statistics on every
resample (accuracy, macro F1, the mean of per-row values, the trivial predictor's) are
bootstrap.py's, which says how. The statistic on all rows is computed the same way, and a
trial whose predictions do not give back the figure it reported (another epoch's) gets none.

A trial's interval is the 2.5th and 97.5th percentiles of its B statistics (percentile
bootstrap, 95 %). A difference (trial minus baseline, minus the trivial predictor, the best
minus another trial) is taken resample by resample and bounded by its own percentiles: a
trial beats another when that interval excludes zero in the metric's good direction, and
two trials are tied when it includes zero. The trivial predictor is the training split's
majority class (``majority``) or the stored per-row ``trivial`` values (predicting zero),
resampled with the same counts.

Intervals need the ranking metric to be the one the sweep declared (the predictions are of
its best epoch) and to be a statistic of the predictions: accuracy or macro F1 of stored
classes, the mean of stored values. Results are kept on the sweep, as ``observe`` does.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..schema import PREDICTIONS, TEST, TRAIN, split_metric
from .bootstrap import accuracy, macro_f1, mean, resample_counts, trivial_classes
from .load import Sweep

LEVEL = 0.95
TRIVIAL = "__trivial__"  # a column of :class:`Intervals` that is no trial: the trivial predictor
_AGREE = 1e-3  # a trial whose predictions give another figure than it reported (relative) gets no interval


@dataclass
class Intervals:
    """One metric's bootstrap over a sweep's trials: ``samples[:, j]`` are trial ``trials[j]``'s
    B statistics; the last column is the trivial predictor's where there is one."""

    metric: str
    statistic: str  # "accuracy", "macro_f1" or "mean"
    n: int  # validation rows resampled
    trials: list[str]
    point: np.ndarray  # the statistic on all rows, per column
    samples: np.ndarray  # (B, columns)
    skipped: dict[str, str] = field(default_factory=dict)  # trial -> why it has no interval
    _col: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._col = {t: j for j, t in enumerate(self.trials)}

    def __contains__(self, trial: str) -> bool:
        return trial in self._col and trial != TRIVIAL

    @property
    def has_trivial(self) -> bool:
        return TRIVIAL in self._col

    def interval(self, trial: str) -> tuple[float, float]:
        lo, hi = np.quantile(self.samples[:, self._col[trial]], [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return float(lo), float(hi)

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Every trial's interval at once."""
        q = np.quantile(self.samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        return {t: (float(q[0, j]), float(q[1, j])) for t, j in self._col.items() if t != TRIVIAL}

    def difference(self, a: str, b: str) -> tuple[float, float, float]:
        """(a - b on all rows, and the interval of a - b), paired; ``TRIVIAL`` names the trivial predictor."""
        ja, jb = self._col[a], self._col[b]
        d = self.samples[:, ja] - self.samples[:, jb]
        lo, hi = np.quantile(d, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return float(self.point[ja] - self.point[jb]), float(lo), float(hi)

    def standard_error(self, a: str, b: str) -> float:
        """The bootstrap standard error of (a - b), paired."""
        return (
            float(np.std(self.samples[1:, self._col[a]] - self.samples[1:, self._col[b]], ddof=1))
            if len(self.samples) > 2
            else math.inf
        )

    def differences(self, against: str) -> dict[str, tuple[float, float]]:
        """Every trial's interval of (trial - ``against``), at once."""
        d = self.samples - self.samples[:, [self._col[against]]]
        q = np.quantile(d, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        return {t: (float(q[0, j]), float(q[1, j])) for t, j in self._col.items() if t != TRIVIAL}

    def ties(self, best: str, among: Optional[list[str]] = None) -> list[str]:
        """Trials of ``among`` (default all) whose interval of (best - trial) includes zero, ``best`` first."""
        diffs = self.differences(best)
        pool = [t for t in (among if among is not None else self.trials) if t in self and t != best]
        return [best, *(t for t in pool if diffs[t][0] <= 0 <= diffs[t][1])]


def beats(diff_interval: tuple[float, float], mode: str) -> bool:
    """Whether a paired interval of (a - b) says a is better than b beyond noise."""
    lo, hi = diff_interval
    return lo > 0 if mode == "max" else hi < 0


def of(sweep: Sweep, metric: Optional[str] = None) -> Optional[Intervals]:
    """The bootstrap of ``metric`` (default the sweep's) over the sweep's trials, or None
    (:func:`missing` says why). Computed once per sweep and metric."""
    metric = metric or sweep.metric
    cache = sweep.__dict__.setdefault("_intervals", {})
    if metric not in cache:
        cache[metric] = _compute(sweep, metric)
    return cache[metric]


def missing(sweep: Sweep, metric: Optional[str] = None) -> str:
    """Why ``metric`` has no intervals, in a few words ("" when it has them)."""
    metric = metric or sweep.metric
    preds = _predictions(sweep)
    if not preds:
        return "sweep stored no predictions"
    if sweep.metric != declared_metric(sweep):
        return f"the stored predictions are of the best {declared_metric(sweep)} epoch, not {sweep.metric}'s"
    if of(sweep, metric) is None:
        return f"{metric} is not a statistic of the stored predictions"
    return ""


def declared_metric(sweep: Sweep) -> str:
    return sweep.declared_metric or sweep.metric


def statistic(metric: str, kind: str, declared: str) -> Optional[str]:
    """What ``metric`` is, computed from predictions of ``kind``; None when it is not one."""
    if split_metric(metric)[0] in (TEST, TRAIN):
        return None
    if kind == "classes":
        if metric.endswith("macro_f1"):
            return "macro_f1"
        if metric.endswith("accuracy") and "top" not in metric:
            return "accuracy"
        return None
    if kind == "mean" and metric == declared:  # the values are of the metric the sweep declared only
        return "mean"
    return None


# --- a sweep's bootstrap -----------------------------------------------------------------


def _counts(sweep: Sweep, n: int, layout: Optional[np.ndarray] = None) -> np.ndarray:
    cache = sweep.__dict__.setdefault("_resample_counts", {})
    key = (n, None if layout is None else hash(layout.tobytes()))
    if key not in cache:
        cache[key] = resample_counts(n, layout=layout)
    return cache[key]


def _compute(sweep: Sweep, metric: str) -> Optional[Intervals]:
    preds = _predictions(sweep)
    # the predictions are of the best epoch of the declared metric: of any other ranking's, not
    if not preds or sweep.metric != declared_metric(sweep):
        return None
    groups = Counter(p["signature"] for p in preds.values())
    signature = groups.most_common(1)[0][0]
    kind = signature[0]
    stat = statistic(metric, kind, declared_metric(sweep))
    if stat is None:
        return None
    facts = sweep.facts.set_index("trial_id")
    skipped: dict[str, str] = {}
    trials = []
    for t, p in preds.items():
        if p["signature"] != signature:
            skipped[t] = "its predictions are of other validation rows than the other trials'"
        elif t not in facts.index or math.isnan(facts.at[t, "best"]):
            skipped[t] = f"it reported no {metric}"
        else:
            trials.append(t)
    if not trials:
        return None
    first = preds[trials[0]]
    n = first["n"]
    if kind == "classes":
        order = np.argsort(first["y_true"], kind="stable")  # rows grouped by class: see macro_f1
        y = first["y_true"][order]
        counts = _counts(sweep, n, order)
        stacked = np.stack([preds[t]["y_pred"][order] for t in trials])
        samples = (macro_f1 if stat == "macro_f1" else accuracy)(counts, y, stacked)
        trivial = trivial_classes(counts, y, first["majority"], stat) if first.get("majority") is not None else None
    else:
        counts = _counts(sweep, n)
        values = [preds[t]["values"] for t in trials]
        has_trivial = first.get("trivial") is not None
        samples = mean(counts, np.stack([*values, first["trivial"]] if has_trivial else values))
        samples, trivial = (samples[:, :-1], samples[:, -1]) if has_trivial else (samples, None)
    # a figure the predictions do not give back is of another epoch (a restored trial): no interval
    agree = []
    for j, t in enumerate(trials):
        reported = _reported(sweep, t, metric)
        if math.isnan(reported) or abs(samples[0, j] - reported) <= _AGREE * max(abs(reported), 1e-9) + 1e-9:
            agree.append(j)
        else:
            skipped[t] = f"its predictions give {metric} {samples[0, j]:.6g}, not the {reported:.6g} it reported"
    if not agree:
        return None
    samples = samples[:, agree]
    trials = [trials[j] for j in agree]
    if trivial is not None:
        samples = np.column_stack([samples, trivial])
        trials.append(TRIVIAL)
    return Intervals(
        metric=metric, statistic=stat, n=n, trials=trials, point=samples[0].copy(), samples=samples[1:], skipped=skipped
    )


def _reported(sweep: Sweep, trial: str, metric: str) -> float:
    v: Any = sweep.at_best(trial).get(metric)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _predictions(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Trial id -> its decoded predictions (arrays and a signature of the rows they score)."""
    cache = sweep.__dict__
    if "_predictions" not in cache:
        out: dict[str, dict[str, Any]] = {}
        if PREDICTIONS in sweep.trials.columns:
            shared: dict[str, np.ndarray] = {}  # y_true text -> its array: every trial repeats it
            for t, raw in zip(sweep.trials["trial_id"], sweep.trials[PREDICTIONS]):
                decoded = _decode(raw, shared)
                if decoded is not None:
                    out[t] = decoded
        cache["_predictions"] = out
    return cache["_predictions"]


# The engine's JSON, read without building Python lists of every row: a trial's lists are
# found by name and parsed by numpy (18x faster than json for 17,000 labels); anything
# unexpected falls back to json.
_LIST = re.compile(r'"(y_true|y_pred|values|trivial)"\s*:\s*\[([^\[\]]*)\]')
_SCALAR = re.compile(r'"(kind|n_classes|majority)"\s*:\s*("[^"]*"|-?\d+|null)')


def _decode(raw: Any, shared: Optional[dict[str, np.ndarray]] = None) -> Optional[dict[str, Any]]:
    if not isinstance(raw, str):
        return None
    shared = {} if shared is None else shared
    fields = _fast_fields(raw, shared)
    if fields is None:
        try:
            p = json.loads(raw)
        except json.JSONDecodeError:
            return None
        if not isinstance(p, dict):
            return None
        fields = p
    if fields.get("kind") == "classes":
        try:
            y, pred = np.asarray(fields.get("y_true", [])), np.asarray(fields.get("y_pred", []))
        except (TypeError, ValueError):
            return None
        if y.dtype.kind not in "iu" or pred.dtype.kind not in "iu":
            return None  # class labels are whole numbers
        y, pred = y.astype(np.int32), pred.astype(np.int32)
        if y.ndim != 1 or y.shape != pred.shape or not len(y) or y.min() < 0 or pred.min() < 0:
            return None
        majority = fields.get("majority")
        return {
            "kind": "classes",
            "n": len(y),
            "y_true": y,
            "y_pred": pred,
            "majority": int(majority) if isinstance(majority, int) and not isinstance(majority, bool) else None,
            "signature": ("classes", len(y), hash(y.tobytes())),
        }
    if fields.get("kind") == "mean":
        try:
            values = np.asarray(fields.get("values", []), dtype=np.float64)
            trivial = fields.get("trivial")
            trivial = np.asarray(trivial, dtype=np.float64) if trivial is not None else None
        except (TypeError, ValueError):
            return None
        if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
            return None
        if trivial is not None and (trivial.shape != values.shape or not np.isfinite(trivial).all()):
            trivial = None
        return {
            "kind": "mean",
            "n": len(values),
            "values": values,
            "trivial": trivial,
            "signature": ("mean", len(values)),
        }
    return None


def _fast_fields(raw: str, shared: dict[str, np.ndarray]) -> Optional[dict[str, Any]]:
    fields: dict[str, Any] = {m.group(1): json.loads(m.group(2)) for m in _SCALAR.finditer(raw)}
    if fields.get("kind") != "classes":
        return None  # means are floats: json reads them as fast as numpy does
    for m in _LIST.finditer(raw):
        name, text = m.group(1), m.group(2)
        if name == "y_true" and text in shared:
            fields[name] = shared[text]
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # numpy warns, or raises, on text it cannot read to the end
                values = np.fromstring(text, dtype=np.int64, sep=",") if text.strip() else np.array([], dtype=np.int64)
        except (ValueError, DeprecationWarning):
            return None
        if len(values) != (text.count(",") + 1 if text.strip() else 0):
            return None  # not plain whole numbers
        fields[name] = values
        if name == "y_true":
            shared[text] = values
    return fields if "y_true" in fields and "y_pred" in fields else None
