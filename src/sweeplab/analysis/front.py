"""A sweep of several objectives: its Pareto front and the one config ``best`` chooses from
it. Each trial is its values at its best epoch (by the first objective: the epoch whose
weights ``train --config`` reproduces); constraints come first, then the front, then the
space's (or the command's) rule:

- ``one_se``: the best on the first objective, or a front point within one standard error of
  it (the paired bootstrap of the stored predictions; 1 % without them) that is better on
  the next objectives, in order;
- ``knee``: the front point nearest the ideal point once each objective is scaled to the
  front's range;
- ``first``: the best on the first objective.

It also says how sure the front is (:func:`dominated`: a front point another one beats
beyond noise) and how the search got there (:func:`hypervolume_curve`)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import UserError
from ..schema import TIME_TOTAL, TIMESTAMP, TRIAL_ID
from ..search import pareto
from . import intervals
from .formats import fmt_metric
from .load import Sweep
from .tables import Table

RULES = ("one_se", "knee", "first")
NEAR = 0.01  # the first objective's band where the sweep stored no predictions to bootstrap
WIDEN = 0.1  # the hypervolume's reference point: the worst value reached, this share of the range beyond it


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
    """The trials of ``frame`` (select.candidates) by rank, their objectives (each with its
    95 % interval where it is a statistic of the predictions the sweep stored), whether they keep the
    constraints, their front, and where intervals can tell, which front points another
    one statistically dominates (:func:`dominated`)."""
    table = points(sweep, frame)
    boots = {m: intervals.of(sweep, m) for m, _ in sweep.objectives}
    marks = dominated(sweep, table)

    def shown(trial_id: str, metric: str, value: float) -> str:
        boot = boots[metric]
        if boot is None or trial_id not in boot:
            return fmt_metric(value)
        lo, hi = boot.interval(trial_id)
        return f"{fmt_metric(value)} [{fmt_metric(lo)}, {fmt_metric(hi)}]"

    rows = []
    for trial_id, row in table.iterrows():
        kept = "yes" if row["broken"] == 0 else "no"
        front = "-" if math.isnan(row["front"]) else str(int(row["front"]) + 1)
        cells = [
            str(row["label"]),
            str(trial_id),
            *(shown(str(trial_id), m, row[m]) for m, _ in sweep.objectives),
            kept,
            front,
        ]
        if marks.judged:
            cells.append(_mark(marks, table, str(trial_id)))
        rows.append(cells)
    headers = ["Model", "Trial", *(f"{m} ({mode})" for m, mode in sweep.objectives), "Keeps constraints", "Front"]
    if marks.judged:
        headers.append("Statistically dominated")
    note = (
        f"Front 1 is the Pareto front among the trials that keep every constraint "
        f"({'; '.join(sweep.record.constraints) or 'none'}); best first by front, then spread. {marks.note}"
    )
    return Table("Pareto front", headers, rows, note=note)


def _mark(marks: "Dominance", table: pd.DataFrame, trial: str) -> str:
    if trial not in marks.front:
        return "-"
    if trial in marks.unjudged:
        return "not judged (no interval)"
    by = marks.by.get(trial)
    return "yes, by " + ", ".join(f"{table.at[t, 'label']} (trial {t})" for t in by) if by else "no"


# --- how sure the front is ---------------------------------------------------------------


@dataclass
class Dominance:
    """Which front points another front point statistically dominates (``by``: trial -> the
    ones that do), the front points that could not be judged, and one line saying how (or
    why nothing is marked; ``judged`` False)."""

    front: list[str]
    by: dict[str, list[str]] = field(default_factory=dict)
    unjudged: list[str] = field(default_factory=list)
    judged: bool = False
    note: str = ""


def dominated(sweep: Sweep, table: pd.DataFrame) -> Dominance:
    """The front points of ``table`` (:func:`points`) that another front point statistically
    dominates: it is at least as good on every objective, up to noise, and better beyond
    noise on one. "Beyond noise" on an objective that is a statistic of the stored
    predictions is its paired bootstrap (intervals.py): the 95 % interval of the difference
    excludes zero; an objective that is not (a time, a size) is compared as reported. Two
    points of one front differ on some objective, so only noise can make one dominate the
    other: a marked point is on the front by chance, as far as these rows can tell."""
    front = [str(t) for t in table.index[table["front"] == 0]]
    names = [m for m, _ in sweep.objectives]
    boots = {m: intervals.of(sweep, m) for m in names}
    with_boot = {m: b for m, b in boots.items() if b is not None}
    if not with_boot:
        why = intervals.missing(sweep, names[0])
        if why == "sweep stored no predictions":
            why = "the sweep stored no predictions to bootstrap"
        elif why.endswith("is not a statistic of the stored predictions"):
            why = f"none of {', '.join(names)} is a statistic of the stored predictions"
        return Dominance(front, note=f"No front point is marked statistically dominated: {why}.")
    unjudged = [t for t in front if any(t not in b for b in with_boot.values())]
    judged = [t for t in front if t not in unjudged]
    by: dict[str, list[str]] = {}
    for a in judged:
        beaten = []
        for b in judged:
            edges = [_edge(boots[m], table, m, mode, a, b) for m, mode in sweep.objectives]
            if b != a and 1 not in edges and -1 in edges:
                beaten.append(b)
        if beaten:
            by[a] = beaten
    plain = [m for m in names if m not in with_boot]
    how = f"paired bootstrap 95 % intervals of {', '.join(with_boot)}"
    if plain:
        how += f"; {', '.join(plain)} compared as reported, not being a statistic of the stored predictions"
    note = (
        "Statistically dominated: another front point is at least as good on every objective and better on one, "
        f"beyond noise: {how}."
    )
    return Dominance(front, by, unjudged, judged=True, note=note)


def _edge(boot: Optional[intervals.Intervals], table: pd.DataFrame, metric: str, mode: str, a: str, b: str) -> int:
    """1 where ``a`` is better than ``b`` on ``metric`` beyond noise, -1 where worse, 0: tied."""
    if boot is not None:
        _, lo, hi = boot.difference(a, b)
        return 1 if intervals.beats((lo, hi), mode) else -1 if intervals.beats((-hi, -lo), mode) else 0
    x, y = (float(table.at[t, metric]) * (1.0 if mode == "max" else -1.0) for t in (a, b))
    return 1 if x > y else -1 if x < y else 0


# --- how the search got there ------------------------------------------------------------


def in_report_order(history: pd.DataFrame) -> pd.DataFrame:
    """Every reported row in the order the sweep produced it: by wall-clock timestamp
    (whole seconds), ties by each trial's own elapsed time."""
    keys = [c for c in (TIMESTAMP, TIME_TOTAL) if c in history.columns]
    return history.sort_values(keys, kind="stable") if keys else history


def hypervolume_curve(sweep: Sweep) -> pd.DataFrame:
    """The hypervolume of the observed front as the sweep went on: one row per reported row,
    in the order reported, with ``epochs`` (rows reported so far, every trial's), ``seconds``
    and ``hypervolume``.

    Every reported row that keeps the constraints is a point (that epoch's model exists and
    cost that much); the observed front is the non-dominated set of the points reported so
    far, whichever trial reported them, as bench/_sq_mo.py scores a search. Each objective is
    scaled to the range the points reached, from a reference point (the worst value reached,
    ``WIDEN`` of the range beyond it) to the ideal point (the best value reached, on each
    objective at once): 0 is nothing better than the reference, 1 one point as good as the
    best on every objective. ``attrs``: ``reference`` and ``ideal`` (objective -> value, as
    reported), ``seconds`` (what that column counts)."""
    names = [m for m, _ in sweep.objectives]
    h = in_report_order(sweep.history).reset_index(drop=True)
    signs = np.array([1.0 if mode == "max" else -1.0 for _, mode in sweep.objectives])
    raw = np.column_stack([_numbers(h, m) for m in names]) if len(h) else np.empty((0, len(names)))
    ok = np.asarray(np.isfinite(raw).all(axis=1), dtype=bool)
    limits = constraints(sweep)
    if limits:
        columns = [_numbers(h, c.metric) for c in limits]
        ok &= np.array([all(c.kept(float(v)) for c, v in zip(limits, vs)) for vs in zip(*columns)], dtype=bool)
    signed = raw * signs
    reference, ideal = np.zeros(len(names)), np.ones(len(names))
    if ok.any():
        lo, ideal = signed[ok].min(axis=0), signed[ok].max(axis=0)
        span = ideal - lo
        reference = lo - WIDEN * np.where(span > 0, span, np.maximum(np.abs(lo), 1.0))
    scaled = (signed - reference) / (ideal - reference)
    volumes: list[float] = []
    observed: list[tuple[float, ...]] = []  # the observed front so far, scaled
    current = 0.0
    zero = (0.0,) * len(names)
    for i in range(len(h)):
        point = tuple(float(x) for x in scaled[i])
        if ok[i] and not any(all(q >= p for q, p in zip(other, point)) for other in observed):
            observed = [q for q in observed if not pareto.dominates(point, q)] + [point]
            current = pareto.hypervolume(observed, zero)
        volumes.append(current)
    seconds, clock = _seconds(sweep, h)
    out = pd.DataFrame({"epochs": np.arange(1, len(h) + 1), "seconds": seconds, "hypervolume": volumes})
    out.attrs = {
        "reference": {m: float(v) for m, v in zip(names, reference * signs)},
        "ideal": {m: float(v) for m, v in zip(names, ideal * signs)},
        "seconds": clock,
    }
    return out


def reference_text(curve: pd.DataFrame) -> str:
    """The reference point of :func:`hypervolume_curve`'s result, for a caption."""
    values = ", ".join(f"{m} {fmt_metric(v)}" for m, v in curve.attrs.get("reference", {}).items())
    return (
        f"reference point {values} (the worst value reached, widened by {WIDEN:.0%} of the range); 1 = the ideal point"
    )


def _numbers(h: pd.DataFrame, column: str) -> np.ndarray:
    if column not in h.columns:
        return np.full(len(h), math.nan)
    return pd.to_numeric(h[column], errors="coerce").to_numpy(dtype=float)


def _seconds(sweep: Sweep, h: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each row's seconds since the sweep started, by its wall-clock timestamp; where the
    rows carry none, the trial-seconds spent so far (every trial's, summed)."""
    stamps = _numbers(h, TIMESTAMP)
    if len(h) and np.isfinite(stamps).all():
        start = stamps[0] - max(0.0, float(np.nan_to_num(_numbers(h, TIME_TOTAL)[0])))
        try:  # sweep.json's start, where it is before the first report (the same machine's clock)
            started = dt.datetime.fromisoformat(sweep.record.started or "").timestamp()
            start = started if started <= stamps[0] else start
        except ValueError:
            pass
        return stamps - start, "wall-clock seconds since the sweep started"
    total = pd.Series(_numbers(h, TIME_TOTAL), index=h.index).fillna(0.0)
    trials = h[TRIAL_ID] if TRIAL_ID in h.columns else pd.Series("", index=h.index)
    spent = total.groupby(trials).diff().fillna(total).clip(lower=0.0)  # each row's own seconds
    return np.cumsum(spent.to_numpy(dtype=float)), "trial-seconds spent (every trial's, summed; no timestamps)"
