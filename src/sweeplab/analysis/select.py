"""Choosing a config: by a metric (then a second one among near-ties), under a filter,
or the Pareto front of two metrics; written as a file ``sweeplab train --config`` takes."""
from __future__ import annotations

import json
import math
from typing import Any, Optional, Sequence

import pandas as pd
import yaml

from ..errors import UserError
from .load import Sweep, guess_mode

NEAR_TIE = 0.01  # ``--then`` decides among trials within 1 % of the best on the first metric


def candidates(sweep: Sweep) -> pd.DataFrame:
    """One row per scored trial: its reported metrics at its best iteration and its config
    keys by their short names (a config key wins over a reported column of the same name)."""
    rows = sweep.best_rows.reindex(sweep.facts["trial_id"])
    numeric = rows.apply(pd.to_numeric, errors="coerce").dropna(axis=1, how="all")
    config = pd.DataFrame([sweep.config(t) for t in sweep.facts["trial_id"]], index=rows.index)
    frame = pd.concat([numeric.drop(columns=[c for c in numeric if c in config]), config], axis=1)
    facts = sweep.facts.set_index("trial_id")
    frame.insert(0, "label", facts["label"])
    frame.insert(1, "status", facts["status"])
    frame[sweep.metric] = facts["best"]
    return frame[frame[sweep.metric].notna()]


def direction(metric: str, sweep: Sweep) -> str:
    return sweep.mode if metric == sweep.metric else guess_mode(metric)


def _require(frame: pd.DataFrame, metric: str, sweep: Sweep) -> None:
    if metric not in frame.columns:
        known = sorted(c for c in frame.columns if c not in ("label", "status"))
        raise UserError(f"{sweep.uri}: no metric or config key '{metric}'; known: {', '.join(known)}")


def choose(sweep: Sweep, metric: Optional[str] = None, then: Optional[str] = None,
           where: Optional[str] = None) -> pd.Series:
    """The chosen trial's row of :func:`candidates` (its name is the trial id)."""
    frame = candidates(sweep)
    if where:
        try:
            frame = frame.query(where, engine="python")
        except Exception as e:  # pandas raises many kinds for a bad expression
            raise UserError(f"--where {where!r}: {type(e).__name__}: {e}") from None
    if frame.empty:
        raise UserError(f"{sweep.uri}: no scored trial{' matches --where ' + repr(where) if where else ''}")
    metric = metric or sweep.metric
    _require(frame, metric, sweep)
    values = pd.to_numeric(frame[metric], errors="coerce")
    frame = frame[values.notna()]
    if frame.empty:
        raise UserError(f"{sweep.uri}: no trial reported '{metric}'")
    values = values[frame.index]
    best = values.max() if direction(metric, sweep) == "max" else values.min()
    if then:
        _require(frame, then, sweep)
        near = frame[(values - best).abs() <= NEAR_TIE * abs(best)]
        second = pd.to_numeric(near[then], errors="coerce")
        return near.loc[second.idxmax() if direction(then, sweep) == "max" else second.idxmin()]
    return frame.loc[values.idxmax() if direction(metric, sweep) == "max" else values.idxmin()]


def pareto(sweep: Sweep, metrics: Sequence[str]) -> pd.DataFrame:
    """Trials no other trial beats on every metric, best first on the first metric."""
    frame = candidates(sweep)
    for m in metrics:
        _require(frame, m, sweep)
    # one orientation: larger is better
    scores = pd.DataFrame({m: pd.to_numeric(frame[m], errors="coerce") * (1 if direction(m, sweep) == "max" else -1)
                           for m in metrics}).dropna()
    values = scores.to_numpy()
    keep = [i for i in range(len(values))
            if not any((values[j] >= values[i]).all() and (values[j] > values[i]).any() for j in range(len(values)))]
    front = frame.loc[scores.index[keep]]
    return front.sort_values(metrics[0], ascending=direction(metrics[0], sweep) == "min")


def config_yaml(sweep: Sweep, trial_id: str, reason: str) -> str:
    """The trial's config as YAML, with where it came from in comments."""
    config = {k: _unjson(v) for k, v in sweep.config(trial_id).items()}
    head = [f"# chosen by sweeplab from {sweep.uri}", f"# {reason}"]
    experiment = sweep.meta.get("experiment")
    if experiment:
        head.append(f"# train it: sweeplab train {experiment} --config THIS_FILE")
    return "\n".join(head) + "\n" + yaml.safe_dump(config, sort_keys=False)


def _unjson(value: Any) -> Any:
    """Lists and dicts went into Parquet as JSON text; give them back their shape."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
