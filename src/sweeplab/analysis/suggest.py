"""The next search space, from what the sweep's trials showed.

Report 002's warning signs and remedies and report 004's troubleshooting rules, as data:
a diagnosis (from the observations) maps to moves of config fields, each with its reason.
A move re-centres a searched parameter on the best trial's value moved that way, or sets a
fixed value; the result is a space file ``sweeplab tune --space`` accepts as it is."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

from .. import files, spaces
from ..config import kinds_of
from ..errors import UserError
from .load import Sweep
from .observe import Observation


@dataclass(frozen=True)
class Move:
    key: str
    factor: float = 1.0  # new = current * factor ...
    step: float = 0.0  # ... + step
    when_zero: Optional[float] = None  # a value for a setting that is off (0): clipping, warmup


# Report 002, "Señales de alerta", with its own numbers: overfitting weight decay 0.05 -> 0.1,
# label smoothing 0.1 -> 0.15, batch 16 -> 12; underfitting LR 1e-4 -> 2e-4, epochs 30 -> 50,
# weight decay 0.05 -> 0.03; instability LR 1e-4 -> 5e-5, warmup 0.1 -> 0.2, clip 1.0 -> 0.5.
# Report 004: MSE no better than predicting zero -> hidden 64 -> 128, more epochs, LR 1e-4..1e-3.
REMEDIES: dict[str, tuple[Move, ...]] = {
    "overfitting": (
        Move("weight_decay", 2.0, when_zero=0.05),
        Move("label_smoothing", step=0.05),
        Move("batch_size", 0.75),
        Move("dropout", step=0.1),
    ),
    "underfitting": (Move("lr", 2.0), Move("epochs", 5 / 3), Move("weight_decay", 0.6)),
    "unstable": (Move("lr", 0.5), Move("warmup_epochs", 2.0, when_zero=1), Move("clip_grad_norm", 0.5, when_zero=1.0)),
    "trivial": (Move("hidden_size", 2.0), Move("hidden_dim", 2.0), Move("units", 2.0), Move("epochs", 5 / 3)),
}
NO_SIGN = "no warning sign: the same space, with the best config as preset previous_best"
REASONS = {
    "overfitting": "overfitting",
    "underfitting": "underfitting",
    "unstable": "instability",
    "trivial": "trivial",
}


@dataclass
class Suggestion:
    raw: dict[str, Any]  # the new space
    changes: list[str]  # "key: old -> new (reason)"

    def yaml(self, source: str) -> str:
        head = [f"# proposed by sweeplab suggest from {source}"]
        head += [f"#   {c}" for c in self.changes] or [f"#   {NO_SIGN}"]
        return "\n".join(head) + "\n" + spaces.dumps(self.raw, allow_unicode=True)


def diagnose(sweep: Sweep, observations: dict[str, list[Observation]]) -> dict[str, str]:
    """Which warning signs the sweep shows, each with the evidence: overfitting or
    underfitting of the best trial, instability of any trial, the best no better than trivial."""
    ranked = sweep.ranked()
    if ranked["best"].notna().sum() == 0:
        raise UserError(f"{sweep.uri}: no trial reported {sweep.metric}; nothing to suggest from")
    best_id, best_label = ranked["trial_id"].iloc[0], ranked["label"].iloc[0]
    found: dict[str, str] = {}
    for o in observations.get(best_id, []):
        if o.code in ("overfitting", "underfitting", "trivial"):
            found[o.code] = f"{best_label}, {o.en}"
    shaky = [(t, o) for t, obs in observations.items() for o in obs if o.code in ("unstable", "diverged")]
    if shaky:
        labels = sweep.facts.set_index("trial_id")["label"]
        found["unstable"] = f"{len(shaky)} trial(s), e.g. {labels[shaky[0][0]]}, {shaky[0][1].en}"
    return found


def config_fields(sweep: Sweep) -> tuple[dict[str, Any], dict[str, Any], Optional[type]]:
    """The sweep's config fields: (defaults, types, the config class or None), from
    sweep.json (files only: the suggested space is then checked as tune checks its
    structure, and its types when tune loads it, before Ray starts); a sweep recorded
    before sweep.json kept them needs its trainable (which imports torch)."""
    fields = sweep.record.config_fields
    if fields:
        return {k: f.get("default") for k, f in fields.items()}, kinds_of(dict(fields)), None
    config_cls = sweep.experiment.load().config if sweep.experiment else None
    if config_cls is None:
        return {}, {}, None
    return ({f.name: f.default for f in dataclasses.fields(config_cls)}, spaces.field_types(config_cls), config_cls)


def suggest(sweep: Sweep, observations: dict[str, list[Observation]]) -> Suggestion:
    if not sweep.record.space:
        raise UserError(f"{sweep.uri}: sweep.json keeps no space file text (a plain Ray Tune sweep?); nothing to edit")
    raw = spaces.loads(sweep.record.space) or {}
    defaults, types, config_cls = config_fields(sweep)
    best_id = sweep.ranked()["trial_id"].iloc[0]
    best = sweep.config(best_id)
    params, fixed = dict(raw.get("parameters") or {}), dict(raw.get("fixed") or {})
    # the sweep ran with its command line's pins (--set data=..., --smoke): so does the next
    pins = sweep.record.pins
    for key, value in pins.items():
        params.pop(key, None)
        fixed[key] = value
        for preset in (raw.get("presets") or {}).values():
            if isinstance(preset, dict):
                preset.pop(key, None)
    changes: list[str] = []
    done: set[str] = set()
    for sign, evidence in diagnose(sweep, observations).items():
        for move in REMEDIES[sign]:
            if move.key in done or (types and move.key not in types):
                continue
            current = best.get(move.key, fixed.get(move.key, defaults.get(move.key)))
            if not isinstance(current, (int, float)) or isinstance(current, bool):
                continue
            new = _moved(current, move, types.get(move.key))
            if new == current:
                continue
            if move.key in params:
                params[move.key] = _recentre(params[move.key], current, new)
                changes.append(
                    f"{move.key}: searched around {_s(new)} instead of {_s(current)} ({REASONS[sign]}: {evidence})"
                )
            else:
                fixed[move.key] = new
                changes.append(f"{move.key}: {_s(current)} -> {_s(new)} ({REASONS[sign]}: {evidence})")
            done.add(move.key)
    raw["parameters"], raw["fixed"] = params, fixed
    presets = {
        name: values
        for name, values in (raw.get("presets") or {}).items()
        if all(_inside(params.get(k), v) for k, v in values.items() if k in params)
    }
    raw["presets"] = presets
    # the next sweep starts from the best so far (its values for what was searched, less
    # what the command line pinned), where that is a point of the new space
    searched = {k: _plain(best[k]) for k in params if k in best and k not in pins}
    if searched and searched not in presets.values():
        try:
            _check({**raw, "presets": {"previous_best": searched, **presets}}, sweep, config_cls, defaults)
            raw["presets"] = {"previous_best": searched, **presets}
        except UserError:
            changes.append("previous_best: not added, the best config lies outside the new space")
    _check(raw, sweep, config_cls, defaults)
    return Suggestion(raw, changes)


def warm_flag(proposal: Suggestion, sweep: Sweep) -> str:
    """`` --warm-start SWEEP`` where the proposed space's search learns from earlier sweeps
    (rung_tpe): the next sweep starts from what this one measured, not from random configs."""
    import shlex

    search = proposal.raw.get("search") or spaces.METHODS.get(proposal.raw.get("method", "random"))
    return f" --warm-start {shlex.quote(files.shown(sweep.uri))}" if search == "rung_tpe" else ""


def _moved(current: float, move: Move, tp: Any) -> float:
    if current == 0 and move.when_zero is not None:
        new = move.when_zero
    else:
        new = current * move.factor + move.step
    if tp is int or isinstance(current, int) and not isinstance(current, bool) and tp is None:
        return max(1, int(round(new)))
    return float(f"{new:.4g}")


def _recentre(param: Any, current: float, new: float) -> Any:
    """A searched parameter moved to ``new``: a list of values becomes the values around
    it; a range keeps its width (as a ratio for log scales) around it."""
    if not isinstance(param, dict):
        return param
    if "values" in param:
        values = sorted({v for v in param["values"] if isinstance(v, (int, float))})
        up = new > current
        kept = [v for v in values if (v >= current if up else v <= current)]
        out = sorted({*kept, new})
        return {**param, "values": [_plain(v) for v in out]}
    if "min" in param and "max" in param:
        lo, hi = float(param["min"]), float(param["max"])
        log = "log" in str(param.get("distribution", ""))
        if log and lo > 0:
            ratio = math.sqrt(hi / lo)
            lo, hi = new / ratio, new * ratio
        else:
            half = (hi - lo) / 2
            lo, hi = max(0.0, new - half) if lo >= 0 else new - half, new + half
        integer = isinstance(param["min"], int) and isinstance(param["max"], int)
        return {
            **param,
            "min": int(round(lo)) if integer else float(f"{lo:.4g}"),
            "max": int(round(hi)) if integer else float(f"{hi:.4g}"),
        }
    return param


def _inside(param: Any, value: Any) -> bool:
    if not isinstance(param, dict):
        return True
    if "values" in param:
        return value in param["values"]
    if "min" in param and "max" in param and isinstance(value, (int, float)):
        return float(param["min"]) <= value <= float(param["max"])
    return True


def _check(raw: dict, sweep: Sweep, config_cls: Optional[type], defaults: dict[str, Any]) -> None:
    """The proposal must load as a space: the same validation ``sweeplab tune`` runs."""
    text = spaces.dumps(raw)
    spec = spaces.parse(raw, "suggested space", text, config_cls, sweep.record.experiment, defaults)
    spec.preset_configs()


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _s(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
