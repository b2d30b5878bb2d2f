"""Choosing a config: by a metric, and among the trials statistically tied with the best
(paired bootstrap, see ``intervals``) the cheapest; or by a second metric among near-ties,
under a filter; or the Pareto front of two metrics. Written as a file ``sweeplab train
--config`` takes, with the epoch the figure comes from.

Cost, for choosing among ties: the training time to the trial's best epoch (Ray's
``time_total_s`` in its best row); where a tied trial lacks it, the iterations to its
best epoch, for all of them. The test split never enters a choice: its columns are not
candidates."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from .. import chosen, spaces
from ..errors import UserError
from ..schema import is_test
from . import intervals
from .load import Sweep, guess_mode
from .tables import fmt_metric

NEAR_TIE = 0.01  # ``--then`` decides among trials within 1 % of the best on the first metric
TIES = ("cheapest", "best")  # among trials tied with the best: the cheapest, or the best regardless


def candidates(sweep: Sweep) -> pd.DataFrame:
    """One row per scored trial: its reported metrics at its best iteration and its config
    keys by their short names (a config key wins over a reported column of the same name)."""
    rows = sweep.best_rows.reindex(sweep.facts["trial_id"])
    numeric = rows.apply(pd.to_numeric, errors="coerce").dropna(axis=1, how="all")
    config = pd.DataFrame([sweep.config(t) for t in sweep.facts["trial_id"]], index=rows.index)
    numeric = numeric.drop(columns=[c for c in numeric if is_test(c)])  # held out: never a criterion
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


@dataclass
class Choice:
    """A chosen trial (``row``: its row of :func:`candidates`, named by the trial id), why,
    and the trials tied with the best (best first; empty without intervals)."""

    row: pd.Series
    reason: str
    best: str
    tied: list[str] = field(default_factory=list)
    caveat: str = ""  # the end of ``reason`` saying why there are no intervals, if so

    @property
    def summary(self) -> str:
        """``reason`` without the caveat (where another line says it already)."""
        return self.reason.removesuffix(self.caveat)

    @property
    def trial_id(self) -> str:
        return str(self.row.name)


def choose(
    sweep: Sweep,
    metric: Optional[str] = None,
    then: Optional[str] = None,
    where: Optional[str] = None,
    ties: str = "cheapest",
    rule: Optional[str] = None,
) -> pd.Series:
    """The chosen trial's row of :func:`candidates` (its name is the trial id)."""
    return choice(sweep, metric, then, where, ties, rule).row


def choice(
    sweep: Sweep,
    metric: Optional[str] = None,
    then: Optional[str] = None,
    where: Optional[str] = None,
    ties: str = "cheapest",
    rule: Optional[str] = None,
) -> Choice:
    """The best trial by ``metric`` (default the sweep's) among those ``where`` keeps; with
    ``then``, the best by ``then`` among those within 1 % of it; otherwise, with
    ``ties="cheapest"`` and intervals, the cheapest of the trials statistically tied with it.
    A sweep of several objectives (and no ``metric`` or ``then`` named): the config its
    space's rule (or ``rule``) takes from the Pareto front (front.py)."""
    if ties not in TIES:
        raise UserError(f"--ties {ties!r}: one of {', '.join(TIES)}")
    frame = candidates(sweep)
    if where:
        from .where import apply

        frame = apply(frame, where)
    if frame.empty:
        raise UserError(f"{sweep.uri}: no scored trial{' matches --where ' + repr(where) if where else ''}")
    if sweep.objectives and metric is None and then is None:  # several objectives: from the front, by its rule
        from . import front

        pick, reason, best = front.choice(sweep, frame, rule)
        return Choice(frame.loc[pick], reason, best)
    metric = metric or sweep.metric
    _require(frame, metric, sweep)
    values = pd.to_numeric(frame[metric], errors="coerce")
    frame = frame[values.notna()]
    if frame.empty:
        raise UserError(f"{sweep.uri}: no trial reported '{metric}'")
    values = values[frame.index]
    mode = direction(metric, sweep)
    best = values.max() if mode == "max" else values.min()
    best_id = str(values.idxmax() if mode == "max" else values.idxmin())
    label = frame["label"]
    filtered = f" among the trials where {where}" if where else ""
    if then:
        if is_test(then):
            raise UserError(f"--then {then}: the test split is held out and never chooses; name a validation metric")
        _require(frame, then, sweep)
        near = frame[(values - best).abs() <= NEAR_TIE * abs(best)]
        second = pd.to_numeric(near[then], errors="coerce")
        row = near.loc[second.idxmax() if direction(then, sweep) == "max" else second.idxmin()]
        reason = (
            f"{row['label']} (trial {row.name}): {metric} {_v(row[metric])}, within 1% of the best{filtered}, "
            f"and of those the best {then}, {_v(row[then])}"
        )
        return Choice(row, reason, best_id)
    boot = intervals.of(sweep, metric)
    if boot is None or best_id not in boot:
        caveat = f"; no intervals ({intervals.missing(sweep, metric) or f'trial {best_id} has none'})"
        return Choice(
            frame.loc[best_id],
            f"{label[best_id]} (trial {best_id}): {metric} {_v(best)}, the best{filtered}{caveat}",
            best_id,
            caveat=caveat,
        )
    tied = boot.ties(best_id, [str(t) for t in frame.index])
    # best figure first: among equally cheap tied trials the better one is chosen
    tied = [best_id, *sorted(tied[1:], key=lambda t: -values[t] if mode == "max" else values[t])]
    lo, hi = boot.interval(best_id)
    head = f"{label[best_id]} (trial {best_id}): {metric} {_v(best)} [{_v(lo)}, {_v(hi)}], the best{filtered}"
    others = len(tied) - 1
    paired = "95% paired bootstrap interval of the difference includes zero"
    if others == 0:
        return Choice(
            frame.loc[best_id], f"{head}, ahead of every other trial beyond noise (95% paired bootstrap)", best_id, tied
        )
    if ties == "best":
        return Choice(
            frame.loc[best_id],
            f"{head}; {others} other trial(s) statistically tied with it ({paired}); tie-breaking off (--ties best)",
            best_id,
            tied,
        )
    # the one-standard-error rule: a cheaper trial replaces the best only within one standard
    # error of it; a 95 % tie on 60 rows can hide a gap a careful practitioner would not give up
    close = [t for t in tied if t == best_id or abs(values[best_id] - values[t]) <= boot.standard_error(best_id, t)]
    costs, unit = _costs(sweep, close)
    pick = min(close, key=lambda t: (costs[t], close.index(t)))  # equal cost: the better figure
    rule = (
        f"{len(tied)} trials statistically tied ({paired}), {len(close)} of them within one standard error "
        "of the best (the one-standard-error rule)"
    )
    if pick == best_id:
        reason = f"{head}, and the cheapest of the {rule}: {_cost(costs[pick], unit)}"
    else:
        plo, phi = boot.interval(pick)
        reason = (
            f"{label[pick]} (trial {pick}): {metric} {_v(values[pick])} [{_v(plo)}, {_v(phi)}]{filtered}, "
            f"tied with the best, {label[best_id]} ({_v(best)}), and the cheapest of the {rule}: "
            f"{_cost(costs[pick], unit)} against {_cost(costs[best_id], unit, short=True)}"
        )
    return Choice(frame.loc[pick], reason, best_id, tied)


def _costs(sweep: Sweep, trials: list[str]) -> tuple[dict[str, float], str]:
    """What each config costs, whatever epoch it peaked at (a config that peaks early and
    then falls apart is not cheaper for it): the model's size where the registry declares
    it (the product of its capacity keys), else its mean seconds an epoch, else 1 each (the
    better figure decides)."""
    exp = sweep.experiment
    facts = sweep.facts.set_index("trial_id")
    sizes = {t: float(facts.at[t, "capacity"]) for t in trials}
    if exp and exp.capacity and all(not math.isnan(v) for v in sizes.values()):
        return sizes, "capacity " + " x ".join(exp.capacity)
    per_epoch = {
        t: float(np.nanmean(sweep.curve(t, "epoch_seconds"))) if len(sweep.curve(t, "epoch_seconds")) else math.nan
        for t in trials
    }
    if all(not math.isnan(v) for v in per_epoch.values()):
        return per_epoch, "s"
    return {t: 1.0 for t in trials}, "none"


def _cost(value: float, unit: str, short: bool = False) -> str:
    if unit == "s":
        amount = f"{value:.3g} s"
        return amount if short else f"{amount} an epoch (mean epoch_seconds)"
    if unit == "none":
        return "no cost recorded, so the best figure" if not short else "the same"
    return f"{value:g}" if short else f"{unit} = {value:g}"


def _v(value: Any) -> str:
    return fmt_metric(value)


def pareto(sweep: Sweep, metrics: Sequence[str]) -> pd.DataFrame:
    """Trials no other trial beats on every metric, best first on the first metric."""
    frame = candidates(sweep)
    for m in metrics:
        _require(frame, m, sweep)
    # one orientation: larger is better
    scores = pd.DataFrame(
        {m: pd.to_numeric(frame[m], errors="coerce") * (1 if direction(m, sweep) == "max" else -1) for m in metrics}
    ).dropna()
    values = scores.to_numpy()
    keep = [
        i
        for i in range(len(values))
        if not any((values[j] >= values[i]).all() and (values[j] > values[i]).any() for j in range(len(values)))
    ]
    front = frame.loc[scores.index[keep]]
    return front.sort_values(metrics[0], ascending=direction(metrics[0], sweep) == "min")


def chosen_block(sweep: Sweep, trial_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """What ``best`` records beside a config: the trial, its sweep, the epoch its figure
    comes from (its best), that figure, and the digest of ``config`` as written."""
    value = sweep.facts.set_index("trial_id").at[trial_id, "best"]
    block = {
        "trial": str(trial_id),
        "sweep": sweep.name,
        "epoch": sweep.epoch_at_best(trial_id),
        "metric": sweep.metric,
        "value": None if _missing(value) else float(value),
    }
    if sweep.objectives:  # the other objectives at that epoch, which train measures again
        row = candidates(sweep).loc[trial_id]
        block["objectives"] = {m: None if _missing(row.get(m)) else float(row[m]) for m, _ in sweep.objectives[1:]}
    return {**block, "config_sha": chosen.digest(config)}


def config_yaml(sweep: Sweep, trial_id: str, reason: str) -> str:
    """The trial's config as YAML (its keys at the top level, as ``train --config`` reads
    them), with where it came from in comments, and a ``chosen`` block: the epoch to train
    to and the validation figure to check there."""
    config = {k: _unjson(v) for k, v in sweep.config(trial_id).items()}
    block = chosen_block(sweep, trial_id, config)
    head = [f"# chosen by sweeplab from {sweep.uri}", f"# {reason}"]
    experiment = sweep.record.experiment
    if experiment:
        head.append(
            f"# train it: sweeplab train {experiment} --config THIS_FILE "
            f"(to epoch {block['epoch']}, checking {sweep.metric} there)"
        )
    tail = (
        "# the epoch and figure train reproduces; config_sha: the digest of the keys above "
        "(edit them and delete this block)\n"
    )
    return "\n".join(head) + "\n" + spaces.dumps(config) + tail + spaces.dumps({chosen.CHOSEN_KEY: block})


def _missing(v: Any) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


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
