"""A sweep of several objectives: its Pareto front and the one config ``best`` chooses from
it. Each trial is its values at its best epoch (by the first objective: the epoch whose
weights ``train --config`` reproduces); constraints come first, then the front, then the
space's (or the command's) rule:

- ``one_se``: the best on the first objective, or a front point within one standard error of
  it (the paired bootstrap of the stored predictions; 1 % without them) that is better on
  the next objectives, in order;
- ``knee``: the front point nearest the ideal point once each objective is scaled to the
  front's range;
- ``first``: the best on the first objective."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import UserError
from ..search import pareto
from . import intervals
from .formats import fmt_metric
from .load import Sweep
from .tables import Table

RULES = ("one_se", "knee", "first")
NEAR = 0.01  # the first objective's band where the sweep stored no predictions to bootstrap


def constraints(sweep: Sweep) -> list[pareto.Constraint]:
    return [pareto.parse_constraint(text) for text in sweep.record.constraints]


def points(sweep: Sweep, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial of ``frame`` (select.candidates: each trial at its best epoch): its
    objectives, how far it breaks the constraints, and its front (0: the Pareto front among
    the trials that keep every constraint; a breaker has none), best first."""
    names = [m for m, _ in sweep.objectives]
    missing = [m for m in names if m not in frame.columns]
    if missing:
        raise UserError(f"{sweep.uri}: no trial reported {', '.join(missing)} (an objective of this sweep)")
    values = frame[names].apply(pd.to_numeric, errors="coerce")
    limits = constraints(sweep)
    broken = [
        pareto.violation({k: float(v) for k, v in row.items() if isinstance(v, (int, float))}, limits)
        for _, row in frame.apply(pd.to_numeric, errors="coerce").iterrows()
    ]
    signed = [
        [(1.0 if mode == "max" else -1.0) * float(row[m]) for m, mode in sweep.objectives]
        for _, row in values.iterrows()
    ]
    out = frame[["label", *names]].copy()
    out["broken"] = broken
    out["front"] = math.nan
    kept = [i for i, b in enumerate(broken) if b == 0]
    for n, front in enumerate(pareto.fronts([signed[i] for i in kept])):
        for j in front:
            out.iloc[kept[j], out.columns.get_loc("front")] = n
    order = pareto.rank(signed, broken)
    return out.iloc[order]


def choice(sweep: Sweep, frame: pd.DataFrame, rule: Optional[str] = None) -> tuple[str, str, str]:
    """The trial ``best`` takes from a sweep of several objectives among ``frame``'s
    (select.candidates, filtered): (its id, why, the best on the first objective)."""
    rule = rule or sweep.record.choose or RULES[0]
    if rule not in RULES:
        raise UserError(f"--rule {rule!r}: one of {', '.join(RULES)}")
    table = points(sweep, frame)
    names = [m for m, _ in sweep.objectives]
    kept = table[table["broken"] == 0]
    limits = constraints(sweep)
    if kept.empty:  # nothing keeps them all: the one that breaks them least, said so
        pick = str(table.index[0])
        why = f"no trial keeps every constraint ({'; '.join(map(str, limits))}); the one that breaks them least"
        return pick, _sentence(sweep, table, pick, why), pick
    front = kept[kept["front"] == 0]
    first, mode = sweep.objectives[0]
    sign = 1.0 if mode == "max" else -1.0
    best = str((front[first] * sign).idxmax())
    if rule == "first":
        pick, why = best, f"the best {first} on the front"
    elif rule == "knee":
        pick, why = (
            _knee(front, sweep),
            "the front's knee (nearest the ideal point, each objective scaled to the front)",
        )
    else:
        pick, why = _one_se(sweep, front, best)
    kept_note = f", {len(kept)} of {len(table)} trials keep {'; '.join(map(str, limits))}" if limits else ""
    count = f"{len(front)} trial{'s' if len(front) != 1 else ''}"
    head = f"on the Pareto front of {', '.join(names)} ({count}{kept_note}); {why}"
    return pick, _sentence(sweep, table, pick, head), best


def _one_se(sweep: Sweep, front: pd.DataFrame, best: str) -> tuple[str, str]:
    first, mode = sweep.objectives[0]
    boot = intervals.of(sweep, first)
    if boot is not None and best in boot:
        band = {t: boot.standard_error(best, str(t)) for t in front.index if str(t) in boot}
        how = "one standard error (paired bootstrap)"
    else:
        band = {t: NEAR * abs(front.at[best, first]) for t in front.index}
        how = f"{NEAR:.0%} (no stored predictions to bootstrap)"
    close = [t for t in front.index if t in band and abs(front.at[t, first] - front.at[best, first]) <= band[t]]
    rest = sweep.objectives[1:]

    keys = {t: tuple((-1.0 if m_mode == "max" else 1.0) * float(front.at[t, m]) for m, m_mode in rest) for t in close}
    pick = str(min(close, key=lambda t: (keys[t], t != best)))
    if pick == best:
        return pick, f"the best {first}, and no front point within {how} of it is better on {rest[0][0]}"
    return (
        pick,
        f"within {how} of the best {first} ({fmt_metric(front.at[best, first])}), the best on "
        + ", then ".join(m for m, _ in rest),
    )


def _knee(front: pd.DataFrame, sweep: Sweep) -> str:
    scaled = []
    for m, mode in sweep.objectives:
        v = front[m].astype(float) * (1.0 if mode == "max" else -1.0)
        span = v.max() - v.min()
        scaled.append((v - v.min()) / span if span > 0 else pd.Series(1.0, index=v.index))
    distance = np.sqrt(sum((1.0 - s) ** 2 for s in scaled))
    return str(distance.idxmin())


def _sentence(sweep: Sweep, table: pd.DataFrame, pick: str, why: str) -> str:
    values = ", ".join(f"{m} {fmt_metric(table.at[pick, m])}" for m, _ in sweep.objectives)
    return f"{table.at[pick, 'label']} (trial {pick}): {values}, {why}"


def front_table(sweep: Sweep, frame: pd.DataFrame) -> Table:
    """The trials of ``frame`` (select.candidates) by rank, their objectives (the first with
    its 95 % interval where the sweep stored predictions), whether they keep the
    constraints, and their front."""
    table = points(sweep, frame)
    first = sweep.objectives[0][0]
    boot = intervals.of(sweep, first)
    rows = []
    for trial_id, row in table.iterrows():
        value = fmt_metric(row[first])
        if boot is not None and str(trial_id) in boot:
            lo, hi = boot.interval(str(trial_id))
            value += f" [{fmt_metric(lo)}, {fmt_metric(hi)}]"
        kept = "yes" if row["broken"] == 0 else "no"
        front = "-" if math.isnan(row["front"]) else str(int(row["front"]) + 1)
        rows.append(
            [
                str(row["label"]),
                str(trial_id),
                value,
                *(fmt_metric(row[m]) for m, _ in sweep.objectives[1:]),
                kept,
                front,
            ]
        )
    headers = ["Model", "Trial", *(f"{m} ({mode})" for m, mode in sweep.objectives), "Keeps constraints", "Front"]
    note = (
        f"Front 1 is the Pareto front among the trials that keep every constraint "
        f"({'; '.join(sweep.record.constraints) or 'none'}); best first by front, then spread."
    )
    return Table("Pareto front", headers, rows, note=note)
