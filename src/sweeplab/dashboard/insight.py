"""How the search got where it did, from a sweep's files: the scheduler's decisions, each
parameter's importance, parallel coordinates, best so far against compute (with random
search's expectation on the same budget), and several sweeps side by side. Plain JSON-ready
dicts, cached by the catalog until the store changes (dashboard/data.py)."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from .. import store
from ..analysis import front, load, select
from ..errors import UserError
from ..schema import TRIAL_ID, Status, config_column

MIN_IMPORTANCE_TRIALS = 4  # below this, an importance says nothing


def _num(v: Any) -> Optional[float]:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def jsonable(v: Any) -> Any:
    """NaN and inf have no JSON: null. numpy scalars become Python ones."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    return v


# ------------------------------------------------------------------ decisions


def _recorded(sweep: load.Sweep) -> Optional[pd.DataFrame]:
    path = store.join(sweep.uri, store.DECISIONS)
    if not store.exists(path):
        return None
    frame = store.read_frame(path)
    return frame if len(frame) else None


def decisions(sweep: load.Sweep) -> dict[str, Any]:
    """Every scheduler decision, rung by rung: the trial, the epoch, continue / pause /
    promote / stop, its score then, its rank among the rung's scores, how many the rung had
    and its cutoff. From decisions.parquet where the scheduler recorded them (promotion
    ASHA records the rung's count, cutoff and best scores); else derived from the trials'
    iterations and statuses (where each stopped or paused, against what the others had
    reported at that epoch)."""
    labels = dict(zip(sweep.facts["trial_id"], sweep.facts["label"]))
    high = sweep.mode == "max"
    by_epoch: dict[int, dict[str, float]] = {}  # epoch -> trial -> its score then
    for t, it, v in zip(sweep.history[TRIAL_ID], sweep.history[load.ITER], sweep.history[sweep.metric]):
        if _num(v) is not None:
            by_epoch.setdefault(int(it), {})[t] = float(v)
    frame = _recorded(sweep)
    rows = []
    if frame is not None:
        for r in frame.to_dict("records"):
            try:
                seen = json.loads(r.get("scores") or "{}")
            except ValueError:
                seen = {}
            top = {k: float(v) for k, v in (seen.get("top") or {}).items() if _num(v) is not None}
            trial, epoch = str(r[TRIAL_ID]), int(r["epoch"])
            score = by_epoch.get(epoch, {}).get(trial, top.get(trial))
            rows.append(
                _decision(
                    trial,
                    int(r["rung"]),
                    epoch,
                    str(r["action"]),
                    score,
                    top,
                    high,
                    labels,
                    n=seen.get("n"),
                    cutoff=_num(seen.get("cutoff")),
                    at=r.get("at"),
                    reason=seen.get("reason") if isinstance(seen.get("reason"), str) else None,
                )
            )
    else:
        for _, f in sweep.facts.iterrows():
            paused = f["status"] == Status.PAUSED
            if bool(f["scheduler_stopped"]) or paused:
                epoch, trial = int(f["iterations"]), f["trial_id"]
                scores = by_epoch.get(epoch, {})
                rows.append(
                    _decision(
                        trial,
                        epoch,
                        epoch,
                        "pause" if paused else "stop",
                        scores.get(trial),
                        scores,
                        high,
                        labels,
                        n=len(scores),
                    )
                )
    return {
        "source": "recorded" if frame is not None else "derived",
        "metric": sweep.metric,
        "mode": sweep.mode,
        "rungs": sorted({r["rung"] for r in rows}),
        "decisions": rows,
        "scheduler": sweep.record.scheduler.name if sweep.record.scheduler else None,
        "lineage": lineage(sweep),
        "note": None
        if frame is not None
        else "derived from the trials' iterations and statuses: this scheduler does not record its decisions",
    }


def _decision(
    trial_id: str,
    rung: int,
    epoch: int,
    action: str,
    score: Optional[float],
    scores: dict[str, float],
    high: bool,
    labels: dict[str, str],
    n: Any = None,
    cutoff: Optional[float] = None,
    at: Any = None,
    reason: Optional[str] = None,
) -> dict[str, Any]:
    """``scores``: the rung's scores known then (all, or its best few); ``rank`` is the
    trial's place among them, None when it was not among the few; ``reason``: why a paused
    trial waits, in words (the scheduler's code: promotion.FEW / ROOM / BELOW)."""
    ranked = sorted(scores.values(), reverse=high)
    rank = ranked.index(score) + 1 if score is not None and score in ranked else None
    return {
        "trial_id": trial_id,
        "label": labels.get(trial_id, trial_id),
        "rung": rung,
        "epoch": epoch,
        "action": action,
        "score": jsonable(score),
        "rank": rank,
        "of": int(n) if _num(n) is not None else len(scores),
        "cutoff": jsonable(cutoff),
        "at": jsonable(at),
        "reason": reason,
        "why": WHY.get(reason or ""),
    }


# why a trial waits at a rung, as the decisions grid says it (promotion.py's reasons)
WHY = {
    "few_scores": "waits: the rung has fewer scores than it needs to promote any",
    "no_room": "waits: good enough to go on, but the rung's promotions (one in eta of its scores) went to "
    "trials before it (presets always go on)",
    "below_cutoff": "waits: below the rung's cutoff",
}


PBT_LOG = "pbt_global.txt"  # Ray's PBT: one JSON list a line per exploit, in the experiment folder


def lineage(sweep: load.Sweep) -> Optional[list[dict[str, Any]]]:
    """PBT's exploits from Ray's own log of them (``pbt_global.txt``: target trial, donor
    trial, their iterations, the donor's config, the new config): who copied whom when, and
    the values the mutation changed. None where the sweep has no such log."""
    path = store.join(sweep.uri, PBT_LOG)
    if not store.exists(path):
        return None
    ids = list(sweep.facts["trial_id"])
    labels = dict(zip(sweep.facts["trial_id"], sweep.facts["label"]))

    def trial_of(name: Any) -> str:
        """Ray logs a trial by its experiment tag: its index in creation order ("3", or
        "3_lr=..."), which ends the trial id ("..._00003")."""
        name = str(name)
        index = name.split("_", 1)[0]
        if index.isdigit():
            return next((t for t in ids if t.endswith(f"_{int(index):05d}")), name)
        return next((t for t in ids if t in name), name)

    out = []
    for line in store.read_bytes(path).decode("utf-8", "replace").splitlines():
        try:
            target, donor, it, donor_it, old, new = json.loads(line)
        except ValueError:  # a line cut short by a killed driver
            continue
        changed = {
            k: [jsonable(old.get(k)), jsonable(v)] for k, v in new.items() if isinstance(old, dict) and old.get(k) != v
        }
        t, d = trial_of(target), trial_of(donor)
        out.append(
            {
                "trial_id": t,
                "label": labels.get(t, t),
                "from": d,
                "from_label": labels.get(d, d),
                "iteration": int(it),
                "from_iteration": int(donor_it),
                "changed": changed,
            }
        )
    return out


# ------------------------------------------------------------------ importance


def _space(sweep: load.Sweep) -> dict[str, Any]:
    from .. import spaces

    try:
        raw = spaces.loads(sweep.record.space or "") or {}
    except Exception:  # an old or hand-made sweep.json: fall back to what the values show
        return {}
    params = raw.get("parameters") if isinstance(raw, dict) else None
    return params if isinstance(params, dict) else {}


def log_scaled(sweep: load.Sweep) -> dict[str, bool]:
    """Parameter -> whether the space searched it on a log scale (W&B's *log* distributions,
    Tune's loguniform); values without a space entry: log where positive and spanning >= 20x."""
    space = _space(sweep)
    out = {}
    for p in sweep.params:
        entry = space.get(p)
        if isinstance(entry, dict) and "distribution" in entry:
            out[p] = "log" in str(entry["distribution"])
            continue
        values = [v for v in (_num(x) for x in sweep.trials.get(config_column(p), [])) if v is not None]
        out[p] = bool(values) and min(values) > 0 and max(values) / min(values) >= 20 and _numeric(sweep, p)
    return out


def _numeric(sweep: load.Sweep, param: str) -> bool:
    col = sweep.trials.get(config_column(param))
    return col is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col.dropna())


def importance(sweep: load.Sweep) -> dict[str, Any]:
    """Each searched parameter's importance for the sweep metric (each trial's best), by
    Optuna's PED-ANOVA evaluator on the stored trials (a study built from them: no live
    study needed); the method is named in the answer."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    method = "PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator), on each trial's best value"
    scored = sweep.facts[sweep.facts["best"].notna()]
    params = list(sweep.params)
    base = {"method": method, "metric": sweep.metric, "trials": int(len(scored)), "params": params}
    if len(params) < 1 or len(scored) < MIN_IMPORTANCE_TRIALS:
        return {
            **base,
            "importances": {},
            "note": f"needs at least {MIN_IMPORTANCE_TRIALS} scored trials and one searched parameter",
        }
    logs = log_scaled(sweep)
    dists: dict[str, BaseDistribution] = {}
    for p in params:
        values = [sweep.config(t).get(p) for t in scored["trial_id"]]
        # a trial without the parameter has None
        numbers = [float(v) for v in values if v is not None] if _numeric(sweep, p) else []
        if len(set(numbers)) > 1:
            lo, hi = min(numbers), max(numbers)
            dists[p] = FloatDistribution(lo, hi, log=logs.get(p, False) and lo > 0)
        else:
            dists[p] = CategoricalDistribution(sorted({str(v) for v in values}))
    trials = []
    for tid, value in zip(scored["trial_id"], scored["best"]):
        config = sweep.config(tid)
        chosen = {
            p: (float(config[p]) if isinstance(dists[p], FloatDistribution) else str(config.get(p)))
            for p in params
            if p in config
        }
        if len(chosen) == len(params):
            trials.append(optuna.trial.create_trial(params=chosen, distributions=dists, value=float(value)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if sweep.mode == "max" else "minimize")
    study.add_trials(trials)
    try:
        found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(), normalize=True)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return {**base, "importances": {}, "note": f"cannot be computed: {e}"}
    return {**base, "importances": {p: float(v) for p, v in found.items()}}


# ------------------------------------------------------------------ parallel coordinates


def parallel(sweep: load.Sweep) -> dict[str, Any]:
    """One axis per searched parameter (log axes for log-scaled ones, categories as
    indices) and the metric; one line per trial with a score."""
    scored = sweep.facts[sweep.facts["best"].notna()]
    logs = log_scaled(sweep)
    axes = []
    for p in sweep.params:
        values = [sweep.config(t).get(p) for t in scored["trial_id"]]
        if _numeric(sweep, p):
            axes.append({"name": p, "log": bool(logs.get(p)), "values": [jsonable(v) for v in values]})
        else:
            cats = sorted({str(v) for v in values})
            axes.append({"name": p, "log": False, "categories": cats, "values": [cats.index(str(v)) for v in values]})
    return {
        "metric": sweep.metric,
        "mode": sweep.mode,
        "axes": axes,
        "metric_values": [jsonable(v) for v in scored["best"]],
        "labels": list(scored["label"]),
    }


# ------------------------------------------------------------------ best so far against compute


def _ordered_history(sweep: load.Sweep) -> pd.DataFrame:
    return front.in_report_order(sweep.history)


def expected_best_of(values: np.ndarray, k: int, better_high: bool) -> Optional[float]:
    """E[best of k draws with replacement] from the empirical distribution of ``values``."""
    if k < 1 or not len(values):
        return None
    v = np.sort(values) if better_high else -np.sort(-values)  # ascending in "goodness"
    n = len(v)
    i = np.arange(1, n + 1)
    weights = (i / n) ** k - ((i - 1) / n) ** k
    return float(np.sum(v * weights))


def full_length_values(sweep: load.Sweep) -> tuple[np.ndarray, np.ndarray, int]:
    """Every config the sweep trained, as random search would have trained it (to its own
    budget): (values, budgets, how many of them extended). A trial that reached its budget
    gives its best value; one cut at epoch i gives its best up to i plus the median gain the
    trials that went on to their budget made from epoch i to their end (the same budget where
    any reached it). A cut trial with no such trial to learn from is left out."""
    high = sweep.mode == "max"
    f = sweep.facts[sweep.facts["best"].notna() & (sweep.facts["iterations"] > 0)]
    f = f[f["measured_in"].isna()] if "measured_in" in f else f  # another sweep's figures: not trained here
    complete, cut = f[~f["cut_early"]], f[f["cut_early"]]

    def running_best(trial_id: str) -> dict[int, float]:
        its = np.asarray(sweep.curve(trial_id, load.ITER), dtype=int)
        vals = pd.to_numeric(pd.Series(sweep.curve(trial_id, sweep.metric)), errors="coerce").to_numpy(dtype=float)
        order = np.argsort(its, kind="stable")
        vals = np.where(np.isfinite(vals[order]), vals[order], -np.inf if high else np.inf)
        best = np.maximum.accumulate(vals) if high else np.minimum.accumulate(vals)
        return {int(i): float(b) for i, b in zip(its[order], best) if np.isfinite(b)}

    curves = {t: running_best(t) for t in complete["trial_id"]}
    gains: dict[tuple[int, int], Optional[float]] = {}  # (epoch cut at, budget) -> the median gain

    def median_gain(epoch: int, budget: int) -> Optional[float]:
        if (epoch, budget) not in gains:
            went_on = complete[complete["iterations"] > epoch]
            same = went_on[went_on["budget"] == budget]
            donors = same if len(same) else went_on
            seen = [b - curves[t][epoch] for t, b in zip(donors["trial_id"], donors["best"]) if epoch in curves[t]]
            gains[(epoch, budget)] = float(np.median(seen)) if seen else None
        return gains[(epoch, budget)]

    values = complete["best"].astype(float).tolist()
    budgets = complete["iterations"].astype(int).tolist()
    for best, epoch, budget in zip(cut["best"], cut["iterations"], cut["budget"]):
        gain = median_gain(int(epoch), int(budget))
        if gain is not None:
            values.append(float(best) + gain)
            budgets.append(int(budget))
    extended = len(values) - len(complete)
    return np.array(values, dtype=float), np.array(budgets, dtype=float), extended


def best_so_far(sweep: load.Sweep) -> dict[str, Any]:
    """The best value seen against epochs spent and trial-hours spent, and what random search
    would be expected to reach on the same epochs: the expected best of (epochs spent / a
    config's mean budget) draws from every config the sweep trained, each as if trained to
    its budget (``full_length_values``), where at least three configs reached their budget.
    A model-based search proposes better configs than random draws, so the estimate still
    favours random search."""
    h = _ordered_history(sweep)
    metric, high = sweep.metric, sweep.mode == "max"
    values = pd.to_numeric(h[metric], errors="coerce").to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, -np.inf if high else np.inf)
    best = np.maximum.accumulate(values) if high else np.minimum.accumulate(values)
    secs = pd.to_numeric(h.get("time_this_iter_s", pd.Series(0.0, index=h.index)), errors="coerce").fillna(0.0)
    hours = np.cumsum(secs.to_numpy(dtype=float)) / 3600
    epochs = np.arange(1, len(h) + 1)
    random = None
    finals, budgets, extended = full_length_values(sweep) if len(sweep.facts) else (np.array([]), np.array([]), 0)
    if len(finals) - extended >= 3:
        a_config = float(budgets.mean())
        draws = (epochs / a_config).astype(int)  # configs random search could have trained by then
        expected = {int(k): expected_best_of(finals, int(k), high) for k in np.unique(draws)}
        random = {
            "from_trials": int(len(finals)),
            "extended": int(extended),
            "epochs_a_trial": round(a_config, 2),
            "values": [expected[int(k)] for k in draws],
        }
    return {
        "metric": metric,
        "mode": sweep.mode,
        "epochs": epochs.tolist(),
        "trial_hours": hours.tolist(),
        "best": [jsonable(v) for v in best],
        "random": random,
    }


# ------------------------------------------------------------------ compare


def compare(sweeps: dict[str, load.Sweep]) -> dict[str, Any]:
    """Several sweeps of one experiment side by side: each one's best-so-far curve, chosen
    config and trials (best first)."""
    experiments = {s.record.experiment or s.record.trainable for s in sweeps.values()}
    if len(experiments) > 1:
        raise UserError(
            f"compare: these sweeps are of different experiments ({', '.join(sorted(map(str, experiments)))})"
        )
    metrics = {(s.metric, s.mode) for s in sweeps.values()}
    if len(metrics) > 1:
        raise UserError("compare: these sweeps optimise different metrics")
    out = []
    for sweep_id, s in sweeps.items():
        chosen = None
        if s.facts["best"].notna().any():
            pick = select.choose(s)
            chosen = {
                "trial_id": pick.name,
                "label": pick["label"],
                "value": jsonable(pick[s.metric]),
                "config": {k: jsonable(v) for k, v in s.config(pick.name).items()},
            }
        ranked = s.ranked()
        out.append(
            {
                "id": sweep_id,
                "name": s.name,
                "scheduler": s.record.scheduler.name if s.record.scheduler else None,
                "searcher": s.record.searcher,
                "started": s.record.started,
                "curve": best_so_far(s),
                "chosen": chosen,
                "trials": [
                    {
                        "label": r["label"],
                        "best": jsonable(r["best"]),
                        "iterations": int(r["iterations"]),
                        "status": jsonable(r["status"]),
                    }
                    for _, r in ranked.iterrows()
                ],
            }
        )
    metric, mode = next(iter(metrics))
    return {"metric": metric, "mode": mode, "sweeps": out}
